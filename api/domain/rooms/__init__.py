"""Incident rooms: creating and updating them, members and roles, read markers, room lists.

`manage` (rooms and read markers), `members` (members and roles), `system_posts` (the system
messages a change posts) and `summaries` (what a room list shows: unread counts, mentions, the
newest message). May import `core`, `auth`, `events` and `messages` (system messages take
sequence numbers like any other).
"""
