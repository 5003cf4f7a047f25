"""Projects and saved prompts: registered, routed to history, round-tripped."""

import orjson
import pytest
from pydantic import ValidationError

from parley_contracts import (
    DOMAIN_EVENTS,
    LIBRARY_EVENTS,
    ConversationMoved,
    EventDecoder,
    ProjectCreated,
    PromptSaved,
    PromptShared,
    new_id,
)
from parley_contracts.topology import HISTORY_EVENTS


def _matches(pattern: str, key: str) -> bool:
    """A topic binding's match (`*` one word, `#` any number)."""
    words, keys = pattern.split("."), key.split(".")
    if "#" in words:
        return True
    return len(words) == len(keys) and all(w in ("*", k) for w, k in zip(words, keys, strict=True))


@pytest.mark.parametrize("model", LIBRARY_EVENTS)
def test_library_events_are_domain_events_routed_to_history(model: type) -> None:
    assert model in DOMAIN_EVENTS
    event_type = model.model_fields["type"].default
    assert any(_matches(b.routing_key, event_type) for b in HISTORY_EVENTS.bindings), event_type
    assert model.model_fields["version"].default == 1


def test_saved_prompts_never_match_the_chat_prompt_binding() -> None:
    assert not _matches("prompt.submitted", PromptSaved.model_fields["type"].default)
    for binding in HISTORY_EVENTS.bindings:
        if binding.routing_key.startswith("library."):
            assert not _matches(binding.routing_key, "prompt.submitted")


def test_round_trip_and_frozen() -> None:
    decoder = EventDecoder(DOMAIN_EVENTS)
    project = ProjectCreated(user_id="alice", project_id=new_id(), name="Garden", model="m")
    moved = ConversationMoved(user_id="alice", conversation_id=new_id(), project_id=None)
    saved = PromptSaved(
        user_id="alice", prompt_id=new_id(), name="Pirate", text="Talk like one", tags=("fun",)
    )
    shared = PromptShared(user_id="root", prompt_id=saved.prompt_id, owner_id="alice", shared=False)
    for event in (project, moved, saved, shared):
        assert decoder.decode(event.to_json()) == event
    assert orjson.loads(moved.to_json())["project_id"] is None
    with pytest.raises(ValidationError):
        project.name = "other"  # type: ignore[misc]
