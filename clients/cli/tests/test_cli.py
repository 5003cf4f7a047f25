import pytest

from parley_cli.__main__ import _summary, main
from parley_cli.session import Answer, ws_url


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("http://127.0.0.1:8000", "ws://127.0.0.1:8000/ws"),
        ("http://127.0.0.1:8000/", "ws://127.0.0.1:8000/ws"),
        ("https://chat.example.org", "wss://chat.example.org/ws"),
        ("ws://host:1/ws", "ws://host:1/ws"),
        ("wss://host", "wss://host/ws"),
    ],
)
def test_ws_url(base: str, expected: str) -> None:
    assert ws_url(base) == expected


def test_summary_names_reason_usage_and_speed() -> None:
    answer = Answer(
        message_id="m",
        conversation_id="c",
        text="hi",
        finish_reason="stop",
        usage={"prompt_tokens": 3, "completion_tokens": 7},
        metrics={"ttft_ms": 120.4, "tokens_per_s": 55.55},
    )
    assert _summary(answer) == "\n[stop; 3 + 7 tokens; first token 120 ms; 55.5 tokens/s]\n"


def test_summary_without_figures() -> None:
    answer = Answer("m", "c", "", "cancelled", {}, {})
    assert _summary(answer) == "\n[cancelled]\n"


def test_missing_token_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PARLEY_TOKEN", raising=False)
    assert main(["chat", "hello"]) == 2
    assert "no access token" in capsys.readouterr().err


def test_unreachable_gateway_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--url", "http://127.0.0.1:9", "chat", "--token", "t", "--model", "m", "hello"])
    assert code == 1
    err = capsys.readouterr().err
    assert "cannot connect to ws://127.0.0.1:9/ws" in err
    assert "Traceback" not in err
