from pathlib import Path

from parley_platform.asyncapi import render

DOCUMENT = Path(__file__).resolve().parents[3] / "docs" / "asyncapi.yaml"


def test_committed_asyncapi_document_is_current() -> None:
    assert DOCUMENT.exists(), "docs/asyncapi.yaml is missing: run `make asyncapi`"
    assert DOCUMENT.read_text() == render(), "docs/asyncapi.yaml is stale: run `make asyncapi`"


def test_document_names_every_channel() -> None:
    text = render()
    for channel in ("chat.events:prompt.submitted", "session.{session_id}:token.delta", "chat.control"):
        assert channel in text
