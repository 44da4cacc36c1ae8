"""The report tests run on a server and a worker of their own (the worker writes the audit
chain that the report verifies): the worker tests' stack, reused."""

from tests.workers.conftest import client, pg, stack

__all__ = ["client", "pg", "stack"]
