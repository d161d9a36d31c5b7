"""Slack's Block Kit rules, checked as Slack checks them: every error worded like Slack's.

A message or Home tab the real Slack would refuse is refused by the fake too, with Slack's
error code and ``[json-pointer:...]`` details, so a test fails here rather than in
production. Pure functions over decoded JSON.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from chatops.sandbox.jsontypes import JSONDict

# Slack's published limits (https://docs.slack.dev/reference/block-kit/blocks and the pages of
# each block, element and composition object).
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_MESSAGE_TEXT = 4000
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_ACTIONS_ELEMENTS = 25
MAX_CONTEXT_ELEMENTS = 10
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_URL = 3000
MAX_ID = 255
MAX_CONFIRM_TITLE = 100
MAX_CONFIRM_TEXT = 300
MAX_CONFIRM_BUTTON = 30
MAX_PRIVATE_METADATA = 3000

BLOCK_TYPES = frozenset(
    {
        "actions",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "video",
    }
)
INTERACTIVE_ELEMENT_TYPES = frozenset(
    {
        "button",
        "checkboxes",
        "channels_select",
        "conversations_select",
        "datepicker",
        "datetimepicker",
        "external_select",
        "multi_channels_select",
        "multi_conversations_select",
        "multi_external_select",
        "multi_static_select",
        "multi_users_select",
        "overflow",
        "radio_buttons",
        "static_select",
        "timepicker",
        "users_select",
        "workflow_button",
    }
)
TEXT_TYPES = frozenset({"plain_text", "mrkdwn"})
BUTTON_STYLES = frozenset({"primary", "danger"})


# ---------------------------------------------------------------------- Block Kit validation


def message_problem(args: Mapping[str, Any], *, limit: int) -> tuple[str, JSONDict] | None:
    """The error Slack gives a message (error code and extra reply fields), or None if fine."""
    text = args.get("text")
    blocks = args.get("blocks")
    if not text and not blocks and not args.get("attachments"):
        return "no_text", {}
    if isinstance(text, str) and len(text) > MAX_MESSAGE_TEXT:
        return "msg_too_long", {}
    if blocks is not None and blocks != []:
        if not isinstance(blocks, list):
            return "invalid_blocks_format", {}
        errors = block_errors(blocks, limit=limit)
        if errors:
            return "invalid_blocks", {
                "errors": errors,
                "response_metadata": {"messages": [f"[ERROR] {e}" for e in errors]},
            }
    return None


def view_errors(view: Mapping[str, Any]) -> list[str]:
    errors = []
    if view.get("type") != "home":
        errors.append("must be home [json-pointer:/view/type]")
    metadata = view.get("private_metadata")
    if isinstance(metadata, str) and len(metadata) > MAX_PRIVATE_METADATA:
        errors.append(
            f"must be less than {MAX_PRIVATE_METADATA + 1} characters "
            "[json-pointer:/view/private_metadata]"
        )
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        errors.append("must provide an array [json-pointer:/view/blocks]")
    else:
        errors.extend(block_errors(blocks, limit=MAX_VIEW_BLOCKS, pointer="/view/blocks"))
    return errors


def block_errors(
    blocks: Sequence[Any], *, limit: int = MAX_MESSAGE_BLOCKS, pointer: str = "/blocks"
) -> list[str]:
    """Every way ``blocks`` breaks Slack's Block Kit limits, worded like Slack's errors.

    ``limit`` is 50 for messages, 100 for modals and Home tabs.
    """
    errors: list[str] = []
    if len(blocks) > limit:
        errors.append(f"no more than {limit} items allowed [json-pointer:{pointer}]")
    block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        at = f"{pointer}/{index}"
        if not isinstance(block, dict):
            errors.append(f"must be an object [json-pointer:{at}]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or len(block_id) > MAX_ID:
                errors.append(
                    f"must be less than {MAX_ID + 1} characters [json-pointer:{at}/block_id]"
                )
            elif block_id in block_ids:
                errors.append(f"duplicate block_id: {block_id} [json-pointer:{at}/block_id]")
            else:
                block_ids.add(block_id)
        errors.extend(_block_errors(block, at))
    return errors


def _block_errors(block: Mapping[str, Any], at: str) -> Iterator[str]:
    kind = block.get("type")
    if kind not in BLOCK_TYPES:
        yield f"unsupported type: {kind} [json-pointer:{at}/type]"
    elif kind == "section":
        yield from _section_errors(block, at)
    elif kind == "header":
        yield from _text_errors(block.get("text"), f"{at}/text", MAX_HEADER_TEXT, plain_only=True)
    elif kind == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            yield f"must provide at least 1 item [json-pointer:{at}/elements]"
            return
        if len(elements) > MAX_ACTIONS_ELEMENTS:
            yield f"no more than {MAX_ACTIONS_ELEMENTS} items allowed [json-pointer:{at}/elements]"
        action_ids: set[str] = set()
        for index, element in enumerate(elements):
            element_at = f"{at}/elements/{index}"
            yield from _element_errors(element, element_at)
            action_id = element.get("action_id") if isinstance(element, dict) else None
            if isinstance(action_id, str):
                if action_id in action_ids:
                    yield f"duplicate action_id: {action_id} [json-pointer:{element_at}/action_id]"
                action_ids.add(action_id)
    elif kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            yield f"must provide at least 1 item [json-pointer:{at}/elements]"
            return
        if len(elements) > MAX_CONTEXT_ELEMENTS:
            yield f"no more than {MAX_CONTEXT_ELEMENTS} items allowed [json-pointer:{at}/elements]"
        for index, element in enumerate(elements):
            element_at = f"{at}/elements/{index}"
            if isinstance(element, dict) and element.get("type") == "image":
                yield from _image_errors(element, element_at)
            else:
                yield from _text_errors(element, element_at, MAX_SECTION_TEXT)
    elif kind == "image":
        yield from _image_errors(block, at)


def _section_errors(block: Mapping[str, Any], at: str) -> Iterator[str]:
    text = block.get("text")
    fields = block.get("fields")
    if text is None and not fields:
        yield f"must provide text or fields [json-pointer:{at}]"
    if text is not None:
        yield from _text_errors(text, f"{at}/text", MAX_SECTION_TEXT)
    if fields is not None:
        if not isinstance(fields, list):
            yield f"must provide an array [json-pointer:{at}/fields]"
        else:
            if len(fields) > MAX_SECTION_FIELDS:
                yield f"no more than {MAX_SECTION_FIELDS} items allowed [json-pointer:{at}/fields]"
            for index, item in enumerate(fields):
                yield from _text_errors(item, f"{at}/fields/{index}", MAX_FIELD_TEXT)
    accessory = block.get("accessory")
    if accessory is not None:
        if isinstance(accessory, dict) and accessory.get("type") == "image":
            yield from _image_errors(accessory, f"{at}/accessory")
        else:
            yield from _element_errors(accessory, f"{at}/accessory")


def _text_errors(text: Any, at: str, max_length: int, *, plain_only: bool = False) -> Iterator[str]:
    if not isinstance(text, dict):
        yield f"must provide an object [json-pointer:{at}]"
        return
    allowed = {"plain_text"} if plain_only else TEXT_TYPES
    if text.get("type") not in allowed:
        yield f"must be one of {sorted(allowed)} [json-pointer:{at}/type]"
    value = text.get("text")
    if not isinstance(value, str) or not value:
        yield f"must be more than 0 characters [json-pointer:{at}/text]"
    elif len(value) > max_length:
        yield f"must be less than {max_length + 1} characters [json-pointer:{at}/text]"


def _image_errors(image: Mapping[str, Any], at: str) -> Iterator[str]:
    for key in ("image_url", "alt_text"):
        if not isinstance(image.get(key), str) or not image.get(key):
            yield f"missing required field: {key} [json-pointer:{at}]"


def _element_errors(element: Any, at: str) -> Iterator[str]:
    if not isinstance(element, dict):
        yield f"must provide an object [json-pointer:{at}]"
        return
    kind = element.get("type")
    if kind not in INTERACTIVE_ELEMENT_TYPES:
        yield f"unsupported type: {kind} [json-pointer:{at}/type]"
        return
    action_id = element.get("action_id")
    if action_id is not None and (not isinstance(action_id, str) or len(action_id) > MAX_ID):
        yield f"must be less than {MAX_ID + 1} characters [json-pointer:{at}/action_id]"
    if kind == "button":
        yield from _text_errors(element.get("text"), f"{at}/text", MAX_BUTTON_TEXT, plain_only=True)
        value = element.get("value")
        if value is not None and (not isinstance(value, str) or len(value) > MAX_BUTTON_VALUE):
            yield f"must be less than {MAX_BUTTON_VALUE + 1} characters [json-pointer:{at}/value]"
        url = element.get("url")
        if url is not None and (not isinstance(url, str) or len(url) > MAX_URL):
            yield f"must be less than {MAX_URL + 1} characters [json-pointer:{at}/url]"
        style = element.get("style")
        if style is not None and style not in BUTTON_STYLES:
            yield f"must be one of {sorted(BUTTON_STYLES)} [json-pointer:{at}/style]"
    confirm = element.get("confirm")
    if confirm is not None:
        yield from _confirm_errors(confirm, f"{at}/confirm")


def _confirm_errors(confirm: Any, at: str) -> Iterator[str]:
    if not isinstance(confirm, dict):
        yield f"must provide an object [json-pointer:{at}]"
        return
    yield from _text_errors(confirm.get("title"), f"{at}/title", MAX_CONFIRM_TITLE, plain_only=True)
    yield from _text_errors(confirm.get("text"), f"{at}/text", MAX_CONFIRM_TEXT)
    yield from _text_errors(
        confirm.get("confirm"), f"{at}/confirm", MAX_CONFIRM_BUTTON, plain_only=True
    )
    yield from _text_errors(confirm.get("deny"), f"{at}/deny", MAX_CONFIRM_BUTTON, plain_only=True)
    style = confirm.get("style")
    if style is not None and style not in BUTTON_STYLES:
        yield f"must be one of {sorted(BUTTON_STYLES)} [json-pointer:{at}/style]"
