#!/usr/bin/env bash
# Install everything and run the whole test suite: lint, types, import rules, the web client's
# build and tests, and the Python tests against real PostgreSQL and Redis (this machine's at
# 127.0.0.1:5432/6379, or embedded ones started by the tests when none runs).
# Extra arguments go to pytest (e.g. scripts/test.sh -k ordering).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
[ -d .venv ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q -e ".[dev,s3]"

echo "== web client: install, type-check, build, unit tests"
(cd webclient && npm ci --no-audit --no-fund --loglevel=error && npm run build && npm test)

echo "== ruff, mypy, import rules"
ruff check .
mypy api workers search
lint-imports

echo "== pytest"
python -m pytest "$@"
