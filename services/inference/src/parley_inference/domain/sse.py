"""Parsing an OpenAI-compatible chat-completions event stream, line by line.

The stream is read raw (not through the SDK's typed chunks, which cost about
ten times the CPU per token, docs/architecture.md section 9): each `data:` payload is parsed
with orjson into a `Chunk` holding only what the worker uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import orjson

from parley_inference.domain.errors import ProviderStreamError


@dataclass(frozen=True, slots=True)
class TokenCounts:
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class Chunk:
    """One provider chunk: the text it adds, and possibly how the answer ended
    and how many tokens it used (OpenAI sends usage in a last chunk with no
    choices when asked with `stream_options.include_usage`)."""

    text: str = ""
    finish_reason: str | None = None
    usage: TokenCounts | None = None


class _Done:
    """`data: [DONE]`: the provider's end of stream."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "DONE"


DONE: Final = _Done()

SseItem = Chunk | _Done


def _usage(raw: Any) -> TokenCounts | None:
    if not isinstance(raw, dict):
        return None
    prompt, completion = raw.get("prompt_tokens"), raw.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    return TokenCounts(prompt_tokens=prompt, completion_tokens=completion)


def _error_message(raw: Any) -> str:
    if isinstance(raw, dict) and isinstance(raw.get("message"), str):
        return str(raw["message"])[:300]
    return str(raw)[:300]


def parse_payload(payload: str) -> SseItem:
    """One event's data: a JSON chat-completion chunk or `[DONE]`."""
    if payload == "[DONE]":
        return DONE
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise ProviderStreamError("The model provider sent a malformed event.") from exc
    if not isinstance(obj, dict):
        raise ProviderStreamError("The model provider sent a malformed event.")
    if obj.get("error"):
        raise ProviderStreamError(
            "The model provider failed while answering.", detail=_error_message(obj["error"])
        )
    text = ""
    finish_reason: str | None = None
    choices = obj.get("choices")
    if isinstance(choices, list) and choices:
        choice = choices[0]
        if isinstance(choice, dict):
            delta = choice.get("delta")
            if isinstance(delta, dict):
                content = delta.get("content")
                if isinstance(content, str):
                    text = content
            reason = choice.get("finish_reason")
            if isinstance(reason, str):
                finish_reason = reason
    return Chunk(text=text, finish_reason=finish_reason, usage=_usage(obj.get("usage")))


class SseDecoder:
    """Feeds lines (without their line ending) and returns an item at the end
    of each event. Comments (`:`), `event:`, `id:` and `retry:` fields are
    skipped; several `data:` lines of one event are joined with newlines."""

    __slots__ = ("_data",)

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> SseItem | None:
        if not line:
            return self._dispatch()
        if line.startswith("data:"):
            value = line[5:]
            if value.startswith(" "):
                value = value[1:]
            self._data.append(value)
        return None

    def end(self) -> SseItem | None:
        """The stream ended: an event not followed by a blank line still counts."""
        return self._dispatch()

    def _dispatch(self) -> SseItem | None:
        if not self._data:
            return None
        payload = self._data[0] if len(self._data) == 1 else "\n".join(self._data)
        self._data.clear()
        return parse_payload(payload)
