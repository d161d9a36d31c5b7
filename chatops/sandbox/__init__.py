"""Fakes that speak the real protocols of LivePerson and Slack over HTTP on loopback.

Nothing here imports from the rest of chatops: the sandbox stands in for the outside world,
so tests cannot cheat through it.
"""
