"""`make dev` runs the stack with the local model; `parley chat` streams an answer through it, and
the conversation shows in history; a stranger gets no session after the admin logged in."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from parley_testkit import ServiceProcess, free_port

ROOT = Path(__file__).resolve().parents[2]


def test_make_dev_streams_an_answer_to_the_terminal_client(vhost_url: str, tmp_path: Path) -> None:
    port = free_port()
    dev = ServiceProcess(
        [sys.executable, str(ROOT / "scripts" / "dev.py")],
        {
            "AMQP_URL": vhost_url,
            "PORT": str(port),
            "PARLEY_MODELS_FILE": "",
            "PARLEY_LOCAL_MODEL_PORT": str(free_port()),
            # The auth database and the development account live here, not in the user's state dir.
            "XDG_STATE_HOME": str(tmp_path / "state"),
        },
        name="make-dev",
    )
    with dev:
        dev.wait_log("development access token", timeout=60)
        match = re.search(r"development access token \(12 h, user dev@parley\.dev\): (\S+)", dev.log_text())
        assert match, dev.log_text()
        url, token = f"http://127.0.0.1:{port}", match.group(1)
        cli = [sys.executable, "-m", "parley_cli", "--url", url, "chat", "--token", token]
        chat = subprocess.run(
            [*cli, "--max-tokens", "16", "Say hello"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        conversations = _history(url, token)
        stranger = _as_a_stranger_after_the_admin_logged_in(url, tmp_path / "state" / "parley")
        built = (ROOT / "frontend" / "out" / "index.html").exists()  # `make test` builds it first
        home = ""
        if built:
            with urllib.request.urlopen(f"{url}/", timeout=5) as response:
                home = response.read().decode()
    assert chat.returncode == 0, chat.stderr
    answer, _, summary = chat.stdout.rpartition("\n[")
    assert answer.strip(), chat.stdout
    assert summary.startswith(("stop; ", "length; ")), chat.stdout
    assert conversations, "the chat never appeared in history"
    # A new browser (no cookie) once got the session of whoever had logged in last.
    assert stranger == {"/api/auth/refresh": 401, "/api/auth/logout": 401}, stranger
    if built:
        assert "<title>Parley</title>" in home, home[:500]


def _as_a_stranger_after_the_admin_logged_in(url: str, state: Path) -> dict[str, int]:
    """The admin logs in through the gateway (as a browser would, getting the refresh cookie);
    then a client with no cookie at all asks to refresh and to log out: the statuses."""
    account = json.loads((state / "dev-account.json").read_text())
    login = urllib.request.Request(
        f"{url}/api/auth/login",
        data=json.dumps({"email": account["email"], "password": account["password"]}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(login, timeout=10) as response:
        assert "parley_refresh=" in response.headers["Set-Cookie"]
    statuses = {}
    for path in ("/api/auth/refresh", "/api/auth/logout"):
        try:
            with urllib.request.urlopen(
                urllib.request.Request(f"{url}{path}", method="POST"), timeout=10
            ) as answer:
                statuses[path] = answer.status
        except urllib.error.HTTPError as refused:
            statuses[path] = refused.code
    return statuses


def _history(url: str, token: str, timeout: float = 15) -> list[dict[str, Any]]:
    """The dev user's conversations, through the gateway, once history has one."""
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(
        f"{url}/api/history/conversations", headers={"Authorization": f"Bearer {token}"}
    )
    while True:
        with urllib.request.urlopen(request, timeout=5) as response:
            body = json.load(response)
        items: list[dict[str, Any]] = body["items"] if isinstance(body, dict) else body
        if items or time.monotonic() > deadline:
            return items
        time.sleep(0.2)


def test_make_dev_names_the_broker_when_it_does_not_answer() -> None:
    closed = f"amqp://guest:guest@127.0.0.1:{free_port()}/"
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "dev.py")],
        env={"AMQP_URL": closed, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert f"AMQP_URL={closed}" in result.stderr
    assert "Traceback" not in result.stderr
