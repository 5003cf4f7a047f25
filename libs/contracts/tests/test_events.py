from uuid import UUID

import orjson
import pytest
from pydantic import ValidationError

from parley_contracts import (
    DOMAIN_EVENTS,
    SESSION_STREAM_EVENTS,
    ChatMessage,
    EventDecoder,
    GenerationParams,
    PromptSubmitted,
    TokenDelta,
    UnsupportedEvent,
    Usage,
    new_id,
)
from tests.builders import finished


def _prompt() -> PromptSubmitted:
    return PromptSubmitted(
        user_id="user-1",
        session_id=new_id(),
        request_id="r1",
        conversation_id=new_id(),
        message_id=new_id(),
        prompt_message_id=new_id(),
        model="test-model",
        messages=(ChatMessage(role="user", content="hello"),),
        reply_to="session.x",
    )


def test_envelope_defaults_are_versioned_and_time_ordered() -> None:
    first, second = _prompt(), _prompt()
    assert first.type == "prompt.submitted"
    assert first.version == 1
    assert first.event_id.version == 7
    assert first.event_id < second.event_id
    assert first.occurred_at.tzinfo is not None


def test_events_are_frozen() -> None:
    event = _prompt()
    with pytest.raises(ValidationError):
        event.model = "other"  # type: ignore[misc]


def test_round_trip_through_the_decoder() -> None:
    decoder = EventDecoder(DOMAIN_EVENTS)
    event = _prompt()
    decoded = decoder.decode(event.to_json())
    assert decoded == event


def test_decoder_rejects_unknown_version_with_a_clear_reason() -> None:
    decoder = EventDecoder(DOMAIN_EVENTS)
    raw = orjson.loads(_prompt().to_json())
    raw["version"] = 2
    with pytest.raises(UnsupportedEvent) as info:
        decoder.decode(orjson.dumps(raw))
    assert info.value.type == "prompt.submitted"
    assert info.value.version == 2
    assert "unsupported version 2" in str(info.value)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"version": 1}', "no type"),
        (b'{"type": "nope", "version": 1}', "unknown event type"),
        (b'{"type": "token.delta", "version": 1, "seq": 1}', "invalid 'token.delta'"),
    ],
)
def test_decoder_rejects_bad_bodies(body: bytes, reason: str) -> None:
    decoder = EventDecoder(SESSION_STREAM_EVENTS)
    with pytest.raises(UnsupportedEvent, match=reason):
        decoder.decode(body)


def test_decoder_only_knows_what_it_was_given() -> None:
    decoder = EventDecoder(SESSION_STREAM_EVENTS)
    with pytest.raises(UnsupportedEvent, match="unknown event type"):
        decoder.decode(_prompt().to_json())


def test_extra_fields_are_ignored_for_forward_compatibility() -> None:
    delta = TokenDelta(message_id=new_id(), seq=1, text="hi")
    raw = orjson.loads(delta.to_json())
    raw["added_later"] = True
    decoded = EventDecoder([TokenDelta]).decode(orjson.dumps(raw))
    assert isinstance(decoded, TokenDelta)
    assert decoded.text == "hi"


def test_generation_params_bounds() -> None:
    with pytest.raises(ValidationError):
        GenerationParams(temperature=3.0)
    with pytest.raises(ValidationError):
        GenerationParams(max_tokens=0)
    assert GenerationParams(temperature=0.7, max_tokens=512).max_tokens == 512


def test_every_event_type_is_unique() -> None:
    keys = [m.model_fields["type"].default for m in (*DOMAIN_EVENTS, *SESSION_STREAM_EVENTS)]
    assert len(keys) == len(set(keys))


def test_completion_carries_what_history_and_auth_need() -> None:
    usage = Usage(prompt_tokens=3, completion_tokens=5)
    event = finished(usage=usage, ttft_ms=12.5, tokens_per_s=40.0, worker_id="w1")
    raw = orjson.loads(event.to_json())
    assert raw["usage"] == {"prompt_tokens": 3, "completion_tokens": 5, "source": "provider"}
    assert UUID(raw["event_id"]).version == 7


def test_a_message_with_a_nul_character_is_refused() -> None:
    with pytest.raises(ValidationError, match="NUL"):
        ChatMessage(role="user", content="a\x00b")
    assert ChatMessage(role="user", content="tab\tok").content == "tab\tok"
