"""Slack's Block Kit limits, checked before Slack checks them.

Slack answers a payload over a limit with ``invalid_blocks`` or ``msg_too_long`` and shows
the user nothing, so the renderers are tested against these limits (0 to 10,000 bots) and
assert them when Python runs without ``-O``. Figures from reference/slack-platform.md and
https://docs.slack.dev/reference/block-kit/.

``violations`` walks a message (``{"text", "blocks"}``) or a view (``{"type": "home" |
"modal", "blocks", ...}``) and returns one readable line per problem, with a JSON-ish path
such as ``blocks[3].elements[1].confirm.text: 312 chars > 300``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

Surface = Literal["message", "home", "modal"]

MAX_BLOCKS: Final = {"message": 50, "home": 100, "modal": 100}
MAX_MESSAGE_TEXT: Final = 4000
MAX_SECTION_TEXT: Final = 3000
MAX_FIELDS: Final = 10
MAX_FIELD_TEXT: Final = 2000
MAX_HEADER_TEXT: Final = 150
MAX_CONTEXT_ELEMENTS: Final = 10
MAX_ACTIONS_ELEMENTS: Final = 25
MAX_BUTTON_TEXT: Final = 75
MAX_BUTTON_VALUE: Final = 2000
MAX_URL: Final = 3000
MAX_CONFIRM_TITLE: Final = 100
MAX_CONFIRM_TEXT: Final = 300
MAX_CONFIRM_BUTTON: Final = 30
MAX_ACTION_ID: Final = 255
MAX_BLOCK_ID: Final = 255
MAX_TEXT_OBJECT: Final = 3000
MAX_OPTIONS: Final = 100
MAX_OPTION_TEXT: Final = 75
MAX_OPTION_VALUE: Final = 150
MAX_PLACEHOLDER: Final = 150
MAX_MODAL_TITLE: Final = 24
MAX_PRIVATE_METADATA: Final = 3000

_TEXT_TYPES: Final = ("plain_text", "mrkdwn")
_BUTTON_STYLES: Final = ("primary", "danger")
_INTERACTIVE: Final = ("button", "static_select", "overflow")


class LimitsExceeded(AssertionError):
    """A payload breaks Slack's limits: a bug in whichever renderer built it."""


def assert_within_limits(payload: Mapping[str, Any], *, surface: Surface = "message") -> None:
    problems = violations(payload, surface=surface)
    if problems:
        raise LimitsExceeded(f"{surface} breaks Slack's limits: " + "; ".join(problems))


