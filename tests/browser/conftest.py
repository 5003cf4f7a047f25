"""The whole stack (auth, history, an inference worker, a gateway serving the built
frontend) on a fresh RabbitMQ vhost and fresh PostgreSQL databases, driven by
Debian's Chromium through Playwright."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from e2e.stack import BOOTSTRAP_TOKEN, MODEL, Stack, broker_users, postgres_database, write_models_file
from playwright.sync_api import Page, expect

from parley_testkit import (
    FakeProvider,
    Script,
    ServiceProcess,
    TestIssuer,
    amqp_url_from_env,
    free_port,
    isolated_vhost,
)
from parley_testkit.browser import chromium_launch_args

ROOT = Path(__file__).resolve().parents[2]
STATIC_DIR = ROOT / "frontend" / "out"
ADMIN_EMAIL = "admin@browser.parley.dev"
# Auth seals provider keys with it and the worker opens them: both need the same value.
CATALOG_SECRET = "browser-catalogue-secret-of-at-least-32-characters"
PASSWORD = "correct horse battery staple"

# What the fake provider answers depends on a marker in the last user message, so
# that tests sharing one stack do not step on each other's scripts.
SLOW_WORDS = [f" word{i}" for i in range(80)]
MARKDOWN = [
    "Here is **code**:\n\n",
    "```python\n",
    "def add(a, b):\n",
    "    return a + b\n",
    "```\n\n",
    "| name | value |\n",
    "|---|---|\n",
    "| x | 1 |\n",
]


class ProviderScripts:
    """Per-prompt scripts: `[slow]` streams for seconds, `[md]` answers in Markdown,
    `[fail-once]` fails the first time it is asked, `[regen]` answers differently each time,
    `[echo] text` answers `text` (what a prompt injection could make a model write)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failed: set[str] = set()
        self._counter = itertools.count(1)

    def __call__(self, body: dict[str, Any]) -> Script:
        messages = body.get("messages") or []
        prompt = next((str(m.get("content", "")) for m in reversed(messages) if m.get("role") == "user"), "")
        if "[echo]" in prompt:
            text = prompt.split("[echo]", 1)[1].strip()
            return Script(tokens=[text[i : i + 16] for i in range(0, len(text), 16)], delay_s=0.01)
        if "[slow]" in prompt:
            return Script(tokens=["Slow", " answer:", *SLOW_WORDS, " end."], delay_s=0.08)
        if "[md]" in prompt:
            return Script(tokens=MARKDOWN, delay_s=0.02)
        if "[fail-once]" in prompt:
            with self._lock:
                first = prompt not in self._failed
                self._failed.add(prompt)
            if first:
                return Script(status=500)
        if "[regen]" in prompt:
            return Script(tokens=["Answer", f" number {next(self._counter)}", "."], delay_s=0.02)
        return Script(tokens=["Hello", " from", " the", " fake", " provider", "."], delay_s=0.03)


