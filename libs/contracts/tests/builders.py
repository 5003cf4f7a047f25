"""Events the contract tests build more than once."""

from __future__ import annotations

from typing import Any

from parley_contracts import CompletionFinished, Usage, new_id


def finished(**changes: Any) -> CompletionFinished:
    """A finished completion; `changes` override its fields."""
    fields: dict[str, Any] = {
        "user_id": "u",
        "conversation_id": new_id(),
        "message_id": new_id(),
        "model": "m",
        "text": "answer",
        "finish_reason": "stop",
        "usage": Usage(prompt_tokens=1, completion_tokens=1),
    }
    return CompletionFinished(**(fields | changes))
