"""Who is asking and what they may see: sign-in and tokens, credentials, users, room access.

`sessions` (AuthUser, sign-in, token checks, revocation), `credentials` (passwords and token
digests), `users` (tr_users), `access` (`access_room` and the role checks). May import `core`.
"""
