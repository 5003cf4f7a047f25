"""Create each service's RabbitMQ user with the permissions of deploy/rabbitmq/permissions.json.

Every service connects with an AMQP URL of its own (amqp://user:password@host:5672/vhost); this
script makes the URL's user, with that password, on that vhost, allowed only what the table grants
the service. Run once at deployment (compose's `rabbitmq-users`, the chart's hook Job) and by the
end-to-end tests; applying it again updates passwords and permissions in place. Through the
management API it also declares the audit stream (`AUDIT_STREAM`) on each vhost, so that it keeps
every event from the first one on: no service that publishes events may bind every event type.

    PARLEY_BROKER_URL_GATEWAY=amqp://... (one per service in the table, or in --services)
    RABBITMQ_MANAGEMENT_URL=http://admin:password@rabbitmq:15672   (or --rabbitmqctl)
    python broker_users.py permissions.json [--rabbitmqctl] [--services=auth,gateway]

Standard library only: it runs in any of the services' images.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

URL_VARIABLE = "PARLEY_BROKER_URL_{service}"
AUDIT_STREAM: dict[str, Any] = {
    "exchange": {"name": "chat.events", "type": "topic"},
    "queue": {
        "name": "audit.events",
        "arguments": {"x-queue-type": "stream", "x-max-age": "30D", "x-max-length-bytes": 20 * 1024**3},
    },
    "routing_key": "#",
}
"""The audit stream as parley_contracts.topology.AUDIT_EVENTS declares it (a deploy test checks)."""
PLACEHOLDERS = {"change-me", "parley", "guest", "password", "secret"}
MIN_PASSWORD_LENGTH = 16


@dataclass(frozen=True)
class Grant:
    """One service's user on one vhost: what `rabbitmqctl set_permissions` and
    `set_topic_permissions` take, as anchored regular expressions ("" grants nothing)."""

    service: str
    user: str
    password: str
    vhost: str
    configure: str
    write: str
    read: str
    topics: tuple[tuple[str, str, str], ...]
    """(exchange, write, read) per topic exchange."""


def pattern(names: list[str]) -> str:
    """The regular expression matching exactly `names`; a trailing `*` matches any rest."""
    if not names:
        return ""
    alternatives = [re.escape(n[:-1]) + ".*" if n.endswith("*") else re.escape(n) for n in names]
    return "^(" + "|".join(alternatives) + ")$"


def load_table(path: Path) -> dict[str, dict[str, Any]]:
    users: dict[str, dict[str, Any]] = json.loads(path.read_text())["users"]
    return users


def grant(service: str, entry: dict[str, Any], amqp_url: str, *, user_suffix: str = "") -> Grant:
    """The grant of `service` for the user, password and vhost its URL names. The URL's user
    must be the table's (a typo would otherwise leave the service with another's rights);
    `user_suffix` (tests on a shared broker) is appended to the table's."""
    parts = urlsplit(amqp_url)
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    expected = entry["user"] + user_suffix
    if user != expected:
        raise SystemExit(f"{service}: the AMQP URL's user is {user!r}, the table's {expected!r}")
    if password.lower() in PLACEHOLDERS or len(password) < MIN_PASSWORD_LENGTH:
        raise SystemExit(
            f"{service}: set a random password of at least {MIN_PASSWORD_LENGTH} characters in its AMQP URL"
        )
    topics = tuple(
        (exchange, pattern(rule.get("write", [])), pattern(rule.get("read", [])))
        for exchange, rule in entry.get("topics", {}).items()
    )
    return Grant(
        service=service,
        user=user,
        password=password,
        vhost=unquote(parts.path[1:]) or "/",
        configure=pattern(entry["configure"]),
        write=pattern(entry["write"]),
        read=pattern(entry["read"]),
        topics=topics,
    )


def grants(table: dict[str, dict[str, Any]], urls: dict[str, str], *, user_suffix: str = "") -> list[Grant]:
    missing = sorted(set(table) - set(urls))
    if missing:
        names = ", ".join(URL_VARIABLE.format(service=s.upper()) for s in missing)
        raise SystemExit(f"no AMQP URL in {names}")
    return [
        grant(service, entry, urls[service], user_suffix=user_suffix)
        for service, entry in sorted(table.items())
    ]


def apply_rabbitmqctl(grant: Grant, ctl: str = "rabbitmqctl") -> None:
    """The grant through `rabbitmqctl` on this host (the broker's node)."""

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([ctl, "-q", *args], capture_output=True, text=True, check=check)

    if run("add_user", grant.user, grant.password, check=False).returncode != 0:
        run("change_password", grant.user, grant.password)
    run("set_permissions", "-p", grant.vhost, grant.user, grant.configure, grant.write, grant.read)
    run("clear_topic_permissions", "-p", grant.vhost, grant.user, check=False)
    for exchange, write, read in grant.topics:
        run("set_topic_permissions", "-p", grant.vhost, grant.user, exchange, write, read)


