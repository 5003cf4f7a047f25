"""Schemathesis hooks of `test_schemathesis.py` (loaded through `SCHEMATHESIS_HOOKS`): besides
what the schema describes, some requests carry input that once answered 500: a `cursor` whose
time leaves the calendar once moved to UTC, and text fields (names, prompt texts, tags, titles,
tags) holding an unpaired surrogate, which JSON can escape but UTF-8 cannot encode."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import schemathesis
from hypothesis import strategies as st

EDGE_TIMES = (
    "9999-12-31T23:59:59.999999-14:00",
    "9999-12-31T23:59:59.999999+14:00",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00-14:00",
)
CURSORS = tuple(
    base64.urlsafe_b64encode(orjson.dumps({"u": when, "i": "0193a8f0-0000-7000-8000-000000000001"})).decode(
        "ascii"
    )
    for when in EDGE_TIMES
)
UNPAIRED = ("\ud800", "name \udfff", "\udbff\udbff")


def _surrogates(value: Any) -> st.SearchStrategy[Any]:
    """`value` with one of its strings (or a string where there was none) made invalid Unicode."""
    if isinstance(value, str):
        return st.sampled_from(UNPAIRED).map(lambda bad: value + bad)
    if isinstance(value, dict) and value:
        return st.sampled_from(sorted(value)).flatmap(
            lambda key: _surrogates(value[key]).map(lambda bad: {**value, key: bad})
        )
    if isinstance(value, list) and value:
        return st.integers(0, len(value) - 1).flatmap(
            lambda i: _surrogates(value[i]).map(lambda bad: [*value[:i], bad, *value[i + 1 :]])
        )
    return st.sampled_from(UNPAIRED)


@schemathesis.hook
def flatmap_query(context: schemathesis.HookContext, query: dict[str, Any] | None) -> st.SearchStrategy[Any]:
    query = query or {}
    names = {p.name for p in context.operation.query} if context.operation is not None else set()
    crafted: list[st.SearchStrategy[Any]] = [st.just(query)]
    if "cursor" in names:
        crafted.append(st.sampled_from(CURSORS).map(lambda cursor: {**query, "cursor": cursor}))
    if "since" in names:
        crafted.append(st.sampled_from(EDGE_TIMES).map(lambda when: {**query, "since": when}))
    # No surrogates here: a URL carries UTF-8, which cannot encode them (test_hostile_input.py
    # sends the bytes such an encoding would have).
    return st.one_of(crafted)


@schemathesis.hook
def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(body), _surrogates(body))
