"""Alerts: the policy applied to each poll, the outbox relay to Slack, mutes, reminders.

``chatops.alerts.service.AlertService`` is the entry point the runtime wires;
``chatops.alerts.mutes``, ``acks`` and ``maintenance`` hold what the Slack surface calls for
``/botstatus mute|unmute|mutes``, acknowledgements and maintenance windows.

Nothing is imported here: the Slack surface imports those modules alone, without the
poller, the relay and the LivePerson client that the service brings (a fresh process
answers before it needs them).
"""
