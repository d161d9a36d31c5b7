"""Decode a JSON object whose one big array is decoded an element at a time.

``json.loads`` of a 5 MB status list holds the event loop (and the GIL, so a thread is no
way out) for its whole duration. :func:`decode_object` decodes the same document with the
standard decoder, but the array under ``key`` element by element, pacing itself between
elements and passing each through ``each`` (which may shrink it to the fields used), so the
full decoded list never exists at once. Malformed JSON raises ``ValueError`` as
``json.loads`` does; a document that is not an object is decoded whole.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from chatops.pacing import Pacer

_SPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


async def decode_object(
    content: bytes, key: str, each: Callable[[Any], Any], pacer: Pacer | None = None
) -> Any:
    text = content.decode(json.detect_encoding(content), "surrogatepass")
    pacer = pacer or Pacer()
    try:
        return await _object(text, key, each, pacer)
    except IndexError:
        raise ValueError("unexpected end of JSON") from None


async def _object(text: str, key: str, each: Callable[[Any], Any], pacer: Pacer) -> Any:
    at = _skip(text, 0)
    if text[at] != "{":
        return json.loads(text)
    found: dict[str, Any] = {}
    at = _skip(text, at + 1)
    if text[at] == "}":
        return _end(text, at + 1, found)
    while True:
        name, at = _DECODER.raw_decode(text, at)
        if not isinstance(name, str):
            raise ValueError(f"expected a property name at {at}")
        at = _skip(text, at)
        if text[at] != ":":
            raise ValueError(f"expected ':' at {at}")
        at = _skip(text, at + 1)
        if name == key and text[at] == "[":
            found[name], at = await _array(text, at, each, pacer)
        else:
            found[name], at = _DECODER.raw_decode(text, at)
        at = _skip(text, at)
        if text[at] == "}":
            return _end(text, at + 1, found)
        if text[at] != ",":
            raise ValueError(f"expected ',' or '}}' at {at}")
        at = _skip(text, at + 1)


async def _array(
    text: str, at: int, each: Callable[[Any], Any], pacer: Pacer
) -> tuple[list[Any], int]:
    items: list[Any] = []
    at = _skip(text, at + 1)
    if text[at] == "]":
        return items, at + 1
    while True:
        item, at = _DECODER.raw_decode(text, at)
        items.append(each(item))
        at = _skip(text, at)
        if text[at] == "]":
            return items, at + 1
        if text[at] != ",":
            raise ValueError(f"expected ',' or ']' at {at}")
        at = _skip(text, at + 1)
        await pacer.pace()


def _skip(text: str, at: int) -> int:
    match = _SPACE.match(text, at)
    assert match is not None  # the pattern matches the empty string
    return match.end()


def _end(text: str, at: int, found: dict[str, Any]) -> dict[str, Any]:
    if _skip(text, at) != len(text):
        raise ValueError(f"extra data after the JSON object at {at}")
    return found


__all__ = ["decode_object"]
