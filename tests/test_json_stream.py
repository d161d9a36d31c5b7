"""The status-list decoder: the same values as ``json.loads``, its list decoded piecewise."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatops.pacing import Pacer
from chatops.sources.json_stream import decode_object

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def decode(content: bytes, each: Any = lambda item: item) -> Any:
    # A zero slice: the decoder yields to the loop after every element.
    return asyncio.run(decode_object(content, "statusList", each, Pacer(0)))


@settings(max_examples=200, deadline=None)
@given(
    entries=st.lists(JSON_VALUES, max_size=6),
    others=st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=3),
    indent=st.sampled_from([None, 0, 2]),
)
def test_a_document_decodes_to_what_json_loads_gives(
    entries: list[Any], others: dict[str, Any], indent: int | None
) -> None:
    document = {**others, "statusList": entries}
    content = json.dumps(document, indent=indent).encode()
    assert decode(content) == json.loads(content)


def test_each_entry_goes_through_each_as_it_is_decoded() -> None:
    content = json.dumps({"statusList": [{"botId": "a", "big": "x" * 100}, 3]}).encode()
    decoded = decode(content, lambda item: item.get("botId") if isinstance(item, dict) else item)
    assert decoded == {"statusList": ["a", 3]}


def test_a_document_that_is_not_an_object_is_decoded_whole() -> None:
    assert decode(b" [1, 2] ") == [1, 2]


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{",
        b'{"statusList": [1, 2',
        b'{"statusList": [1 2]}',
        b'{"statusList": [1,]}',
        b'{"statusList": []} trailing',
        b'{"statusList" [1]}',
        b"{1: 2}",
        b"<html>not json</html>",
    ],
)
def test_malformed_json_raises_value_error_like_json_loads(content: bytes) -> None:
    with pytest.raises(ValueError):
        json.loads(content)
    with pytest.raises(ValueError):
        decode(content)


@settings(max_examples=200, deadline=None)
@given(
    entries=st.lists(JSON_VALUES, max_size=6),
    others=st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=3),
    indent=st.sampled_from([None, 0, 2]),
    window=st.integers(min_value=1, max_value=9),
    encoding=st.sampled_from(["utf-8", "utf-16", "utf-32-le"]),
)
def test_a_document_read_a_few_bytes_at_a_time_decodes_the_same(
    entries: list[Any], others: dict[str, Any], indent: int | None, window: int, encoding: str
) -> None:
    # Windows of a few bytes cut numbers, strings, escapes and multi-byte characters.
    document = {**others, "statusList": entries}
    content = json.dumps(document, indent=indent, ensure_ascii=False).encode(encoding)
    decoded = asyncio.run(
        decode_object(content, "statusList", lambda item: item, Pacer(0), window=window)
    )
    assert decoded == json.loads(content)


@pytest.mark.parametrize("window", [1, 2, 3, 5])
@pytest.mark.parametrize(
    "content",
    [
        b'{"statusList": [12',
        b'{"statusList": [1, 2]} 3',
        b'{"statusList": [1, 2], "n": 12',
        b'{"statusList": [tru]}',
        b'{"statusList": ["\\u12"]}',
    ],
)
def test_malformed_json_raises_value_error_whatever_the_window(content: bytes, window: int) -> None:
    with pytest.raises(ValueError):
        json.loads(content)
    with pytest.raises(ValueError):
        asyncio.run(decode_object(content, "statusList", lambda item: item, window=window))
