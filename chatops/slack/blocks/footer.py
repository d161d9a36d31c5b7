"""The Share and paging buttons under a read-only ``/botstatus`` view.

- ``share``: value is the command text to re-run and post in the channel (a ``Shared``
  command: a read-only view).
- ``page_previous`` / ``page_next``: value is the command text of that page (``all 3``; a
  ``Paged`` command). Slack rejects two elements with one action_id in a block, hence two ids.
"""

from __future__ import annotations

from typing import Final

from chatops.blockkit import kit
from chatops.blockkit.limits import MAX_BUTTON_VALUE
from chatops.jsontypes import JSONDict
from chatops.slack import grammar

ACTION_SHARE: Final = "share"
ACTION_PAGE_PREVIOUS: Final = "page_previous"
ACTION_PAGE_NEXT: Final = "page_next"
# What Share and paging buttons carry: the read-only views they are made for. A click runs
# only these, whatever a forged payload says (chatops.slack.actions).
Shared = grammar.Summary | grammar.Query | grammar.Problems | grammar.All | grammar.History
Paged = grammar.Problems | grammar.All


def footer_actions(
    command: Shared | None,
    *,
    shareable: bool,
    previous: Paged | None = None,
    next_: Paged | None = None,
) -> list[JSONDict]:
    """Previous / Next / Share in one actions block, or nothing when none applies."""
    elements = []
    if previous is not None:
        elements.append(kit.button("Previous", ACTION_PAGE_PREVIOUS, previous.text))
    if next_ is not None:
        elements.append(kit.button("Next", ACTION_PAGE_NEXT, next_.text))
    if shareable and command is not None and 0 < len(command.text) <= MAX_BUTTON_VALUE:
        elements.append(kit.button("Share in channel", ACTION_SHARE, command.text))
    return [{"type": "actions", "elements": elements}] if elements else []
