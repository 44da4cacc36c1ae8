"""Web Push on the domain side: subscriptions, preferences, planning and the deliveries' store.

`endpoints` (SSRF rules and key checks), `subscriptions`, `prefs`, `planning` (who is pushed for
new messages, and the payload), `deliveries` (claim and record one planned push; the HTTP send
itself is `workers.webpush`), `vapid` (the server's key pair), `urgent` (urgent pages:
acknowledgements, the room's paging settings, and the rounds the workers run; docs/alerts.md).
May import the layers below it (`messages`, `auth`, `events`, `core`).
"""
