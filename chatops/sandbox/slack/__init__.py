"""A fake Slack workspace on loopback: the Web API, response_url endpoints and fault injection.

It speaks Slack's wire protocol, so the real ``slack_sdk`` clients and Bolt talk to it
unchanged (``AsyncWebClient(base_url=fake.base_url)``). Tests and the demo read what the app
did through the inspection methods (``messages``, ``thread``, ``ephemerals``, ``home``,
``calls``) and make Slack misbehave with ``inject`` (429 with Retry-After, 5xx, ``ok: false``,
answers lost before or after Slack acted, slow answers).

Behaviour follows Slack's documentation (https://docs.slack.dev/reference/methods,
https://docs.slack.dev/reference/block-kit/blocks, https://docs.slack.dev/interactivity/
handling-user-interaction). Where the docs leave a detail open the fake picks the strict
reading and says so next to the code, so that a test fails here rather than in production.

Modules: ``workspace`` (people, channels, messages: the state), ``webapi`` (the Web API
methods), ``responses`` (response URLs), ``faults``, ``validation`` (Block Kit as Slack
checks it), ``fake`` (``FakeSlack``: the Python API and the routes), ``host`` (serving on
loopback, through ``chatops.sandbox.serving``).

Nothing here imports from the rest of chatops: the fake stands in for the outside world.
"""

from __future__ import annotations

from chatops.sandbox.jsontypes import JSONDict
from chatops.sandbox.serving import serve_in_thread
from chatops.sandbox.slack.fake import FakeSlack
from chatops.sandbox.slack.faults import AnswerLost
from chatops.sandbox.slack.host import FakeSlackHost, RunningServer, run_in_thread
from chatops.sandbox.slack.validation import MAX_MESSAGE_BLOCKS, MAX_VIEW_BLOCKS, block_errors
from chatops.sandbox.slack.workspace import (
    ALICE,
    APP_ID,
    BOB,
    BOT_ID,
    BOT_NAME,
    BOT_USER_ID,
    CHARLIE,
    DEFAULT_BOT_TOKEN,
    DEFAULT_CHANNELS,
    DEFAULT_PERSONAS,
    DEFAULT_SIGNING_SECRET,
    PERSONAS,
    RESPONSE_URL_LIFETIME_SECONDS,
    RESPONSE_URL_MAX_USES,
    SLACK_DEADLINE_SECONDS,
    TEAM_DOMAIN,
    TEAM_ID,
    TEAM_NAME,
    USERGROUPS,
    VERIFICATION_TOKEN,
    WAIT_FOR_SECONDS,
    Persona,
    SlackApiFailure,
)

__all__ = [
    "ALICE",
    "APP_ID",
    "BOB",
    "BOT_ID",
    "BOT_NAME",
    "BOT_USER_ID",
    "CHARLIE",
    "DEFAULT_BOT_TOKEN",
    "DEFAULT_CHANNELS",
    "DEFAULT_PERSONAS",
    "DEFAULT_SIGNING_SECRET",
    "MAX_MESSAGE_BLOCKS",
    "MAX_VIEW_BLOCKS",
    "PERSONAS",
    "RESPONSE_URL_LIFETIME_SECONDS",
    "RESPONSE_URL_MAX_USES",
    "SLACK_DEADLINE_SECONDS",
    "TEAM_DOMAIN",
    "TEAM_ID",
    "TEAM_NAME",
    "USERGROUPS",
    "VERIFICATION_TOKEN",
    "WAIT_FOR_SECONDS",
    "AnswerLost",
    "FakeSlack",
    "FakeSlackHost",
    "JSONDict",
    "Persona",
    "RunningServer",
    "SlackApiFailure",
    "block_errors",
    "run_in_thread",
    "serve_in_thread",
]
