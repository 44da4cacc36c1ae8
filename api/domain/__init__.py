"""The framework-free core shared by the API and the workers, grouped by context.

    core/         infrastructure every context uses: settings, db (engine, unit of work),
                  redis_pool, bus, services (the `Services` handles), errors, metrics, models,
                  timefmt, jsonsafe, rate_limit, procs
    auth/         sign-in and tokens (sessions), credentials, users, access (`access_*` checks)
    outbox/       the transactional outbox: writing rows, job names, job state, the relay
    events.py     every frame the server sends, as a typed struct, and its encoder
    messages/     validate, send, batch, read, changes (edit, delete, react, history),
                  sequencing, queries
    rooms/        rooms and members (manage), room-list summaries
    push/         Web Push: endpoints, subscriptions, prefs, planning, deliveries, vapid
    reports/      incident reports (HTML, PDF, Markdown, CSV, JSON) of a room
    audit.py      the hash-chained audit log
    files.py      uploads
    presence.py   who is online and focused (Redis only)
    search_support.py  what searching needs from the database

The allowed direction is written down as import-linter contracts in pyproject.toml: `core` at
the bottom; `auth`, `outbox` and `events` above it; `messages` above those; rooms, push, audit,
files, presence and search support above them, independent of each other; reports on top.
Inside a context, modules import their siblings; across contexts, a package's face (its
`__init__`) or its named modules.
"""
