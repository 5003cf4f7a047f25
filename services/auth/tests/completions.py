"""`completion.finished` events as the usage tests make them again."""

from __future__ import annotations

from datetime import timedelta

from parley_contracts import CompletionFinished, Usage, new_id


def generated_again(event: CompletionFinished, completion: int) -> CompletionFinished:
    """What a redelivered request makes of the same answer: a new event, later, of another length."""
    return event.model_copy(
        update={
            "event_id": new_id(),
            "occurred_at": event.occurred_at + timedelta(seconds=2),
            "usage": Usage(prompt_tokens=event.usage.prompt_tokens, completion_tokens=completion),
        }
    )
