from __future__ import annotations

from uuid import uuid4

import pytest

from parley_contracts import UnsupportedEvent
from parley_history import services
from parley_history.domain.conversations import TitleRequest
from tests.events import prompt


def test_decode_refuses_unknown_versions_types_and_garbage() -> None:
    body = prompt("u1", "hi").to_json()
    assert services.decode(body).type == "prompt.submitted"
    with pytest.raises(UnsupportedEvent, match="unsupported version"):
        services.decode(body.replace(b'"version":1', b'"version":9'))
    with pytest.raises(UnsupportedEvent, match="not JSON"):
        services.decode(b"{nope")
    with pytest.raises(UnsupportedEvent, match="unknown event type"):
        services.decode(b'{"type": "made.up", "version": 1}')
    with pytest.raises(UnsupportedEvent, match="does not consume"):
        services.decode(b'{"type":"user.registered","user_id":"u","email":"a@b","display_name":"A"}')


def test_a_title_request_is_a_prompt_marked_as_such() -> None:
    request = TitleRequest(uuid4(), "u1", "m", uuid4(), "What is Rust?", "A language.")
    event = services.title_prompt(request, reply_to="history.titles")
    assert event.purpose == "title"
    assert event.message_id == request.message_id
    assert event.conversation_id == request.conversation_id
    assert event.reply_to == "history.titles"
    assert "What is Rust?" in event.messages[-1].content
    assert event.messages[0].role == "system"
