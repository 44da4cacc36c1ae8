"""Test doubles that are real enough to talk to over the network (fake push service, ...)."""
