"""Fault tests run against a PostgreSQL cluster and a Redis of their own (free loopback ports), so
they can stop and restart them without touching the machine's shared services.

The cluster is created once per run (`andon migrate` migrates a template database); each test
gets a copy of that database, a fresh Redis key prefix, two `andon serve` processes and one
`andon worker` (`tests.support.fault_stack`), all stopped by PID when the test ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
import pytest_asyncio

from tests.support.clients import Api, User
from tests.support.fault_checker import CheckerClient
from tests.support.fault_stack import FaultStack, PrivateServices, fault_stack, private_services

__all__ = ["FaultStack", "Room", "room_with_clients"]


@pytest.fixture(scope="session")
def fault_services() -> Iterator[PrivateServices]:
    with private_services() as services:
        yield services


@pytest.fixture
def stack(fault_services: PrivateServices, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    with fault_stack(fault_services, tmp_path_factory.mktemp("andon-faults")) as running:
        yield running


@pytest.fixture
def one_thread_stack(
    fault_services: PrivateServices, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FaultStack]:
    """A worker with one thread: when its push hangs, no other push is on the wire."""
    with fault_stack(fault_services, tmp_path_factory.mktemp("andon-faults"), worker_concurrency=1) as running:
        yield running


@pytest_asyncio.fixture
async def api(stack: FaultStack) -> AsyncIterator[Api]:
    client = Api(stack.servers[0].base_url, stack.database_url)
    try:
        yield client
    finally:
        await client.aclose()


@dataclass
class Room:
    room_id: str
    users: list[User]
    clients: list[CheckerClient]


async def room_with_clients(api: Api, stack: FaultStack, count: int) -> Room:
    """A room of `count` editors, each with a checker client; homes alternate between servers."""
    owner = await api.user("owner")
    users = [owner] + [await api.user(f"u{i}") for i in range(1, count)]
    room_id = await api.room_with(owner, *((u, "EDITOR") for u in users[1:]))
    ack_times: dict[int, float] = {}
    clients = [
        CheckerClient(f"c{i}", user, room_id, stack.ws_bases, home=i, ack_times=ack_times)
        for i, user in enumerate(users)
    ]
    return Room(room_id, users, clients)


@pytest_asyncio.fixture
async def one_thread_api(one_thread_stack: FaultStack) -> AsyncIterator[Api]:
    client = Api(one_thread_stack.servers[0].base_url, one_thread_stack.database_url)
    try:
        yield client
    finally:
        await client.aclose()
