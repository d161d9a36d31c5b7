"""The poll job: fetch, diff, one transaction (state, transitions, outbox), and its scheduler.

``chatops.monitor.poll`` (the poller) and ``chatops.monitor.scheduler`` (its schedule) are
imported each on its own; this package imports neither. The leader gates that decide which
replica polls are in chatops.store.leases.
"""
