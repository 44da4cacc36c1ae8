"""Web Push on the domain side: subscriptions, preferences, planning and the deliveries' store.

`endpoints` (SSRF rules and key checks), `subscriptions`, `prefs`, `planning` (who is pushed for
new messages, and the payload), `deliveries` (claim and record one planned push; the HTTP send
itself is `workers.webpush`), `vapid` (the server's key pair). May import `core` and `auth`.
"""
