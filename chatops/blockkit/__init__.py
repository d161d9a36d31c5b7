"""Block Kit building that both ``chatops.alerts`` and ``chatops.slack`` need, below both.

- ``limits``: Slack's Block Kit limits and a checker for them.
- ``text``: mrkdwn escaping, truncation, dates and ages, mentions.
- ``kit``: the Block Kit objects (sections, headers, buttons, confirm dialogs, messages).
- ``rows``: how a stored bot or connector row reads (its health, statuses, kind).
- ``controls``: the Start / Stop / Restart buttons of a bot and of a connector, with their
  action ids and confirm dialogs: alerts carry them as well as ``/botstatus``.

Pure functions, no I/O. The renderers of whole messages live with their surface:
``chatops.slack.blocks`` (``/botstatus``, App Home) and ``chatops.alerts.render`` (alerts).
"""
