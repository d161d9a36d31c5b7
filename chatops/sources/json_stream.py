"""Decode a JSON object whose one big array is decoded an element at a time.

``json.loads`` of a 5 MB status list holds the event loop (and the GIL, so a thread is no
way out) for its whole duration. :func:`decode_object` decodes the same document with the
standard decoder, but the array under ``key`` element by element, pacing itself between
elements and passing each through ``each`` (which may shrink it to the fields used), so the
full decoded list never exists at once. Nor does the document's whole text: the bytes are
decoded to text a window at a time (64 kB), the text already read dropped as it goes, so a
poll holds the response's bytes and not also a string of the same size. Malformed JSON
raises ``ValueError`` as ``json.loads`` does; a document that is not an object is decoded
whole.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable
from typing import Any

from chatops.pacing import Pacer

_SPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
WINDOW = 64 * 1024
_NUMBER_TAIL = 3


async def decode_object(
    content: bytes,
    key: str,
    each: Callable[[Any], Any],
    pacer: Pacer | None = None,
    window: int = WINDOW,
) -> Any:
    text = _Text(content, window)
    pacer = pacer or Pacer()
    try:
        char, at = text.char(text.skip(0))
        if char != "{":
            return json.loads(content)
        return await _object(text, at + 1, key, each, pacer)
    except IndexError:
        raise ValueError("unexpected end of JSON") from None


class _Text:
    """The document's text, decoded from its bytes ``window`` bytes at a time.

    ``text`` holds what is decoded and not yet consumed; positions are indexes into it.
    Reading further drops the text before the position given, so positions held across a
    read are the ones it returns.
    """

    def __init__(self, content: bytes, window: int) -> None:
        self._content = content
        self._window = window
        self._read = 0
        self._decoder = codecs.getincrementaldecoder(json.detect_encoding(content))("surrogatepass")
        self.text = ""

    @property
    def ended(self) -> bool:
        return self._read >= len(self._content)

    def more(self, at: int) -> int:
        """Decode the next window, dropping the text before ``at``; ``at``'s new position.

        Raises IndexError when the bytes are all decoded (the document ends early).
        """
        if self.ended:
            raise IndexError(at)
        chunk = self._content[self._read : self._read + self._window]
        self._read += len(chunk)
        self.text = self.text[at:] + self._decoder.decode(chunk, final=self.ended)
        return 0

    def char(self, at: int) -> tuple[str, int]:
        """The character at ``at``, and its position."""
        while at >= len(self.text):
            at = self.more(at)
        return self.text[at], at

    def skip(self, at: int) -> int:
        """The position of the first character from ``at`` on that is not white space."""
        while True:
            match = _SPACE.match(self.text, at)
            assert match is not None  # the pattern matches the empty string
            at = match.end()
            if at < len(self.text) or self.ended:
                return at
            at = self.more(at)

    def value(self, at: int) -> tuple[Any, int]:
        """The JSON value starting at ``at``, and the position after it."""
        while True:
            try:
                value, end = _DECODER.raw_decode(self.text, at)
            except json.JSONDecodeError:
                # Perhaps cut off by the window's end: read on, unless there is no more.
                if self.ended:
                    raise
                at = self.more(at)
                continue
            # A number near the window's end may go on in the next one: the decoder stops
            # before ".", "e", "e+" not yet followed by a digit, so three characters after
            # the value show whether it is whole.
            if end + _NUMBER_TAIL <= len(self.text) or self.ended:
                return value, end
            at = self.more(at)


async def _object(text: _Text, at: int, key: str, each: Callable[[Any], Any], pacer: Pacer) -> Any:
    found: dict[str, Any] = {}
    char, at = text.char(text.skip(at))
    if char == "}":
        return _end(text, at + 1, found)
    while True:
        name, at = text.value(at)
        if not isinstance(name, str):
            raise ValueError("expected a property name")
        char, at = text.char(text.skip(at))
        if char != ":":
            raise ValueError("expected ':'")
        char, at = text.char(text.skip(at + 1))
        if name == key and char == "[":
            found[name], at = await _array(text, at, each, pacer)
        else:
            found[name], at = text.value(at)
        char, at = text.char(text.skip(at))
        if char == "}":
            return _end(text, at + 1, found)
        if char != ",":
            raise ValueError("expected ',' or '}'")
        at = text.skip(at + 1)


async def _array(
    text: _Text, at: int, each: Callable[[Any], Any], pacer: Pacer
) -> tuple[list[Any], int]:
    items: list[Any] = []
    char, at = text.char(text.skip(at + 1))
    if char == "]":
        return items, at + 1
    while True:
        item, at = text.value(at)
        items.append(each(item))
        char, at = text.char(text.skip(at))
        if char == "]":
            return items, at + 1
        if char != ",":
            raise ValueError("expected ',' or ']'")
        at = text.skip(at + 1)
        await pacer.pace()


def _end(text: _Text, at: int, found: dict[str, Any]) -> dict[str, Any]:
    if text.skip(at) != len(text.text) or not text.ended:
        raise ValueError("extra data after the JSON object")
    return found


__all__ = ["decode_object"]