def violations(payload: Mapping[str, Any], *, surface: Surface = "message") -> list[str]:
    """Every way ``payload`` breaks Slack's limits for ``surface``; empty when it is fine."""
    checker = _Checker()
    checker.payload(payload, surface)
    return checker.problems


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, path: str, problem: str) -> None:
        self.problems.append(f"{path}: {problem}")

    def length(self, path: str, value: Any, limit: int, *, required: bool = True) -> None:
        if not isinstance(value, str):
            self.fail(path, f"expected a string, got {type(value).__name__}")
        elif required and not value:
            self.fail(path, "must not be empty")
        elif len(value) > limit:
            self.fail(path, f"{len(value)} chars > {limit}")

    def payload(self, payload: Mapping[str, Any], surface: Surface) -> None:
        if surface == "message":
            # A message needs text, blocks or both; the text is the notification fallback.
            if "text" in payload:
                self.length("text", payload["text"], MAX_MESSAGE_TEXT)
            elif not payload.get("blocks"):
                self.fail("text", "a message needs text or blocks")
        else:
            if payload.get("type") != surface:
                self.fail("type", f"expected {surface!r}, got {payload.get('type')!r}")
            if surface == "modal":
                self.text_object("title", payload.get("title"), MAX_MODAL_TITLE, plain=True)
                for key in ("submit", "close"):
                    if key in payload:
                        self.text_object(key, payload[key], MAX_MODAL_TITLE, plain=True)
            if "private_metadata" in payload:
                self.length(
                    "private_metadata",
                    payload["private_metadata"],
                    MAX_PRIVATE_METADATA,
                    required=False,
                )
        blocks = payload.get("blocks", [])
        if not isinstance(blocks, Sequence) or isinstance(blocks, str):
            self.fail("blocks", "expected a list")
            return
        if len(blocks) > MAX_BLOCKS[surface]:
            self.fail("blocks", f"{len(blocks)} blocks > {MAX_BLOCKS[surface]}")
        block_ids: set[str] = set()
        for index, block in enumerate(blocks):
            path = f"blocks[{index}]"
            if not isinstance(block, Mapping):
                self.fail(path, "expected an object")
                continue
            if "block_id" in block:
                block_id = block["block_id"]
                self.length(f"{path}.block_id", block_id, MAX_BLOCK_ID)
                if isinstance(block_id, str):
                    if block_id in block_ids:
                        self.fail(f"{path}.block_id", f"duplicate block_id {block_id!r}")
                    block_ids.add(block_id)
            self.block(path, block)

    def block(self, path: str, block: Mapping[str, Any]) -> None:
        kind = block.get("type")
        if kind == "section":
            self.section(path, block)
        elif kind == "header":
            self.text_object(f"{path}.text", block.get("text"), MAX_HEADER_TEXT, plain=True)
        elif kind == "context":
            elements = block.get("elements") or []
            if not elements:
                self.fail(f"{path}.elements", "must not be empty")
            if len(elements) > MAX_CONTEXT_ELEMENTS:
                self.fail(f"{path}.elements", f"{len(elements)} > {MAX_CONTEXT_ELEMENTS}")
            for index, element in enumerate(elements):
                where = f"{path}.elements[{index}]"
                if isinstance(element, Mapping) and element.get("type") == "image":
                    self.image(where, element)
                else:
                    self.text_object(where, element, MAX_TEXT_OBJECT)
        elif kind == "actions":
            elements = block.get("elements") or []
            if not elements:
                self.fail(f"{path}.elements", "must not be empty")
            if len(elements) > MAX_ACTIONS_ELEMENTS:
                self.fail(f"{path}.elements", f"{len(elements)} > {MAX_ACTIONS_ELEMENTS}")
            self.unique_action_ids(path, elements)
            for index, element in enumerate(elements):
                self.element(f"{path}.elements[{index}]", element)
        elif kind == "divider":
            pass
        elif kind == "image":
            self.image(path, block)
        else:
            self.fail(f"{path}.type", f"unsupported block type {kind!r}")

    def section(self, path: str, block: Mapping[str, Any]) -> None:
        text, fields = block.get("text"), block.get("fields")
        if text is None and not fields:
            self.fail(path, "a section needs text or fields")
        if text is not None:
            self.text_object(f"{path}.text", text, MAX_SECTION_TEXT)
        if fields is not None:
            if not isinstance(fields, Sequence) or not fields:
                self.fail(f"{path}.fields", "expected a non-empty list")
            else:
                if len(fields) > MAX_FIELDS:
                    self.fail(f"{path}.fields", f"{len(fields)} fields > {MAX_FIELDS}")
                for index, field in enumerate(fields):
                    self.text_object(f"{path}.fields[{index}]", field, MAX_FIELD_TEXT)
        if "accessory" in block:
            accessory = block["accessory"]
            if isinstance(accessory, Mapping) and accessory.get("type") == "image":
                self.image(f"{path}.accessory", accessory)
            else:
                self.element(f"{path}.accessory", accessory)

    def text_object(self, path: str, value: Any, limit: int, *, plain: bool = False) -> None:
        if not isinstance(value, Mapping):
            self.fail(path, "expected a text object")
            return
        kind = value.get("type")
        if kind not in _TEXT_TYPES:
            self.fail(f"{path}.type", f"expected plain_text or mrkdwn, got {kind!r}")
        elif plain and kind != "plain_text":
            self.fail(f"{path}.type", "must be plain_text")
        if kind == "mrkdwn" and "emoji" in value:
            self.fail(f"{path}.emoji", "only plain_text takes emoji")
        self.length(f"{path}.text", value.get("text"), limit)

    def image(self, path: str, image: Mapping[str, Any]) -> None:
        self.length(f"{path}.image_url", image.get("image_url"), MAX_URL)
        self.length(f"{path}.alt_text", image.get("alt_text"), 2000)

    def unique_action_ids(self, path: str, elements: Sequence[Any]) -> None:
        # Slack rejects two elements with one action_id in the same block.
        seen: set[str] = set()
        for index, element in enumerate(elements):
            if not isinstance(element, Mapping) or "action_id" not in element:
                continue
            action_id = element["action_id"]
            if not isinstance(action_id, str):
                continue  # reported by element()
            if action_id in seen:
                self.fail(f"{path}.elements[{index}].action_id", f"duplicate {action_id!r}")
            seen.add(action_id)

    def element(self, path: str, element: Any) -> None:
        if not isinstance(element, Mapping):
            self.fail(path, "expected an object")
            return
        kind = element.get("type")
        if kind not in _INTERACTIVE:
            self.fail(f"{path}.type", f"unsupported element type {kind!r}")
            return
        if "action_id" in element:
            self.length(f"{path}.action_id", element["action_id"], MAX_ACTION_ID)
        if kind == "button":
            self.text_object(f"{path}.text", element.get("text"), MAX_BUTTON_TEXT, plain=True)
            if "value" in element:
                self.length(f"{path}.value", element["value"], MAX_BUTTON_VALUE)
            if "url" in element:
                self.length(f"{path}.url", element["url"], MAX_URL)
            if "style" in element and element["style"] not in _BUTTON_STYLES:
                self.fail(f"{path}.style", f"expected primary or danger, got {element['style']!r}")
        elif kind == "static_select":
            self.text_object(
                f"{path}.placeholder", element.get("placeholder"), MAX_PLACEHOLDER, plain=True
            )
            options = element.get("options") or []
            if not options:
                self.fail(f"{path}.options", "must not be empty")
            self.options(path, options)
            initial = element.get("initial_option")
            if initial is not None and initial not in options:
                self.fail(f"{path}.initial_option", "must be one of the options")
        elif kind == "overflow":
            options = element.get("options") or []
            if not 1 <= len(options) <= 5:
                self.fail(
                    f"{path}.options", f"an overflow menu takes 1 to 5 options, not {len(options)}"
                )
            self.options(path, options)
        if "confirm" in element:
            self.confirm(f"{path}.confirm", element["confirm"])

    def options(self, path: str, options: Sequence[Any]) -> None:
        if len(options) > MAX_OPTIONS:
            self.fail(f"{path}.options", f"{len(options)} options > {MAX_OPTIONS}")
        for index, option in enumerate(options):
            where = f"{path}.options[{index}]"
            if not isinstance(option, Mapping):
                self.fail(where, "expected an object")
                continue
            self.text_object(f"{where}.text", option.get("text"), MAX_OPTION_TEXT, plain=True)
            self.length(f"{where}.value", option.get("value"), MAX_OPTION_VALUE)

    def confirm(self, path: str, confirm: Any) -> None:
        if not isinstance(confirm, Mapping):
            self.fail(path, "expected a confirm dialog object")
            return
        self.text_object(f"{path}.title", confirm.get("title"), MAX_CONFIRM_TITLE, plain=True)
        self.text_object(f"{path}.text", confirm.get("text"), MAX_CONFIRM_TEXT)
        self.text_object(f"{path}.confirm", confirm.get("confirm"), MAX_CONFIRM_BUTTON, plain=True)
        self.text_object(f"{path}.deny", confirm.get("deny"), MAX_CONFIRM_BUTTON, plain=True)
        if "style" in confirm and confirm["style"] not in _BUTTON_STYLES:
            self.fail(f"{path}.style", f"expected primary or danger, got {confirm['style']!r}")
