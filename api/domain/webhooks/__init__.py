"""Incoming webhooks: monitoring (Alertmanager, Grafana, any JSON sender) posts into rooms as a bot.

`manage` creates, lists and revokes webhooks; `payloads` turns a delivery's body into one
`Alert`; `intake` posts it through the room's message writer (or as a system notice).
"""
