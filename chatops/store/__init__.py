"""Storage: SQLModel tables, the async engine, repositories and Alembic migrations.

Every SQL statement of the app is here (tests/test_sql_in_store.py keeps it so). Tables:
``models``, ``alert_models``, ``maintenance_models``, ``metrics_models``; typed Core access
to them: ``tables``. Repositories, each typed async functions over a session whose caller
owns the transaction: ``fleet`` (the poller's connector and bot rows), ``bots``,
``connectors``, ``cards`` (a bot with its connectors), ``fleet_rows`` (the fleet held in
memory for replies), ``polls``, ``audit``, ``outbox``, ``incidents``, ``alert_state``,
``mutes``, ``acks``, ``maintenance``, ``agent_metrics``, ``leases`` (the poller's
leadership, the click-once lease, advisory lock keys). ``engine`` sets up engines and
sessions and maps database errors; ``migrate`` runs Alembic.
"""
