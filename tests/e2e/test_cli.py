"""`parley chat` against the stack: streamed output, conversations, stop on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from parley_testkit import FakeProvider, Script

from .stack import MODEL, Stack

SHORT = ["Short ", "answer."]
LONG = [f"long{i} " for i in range(200)]


def _script(request: dict[str, Any]) -> Script:
    last = request["messages"][-1]["content"]
    if "long" in last:
        return Script(tokens=LONG, delay_s=0.05)
    return Script(tokens=SHORT)


def _cli(stack: Stack, *args: str) -> list[str]:
    url = stack.gateways[0].http
    return [
        sys.executable,
        "-m",
        "parley_cli",
        "--url",
        url,
        "chat",
        "--token",
        stack.token("cli-user"),
        "--model",
        MODEL,
        *args,
    ]


class _Output:
    """Collects a child's stdout from a thread, so the test can wait on it."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.text = ""
        self._proc = proc
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        while chunk := os.read(self._proc.stdout.fileno(), 4096):
            self.text += chunk.decode(errors="replace")

    def wait_for(self, needle: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text:
            assert time.monotonic() < deadline, f"{needle!r} never appeared in: {self.text!r}"
            time.sleep(0.02)


def test_one_prompt_streams_the_answer(stack: Stack, provider: FakeProvider) -> None:
    provider.script = _script
    result = subprocess.run(
        _cli(stack, "--system", "be brief", "--temperature", "0.2", "Say hello"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Short answer.")
    assert "[stop; " in result.stdout
    body = provider.requests[-1].body
    assert body["messages"][0] == {"role": "system", "content": "be brief"}
    assert body["temperature"] == 0.2


def test_interactive_conversation_and_ctrl_c_stops_the_answer(stack: Stack, provider: FakeProvider) -> None:
    provider.script = _script
    with subprocess.Popen(
        _cli(stack), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    ) as proc:
        assert proc.stdin is not None
        out = _Output(proc)
        try:
            proc.stdin.write(b"a long answer please\n")
            proc.stdin.flush()
            out.wait_for("long3 ")
            proc.send_signal(signal.SIGINT)
            out.wait_for("[cancelled")

            proc.stdin.write(b"and now a short one\n")
            proc.stdin.flush()
            out.wait_for("Short answer.")
            out.wait_for("[stop; ")
            proc.stdin.close()
            assert proc.wait(timeout=20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    assert "long199" not in out.text
    second = provider.requests[-1].body["messages"]
    assert [m["role"] for m in second] == ["user", "assistant", "user"]
    assert second[1]["content"].startswith("long0 long1 long2 long3 ")


def test_a_bad_token_is_a_clear_message(stack: Stack) -> None:
    url = stack.gateways[0].http
    result = subprocess.run(
        [sys.executable, "-m", "parley_cli", "--url", url, "chat", "--token", "not-a-jwt", "hi"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "invalid_token" in result.stderr
    assert "Traceback" not in result.stderr
