"""Property-based API testing through the public origin: schemathesis generates
requests from the auth and history services' own OpenAPI documents (fetched
from each service) but sends them to the gateway, which proxies `/api/auth/*`
and `/api/history/*` to the real services on the real PostgreSQL and RabbitMQ.

Each document is run as a plain user and as an admin. Every answer that comes
back through the proxy must be what the service documents: never a 5xx (the
proxy's own 502/503/413 included), the documented status codes, content types
and response schemas, and an operation that declares `security` must refuse the
same request without the token (`ignored_auth`). The services' own schemathesis
tests prove the services; this proves that the proxy passes them on intact
(its path, query, header and body handling, its streaming of the answer).
The CLI is used: the pytest plugin does not support this pytest."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from parley_testkit import FakeProvider, TestIssuer

from .stack import Stack, platform
from .test_accounts import ADMIN_EMAIL, register_and_login
from .test_cross_user import _chat, _until_stored

MAX_EXAMPLES = 15
# As in the services' own tests: the coverage phase is left out (under CPU load its time budget
# reaches a path where schemathesis 4.32 itself crashes, an internal error, not a finding), and
# the stateful phase (following the document's links) runs for history only.
PHASES = {"auth": "examples,fuzzing", "history": "examples,fuzzing,stateful"}
CATALOG_SECRET = "e2e-fuzz-catalog-secret-of-at-least-32-characters"
CONFIG = """\
# Every check but two, as in the services' own schemathesis tests: positive_data_acceptance
# (business rules such as the password policy or the project limit refuse some schema-valid
# input by design) and allow_header_conformance (Starlette's 405 `Allow` names only the
# methods of the first route matching a path).
# Set here, not as options: an option would override the per-operation settings below.
[checks]
positive_data_acceptance.enabled = false
allow_header_conformance.enabled = false

# Every operation naming a conversation gets the caller's (until a DELETE removes it), so that
# PATCH and export run on a real message tree rather than only 404.
[parameters]
conversation_id = "{conversation_id}"
"""
OPERATIONS = {
    "auth": """
# Ids seen in earlier answers are not tried here: the admin's run would find the other callers
# in `GET /users` and disable them (every run has a caller of its own, in one database).
[[operations]]
include-path = "/api/auth/users/{{user_id}}"
phases.examples.extra-data-sources.responses = false
phases.fuzzing.extra-data-sources.responses = false
""",
    "history": "",
}


@pytest.fixture(scope="module")
def fuzz_stack(
    vhost_url: str, provider: FakeProvider, issuer: TestIssuer, models_file: Path
) -> Iterator[Stack]:
    """Auth and history on their own databases, a worker (to seed a real chat), a gateway."""
    stack = Stack(amqp_url=vhost_url, provider=provider, issuer=issuer, models_file=models_file)
    with platform(
        "fuzz",
        stack,
        # With a catalogue secret, as deployed: without one, a provider API key is refused 503.
        auth_env={
            "PARLEY_ADMIN_EMAIL": ADMIN_EMAIL,
            "PARLEY_CATALOG_SECRET": CATALOG_SECRET,
            "PARLEY_AUTH_LOG_LEVEL": "WARNING",
        },
        history_env={"PARLEY_HISTORY_TITLE_REQUESTS": "false", "PARLEY_HISTORY_LOG_LEVEL": "WARNING"},
        worker_env={"PARLEY_CATALOG_SECRET": CATALOG_SECRET},
        gateway_env={"PARLEY_GATEWAY_LOG_LEVEL": "WARNING"},
    ):
        yield stack


@dataclass(frozen=True)
class Caller:
    token: str
    conversation_id: str
    """A conversation of the caller's, with a real message tree, for the operations naming one."""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def callers(fuzz_stack: Stack) -> AsyncIterator[dict[str, Caller]]:
    """An admin and a plain user, each with a chat, a project and a saved prompt (so that list
    routes answer with items too)."""
    gateway = fuzz_stack.gateways[0]
    found: dict[str, Caller] = {}
    for role, email in (("admin", ADMIN_EMAIL), ("user", None)):
        account = await register_and_login(gateway, email)
        socket, accepted = await _chat(gateway, account.access_token, f"Fuzz me, I am the {role}")
        await socket.close()
        headers = {"Authorization": f"Bearer {account.access_token}"}
        async with httpx.AsyncClient(base_url=gateway.http, timeout=10, headers=headers) as http:
            project = await http.post("/api/history/projects", json={"name": f"Fuzz {role}"})
            assert project.status_code == 201, project.text
            prompt = await http.post(
                "/api/history/prompts", json={"name": "Fuzz", "text": "Hi", "tags": ["x"]}
            )
            assert prompt.status_code == 201, prompt.text
            await _until_stored(http, account.access_token, accepted["conversation_id"])
        found[role] = Caller(account.access_token, accepted["conversation_id"])
    yield found


@pytest.mark.parametrize("role", ["user", "admin"])
@pytest.mark.parametrize("service", ["auth", "history"])
def test_schemathesis_through_the_gateway(
    fuzz_stack: Stack, callers: dict[str, Caller], service: str, role: str, tmp_path: Path
) -> None:
    upstream = fuzz_stack.auth if service == "auth" else fuzz_stack.history
    assert upstream is not None
    gateway = fuzz_stack.gateways[0]
    caller = callers[role]
    # The document as the service serves it (only its routes); the requests go to the gateway.
    schema = tmp_path / f"{service}.json"
    schema.write_bytes(httpx.get(f"{upstream.http}/openapi.json", timeout=10).content)
    config = tmp_path / "schemathesis.toml"
    config.write_text((CONFIG + OPERATIONS[service]).format(conversation_id=caller.conversation_id))
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run", str(schema),
        "--url", gateway.http,
        # `/healthz`, `/readyz` and `/metrics` at the public origin are the gateway's own
        # (with answers of their own): only the service's routes, which the gateway proxies.
        "--include-path-regex", "^/api/",
        # A sign-out ends the caller's session everywhere at once (its token too): the runs
        # share their callers, so it is left to the services' own fuzzing and the e2e tests.
        "--exclude-path", "/api/auth/logout",
        # The checks: CONFIG's (an option here would override its per-operation settings).
        "--max-examples", str(MAX_EXAMPLES), "--seed", "1", "--generation-deterministic",
        "--phases", PHASES[service], "--workers", "2", "--request-timeout", "10",
        "--header", f"Authorization: Bearer {caller.token}", "--no-color", "--suppress-health-check", "all",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=150, check=False)
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-2000:]
    # No run locks another out: every caller is still served, with its role.
    for name, other in callers.items():
        me = httpx.get(f"{gateway.http}/api/auth/me", headers={"Authorization": f"Bearer {other.token}"})
        assert (me.status_code, me.json().get("role")) == (200, name), me.text
    for process in (gateway.process, upstream.process):
        assert "Traceback" not in process.log_text(), process.log_text()[-4000:]