def wait_for_management(management_url: str, *, timeout_s: float = 120.0) -> None:
    """Until the management API answers (it starts a little after the AMQP port)."""
    parts = urlsplit(management_url)
    url = f"{parts.scheme}://{parts.hostname}:{parts.port or 15672}{parts.path.rstrip('/')}/api/overview"
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            urllib.request.urlopen(url, timeout=5).close()
            return
        except urllib.error.HTTPError:
            return  # it answers (401 without credentials)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)


def management_api(management_url: str) -> Callable[[str, str, dict[str, Any] | None], None]:
    """A caller of the management HTTP API (`http://admin:password@host:15672`)."""
    parts = urlsplit(management_url)
    base = f"{parts.scheme}://{parts.hostname}:{parts.port or 15672}{parts.path.rstrip('/')}/api"
    login = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
    auth = "Basic " + base64.b64encode(login.encode()).decode()

    def call(method: str, path: str, body: dict[str, Any] | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{base}{path}", data=data, method=method)
        request.add_header("Authorization", auth)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10):
            pass

    return call


def declare_audit_stream(management_url: str, vhost: str) -> None:
    """`AUDIT_STREAM` on `vhost`, with the administrator's rights (declaring what exists is a no-op)."""
    call, at = management_api(management_url), quote(vhost, safe="")
    exchange, queue = AUDIT_STREAM["exchange"], AUDIT_STREAM["queue"]
    call("PUT", f"/exchanges/{at}/{exchange['name']}", {"type": exchange["type"], "durable": True})
    call("PUT", f"/queues/{at}/{queue['name']}", {"durable": True, "arguments": queue["arguments"]})
    binding = {"routing_key": AUDIT_STREAM["routing_key"]}
    call("POST", f"/bindings/{at}/e/{exchange['name']}/q/{queue['name']}", binding)


def apply_management(grant: Grant, management_url: str) -> None:
    """The grant through the management HTTP API (`http://admin:password@host:15672`)."""
    call = management_api(management_url)
    vhost, user = quote(grant.vhost, safe=""), quote(grant.user, safe="")

    call("PUT", f"/users/{user}", {"password": grant.password, "tags": ""})
    permissions = {"configure": grant.configure, "write": grant.write, "read": grant.read}
    call("PUT", f"/permissions/{vhost}/{user}", permissions)
    try:
        call("DELETE", f"/topic-permissions/{vhost}/{user}", None)
    except urllib.error.HTTPError as exc:
        if exc.code != 404:
            raise
    for exchange, write, read in grant.topics:
        call(
            "PUT", f"/topic-permissions/{vhost}/{user}", {"exchange": exchange, "write": write, "read": read}
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("table", type=Path, help="deploy/rabbitmq/permissions.json")
    parser.add_argument("--rabbitmqctl", action="store_true", help="use rabbitmqctl on this host")
    parser.add_argument("--user-suffix", default="", help="appended to the table's user names (tests)")
    parser.add_argument("--services", default="", help="comma-separated: only these (default: every one)")
    args = parser.parse_args()
    table = load_table(args.table)
    if args.services:
        unknown = set(args.services.split(",")) - set(table)
        if unknown:
            raise SystemExit(f"not in the table: {', '.join(sorted(unknown))}")
        table = {service: table[service] for service in args.services.split(",")}
    variables = {service: URL_VARIABLE.format(service=service.upper()) for service in table}
    urls = {service: os.environ[name] for service, name in variables.items() if name in os.environ}
    planned = grants(table, urls, user_suffix=args.user_suffix)
    if not args.rabbitmqctl:
        wait_for_management(os.environ["RABBITMQ_MANAGEMENT_URL"])
    for item in planned:
        if args.rabbitmqctl:
            apply_rabbitmqctl(item)
        else:
            apply_management(item, os.environ["RABBITMQ_MANAGEMENT_URL"])
        sys.stdout.write(f"ok {item.service}: user {item.user} on vhost {item.vhost}\n")
    if not args.rabbitmqctl:  # rabbitmqctl declares nothing: its caller declares the stream
        for vhost in sorted({item.vhost for item in planned}):
            declare_audit_stream(os.environ["RABBITMQ_MANAGEMENT_URL"], vhost)
            sys.stdout.write(f"ok the audit stream on vhost {vhost}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
