"""deploy/docker/broker_users.py's plan, without a broker: the regular expressions it gives
RabbitMQ, and the URLs it refuses. (tests/e2e/test_broker_permissions.py applies it for real.)"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import sys
from types import ModuleType
from typing import Any

import pytest

from .conftest import ROOT

TABLE = ROOT / "deploy" / "rabbitmq" / "permissions.json"
STRONG = "a-random-password-of-32-characters"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "broker_users", ROOT / "deploy" / "docker" / "broker_users.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _table() -> dict[str, dict[str, Any]]:
    users: dict[str, dict[str, Any]] = json.loads(TABLE.read_text())["users"]
    return users


def test_patterns_match_exactly_the_names_listed() -> None:
    pattern = _script().pattern(["chat.events", "session.*"])
    assert re.fullmatch(pattern, "chat.events")
    assert re.fullmatch(pattern, "session.3f2a")
    # A dot is a dot, and nothing is matched by a prefix or a suffix alone.
    for other in ["chatXevents", "chat.events.spy", "spy.chat.events", "sessions", "audit.events"]:
        assert not re.fullmatch(pattern, other), other
    assert _script().pattern([]) == ""  # RabbitMQ: nothing at all


def test_the_gateways_grant_keeps_it_off_the_audit_stream_and_others_events() -> None:
    url = f"amqp://parley-gateway:{STRONG}@rabbitmq:5672/parley"
    grant = _script().grant("gateway", _table()["gateway"], url)
    assert grant.vhost == "parley"
    assert not re.fullmatch(grant.read, "audit.events")
    ((exchange, write, _read),) = grant.topics
    assert exchange == "chat.events"
    assert re.fullmatch(write, "prompt.submitted")
    for forged in ["completion.finished", "quota.restored", "catalog.updated", "user.access_changed"]:
        assert not re.fullmatch(write, forged), forged


@pytest.mark.parametrize("password", ["change-me", "parley", "guest", "short-password", ""])
def test_weak_or_placeholder_passwords_are_refused(password: str) -> None:
    with pytest.raises(SystemExit, match="password"):
        _script().grant("auth", _table()["auth"], f"amqp://parley-auth:{password}@rabbitmq:5672/")


def test_a_url_naming_another_services_user_is_refused() -> None:
    with pytest.raises(SystemExit, match="parley-inference"):
        _script().grant("inference", _table()["inference"], f"amqp://parley-auth:{STRONG}@rabbitmq:5672/")


def test_every_service_needs_its_url() -> None:
    with pytest.raises(SystemExit, match="PARLEY_BROKER_URL_HISTORY"):
        _script().grants(_table(), {s: f"amqp://x:{STRONG}@h/" for s in ["auth", "gateway", "inference"]})


def test_it_declares_the_audit_stream_as_the_services_do() -> None:
    """The set-up declares the stream no service may bind (every event type): with the same
    arguments as history's declaration, or one of the two would be refused."""
    from parley_contracts.topology import AUDIT_EVENTS, CHAT_EVENTS

    stream = _script().AUDIT_STREAM
    assert stream["queue"]["name"] == AUDIT_EVENTS.name
    assert stream["queue"]["arguments"] == AUDIT_EVENTS.declare_arguments()
    assert stream["exchange"] == {"name": CHAT_EVENTS.name, "type": CHAT_EVENTS.kind}
    assert [(b.exchange.name, b.routing_key) for b in AUDIT_EVENTS.bindings] == [
        (CHAT_EVENTS.name, stream["routing_key"])
    ]


def test_the_audit_stream_is_declared_through_the_management_api() -> None:
    """What the script sends (to a recorder on loopback): the exchange, the stream with its
    arguments, and the binding of every event type, on the vhost named, as the admin."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    calls: list[tuple[str, str, dict[str, Any], str]] = []

    class Recorder(BaseHTTPRequestHandler):
        def _record(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            calls.append((self.command, self.path, json.loads(body or b"{}"), self.headers["Authorization"]))
            self.send_response(204)
            self.end_headers()

        do_PUT = do_POST = _record

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        script = _script()
        script.declare_audit_stream(f"http://admin:{STRONG}@127.0.0.1:{server.server_port}", "parley/prod")
    finally:
        server.shutdown()
        server.server_close()
    stream = script.AUDIT_STREAM
    assert [(method, path, body) for method, path, body, _ in calls] == [
        ("PUT", "/api/exchanges/parley%2Fprod/chat.events", {"type": "topic", "durable": True}),
        (
            "PUT",
            "/api/queues/parley%2Fprod/audit.events",
            {"durable": True, "arguments": stream["queue"]["arguments"]},
        ),
        ("POST", "/api/bindings/parley%2Fprod/e/chat.events/q/audit.events", {"routing_key": "#"}),
    ]
    assert {auth for *_, auth in calls} == {"Basic " + base64.b64encode(f"admin:{STRONG}".encode()).decode()}
