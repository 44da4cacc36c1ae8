"""Chat messages: validating and sending them, reading history, editing, deleting, reacting.

`validate` (a client's message frame), `send` (the per-room writer), `batch` (the steps of one
batch's transaction), `read` (history and message objects), `changes` (edit, delete, react,
version history), `sequencing` (per-room sequence numbers), `queries` (mentions, incident-data
series), `opening` (a room socket's sign-in, access check and first replay page in one
statement). May import `core`, `auth`, `outbox` and `events`.
"""
