"""Infrastructure shared by every context: settings, the database and Redis, errors, metrics.

Imports no other part of `api.domain`: it is the bottom layer (see pyproject.toml's contracts).
Modules are the public face: `settings`, `db`, `redis_pool`, `bus`, `services`, `errors`,
`metrics`, `models`, `timefmt`, `jsonsafe`, `rate_limit`, `procs`.
"""