def _start_history(stack: Stack, database_url: str) -> str:
    """The history service on `database_url` (migrated here first): its base URL."""
    assert stack.auth is not None
    port = free_port()
    env = {
        "AMQP_URL": stack.service_urls["history"],
        "PARLEY_HISTORY_DATABASE_URL": database_url,
        "PARLEY_HISTORY_JWKS_URL": stack.auth.jwks_url,
        "PARLEY_HISTORY_PORT": str(port),
        "PARLEY_HISTORY_AUDIT_KEY": "parley-browser-history-audit-key-0123456789",
        # Titles stay the first words of the first prompt: the tests search and rename them.
        "PARLEY_HISTORY_TITLE_REQUESTS": "0",
    }
    migrate = subprocess.run(
        [sys.executable, "-m", "parley_history", "migrate"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stderr
    process = ServiceProcess([sys.executable, "-m", "parley_history", "serve"], env, name="history")
    process.start()
    url = f"http://127.0.0.1:{port}"
    process.wait_ready(f"{url}/readyz", timeout=30)
    stack.workers.append(process)  # stopped with the stack
    return url


@dataclass
class BrowserStack:
    stack: Stack
    provider: FakeProvider
    url: str


@pytest.fixture(scope="session")
def browser_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserStack]:
    if not (STATIC_DIR / "index.html").is_file():
        pytest.fail(f"{STATIC_DIR} is not built: run `cd frontend && npm ci && npx next build` first")
    with (
        isolated_vhost(amqp_url_from_env(), prefix="parley-browser") as vhost_url,
        broker_users(vhost_url),
        FakeProvider() as provider,
        postgres_database("parley_browser_auth") as auth_db,
        postgres_database("parley_browser_history") as history_db,
    ):
        provider.script = ProviderScripts()
        models_file = write_models_file(tmp_path_factory.mktemp("models") / "models.yaml", provider.base_url)
        stack = Stack(amqp_url=vhost_url, provider=provider, issuer=TestIssuer(), models_file=models_file)
        try:
            stack.start_auth(auth_db, PARLEY_ADMIN_EMAIL=ADMIN_EMAIL, PARLEY_CATALOG_SECRET=CATALOG_SECRET)
            history_url = _start_history(stack, history_db)
            stack.start_worker(PARLEY_CATALOG_SECRET=CATALOG_SECRET)
            gateway = stack.start_gateway(
                PARLEY_GATEWAY_STATIC_DIR=str(STATIC_DIR),
                PARLEY_GATEWAY_HISTORY_URL=history_url,
                PARLEY_GATEWAY_PROMPTS_PER_MINUTE="600",
            )
            stack.wait_models(gateway, workers=1)
            _register(gateway.http, ADMIN_EMAIL)  # with the bootstrap token: the admin
            yield BrowserStack(stack, provider, gateway.http)
        finally:
            stack.close()


def _register(base_url: str, email: str) -> None:
    body = {"email": email, "display_name": email.split("@", maxsplit=1)[0], "password": PASSWORD}
    if email == ADMIN_EMAIL:
        body["bootstrap_token"] = BOOTSTRAP_TOKEN
    request = urllib.request.Request(
        f"{base_url}/api/auth/register",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict[str, Any]:
    launch = chromium_launch_args()
    if launch is None:
        pytest.fail("Debian's chromium is not installed (apt-get install -y chromium)")
    return launch


@pytest.fixture(scope="session")
def base_url(browser_stack: BrowserStack) -> str:
    return browser_stack.url


@pytest.fixture
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": {"width": 1280, "height": 800}, "color_scheme": "light"}


@pytest.fixture(autouse=True)
def _expect_timeout(page: Page) -> None:
    expect.set_options(timeout=15_000)
    page.set_default_timeout(15_000)


@pytest.fixture(autouse=True)
def csp_violations(page: Page) -> Iterator[list[str]]:
    """What the pages' Content-Security-Policy refused during a test: every browser test fails
    on one, so that the whole suite proves the policy lets the app work. A test that provokes
    violations on purpose reads them and clears the list."""
    refused: list[str] = []
    page.on(
        "console",
        lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None,
    )
    yield refused
    assert refused == [], refused


def new_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}@browser.parley.dev"


def register_in_browser(page: Page, email: str | None = None) -> str:
    """Sign up through the UI and land on a new chat."""
    email = email or new_email()
    page.goto("/register/")
    page.get_by_label("Name").fill("Tess Tester")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="How can I help you today?")).to_be_visible()
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "open")
    # The fake provider's model (the picker remembers it for this browser context).
    page.get_by_label("Model").select_option(MODEL)
    return email


def log_out(page: Page) -> None:
    """Log out and wait for the app's own redirect to the login page, so that a later
    navigation does not race it."""
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login/"))


def login_in_browser(page: Page, email: str) -> None:
    page.goto("/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "open")


def send(page: Page, text: str) -> None:
    box = page.get_by_label("Message", exact=True)
    box.fill(text)
    box.press("Enter")


def last_answer(page: Page) -> Any:
    return page.locator('[data-role="assistant"]').last


def expect_whole_slow_answer_then_chat_on(page: Page, answer: Any) -> None:
    """A `[slow]` answer that lived through a broken connection ends whole, each word once,
    and the socket takes the next prompt."""
    expect(answer).to_contain_text("word79 end.", timeout=30_000)
    expect(answer).to_have_attribute("data-status", "done")
    text = answer.inner_text()
    assert text.count(" word40 ") == 1, text
    send(page, "Still there?")
    expect(last_answer(page)).to_contain_text("Hello from the fake provider.")
