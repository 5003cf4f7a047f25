"""deploy/docker/broker_users.py's plan, without a broker: the regular expressions it gives
RabbitMQ, and the URLs it refuses. (tests/e2e/test_broker_permissions.py applies it for real.)"""

from __future__ import annotations

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
