"""A fresh RabbitMQ vhost per test run, so runs never see each other's queues; users of their
own on it, and publishing as one of them."""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol
from urllib.parse import SplitResult, quote, unquote, urlsplit, urlunsplit

import aio_pika

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
_CTL_TIMEOUT_S = 60.0
_HTTP_TIMEOUT_S = 10.0


def amqp_url_from_env() -> str:
    return os.environ.get("AMQP_URL", DEFAULT_AMQP_URL)


@contextmanager
def isolated_vhost(
    amqp_url: str, prefix: str = "parley-test", *, management_url: str | None = None
) -> Iterator[str]:
    """Create `{prefix}-{hex}`, grant the URL's user everything on it, yield its AMQP URL.

    Uses `rabbitmqctl` when it is on PATH and works, else the management HTTP
    API (`management_url`, default `http://HOST:15672`). The vhost is deleted
    on exit.
    """
    parts = urlsplit(amqp_url)
    user = unquote(parts.username or "guest")
    password = unquote(parts.password or "guest")
    vhost = f"{prefix}-{secrets.token_hex(6)}"
    admin = _create(vhost, user, password, parts, management_url)
    try:
        yield urlunsplit(parts._replace(path="/" + quote(vhost, safe="")))
    finally:
        admin.delete_vhost(vhost)


@contextmanager
def vhost_user(
    amqp_url: str, prefix: str = "parley-test-user", *, management_url: str | None = None
) -> Iterator[str]:
    """A new broker user with every right on the vhost of `amqp_url` (an administrator's URL):
    its AMQP URL. A test publishes as another service with it (`PARLEY_BROKER_USERS`). The user
    is deleted on exit (users are not per vhost)."""
    parts = urlsplit(amqp_url)
    vhost = unquote(parts.path.lstrip("/")) or "/"
    user, password = f"{prefix}-{secrets.token_hex(4)}", secrets.token_hex(16)
    admin = _admin(parts, management_url, lambda a: a.add_user(vhost, user, password))
    try:
        yield urlunsplit(
            parts._replace(netloc=f"{quote(user, safe='')}:{password}@{parts.hostname}:{parts.port or 5672}")
        )
    finally:
        admin.delete_user(user)


async def publish_as(amqp_url: str, body: bytes, *, routing_key: str, exchange: str = "") -> None:
    """Publish `body` as the user of `amqp_url`, naming that user as its sender (`user_id`, which
    RabbitMQ checks): as a service of that user does. `exchange` "" is the default exchange
    (`routing_key` is then a queue's name)."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        target = await channel.get_exchange(exchange, ensure=False) if exchange else channel.default_exchange
        user_id = unquote(urlsplit(amqp_url).username or "guest")
        message = aio_pika.Message(body, content_type="application/json", user_id=user_id)
        await target.publish(message, routing_key=routing_key)


def cut_connections(amqp_url: str, reason: str) -> bool:
    """Close every client connection to the URL's vhost, as a broker fault would (through
    `rabbitmqctl`); False when `rabbitmqctl` is not on PATH (the caller skips)."""
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        return False
    vhost = unquote(urlsplit(amqp_url).path.lstrip("/"))
    subprocess.run(
        [ctl, "-q", "close_all_connections", "--vhost", vhost, reason],
        check=True,
        capture_output=True,
        timeout=_CTL_TIMEOUT_S,
    )
    return True


class _Admin(Protocol):
    def add_vhost(self, vhost: str, user: str) -> None: ...

    def delete_vhost(self, vhost: str) -> None: ...

    def add_user(self, vhost: str, user: str, password: str) -> None: ...

    def delete_user(self, user: str) -> None: ...


def _create(vhost: str, user: str, password: str, parts: SplitResult, management_url: str | None) -> _Admin:
    return _admin(parts, management_url, lambda admin: admin.add_vhost(vhost, user), what=f"vhost {vhost!r}")


def _admin(
    parts: SplitResult, management_url: str | None, first: Callable[[_Admin], None], *, what: str = "a user"
) -> _Admin:
    """The first of `rabbitmqctl` and the management API that can do `first`."""
    admins: list[_Admin] = []
    ctl = shutil.which("rabbitmqctl")
    if ctl is not None:
        admins.append(_CtlAdmin(ctl))
    base = management_url or f"http://{parts.hostname or '127.0.0.1'}:15672"
    admins.append(
        _HttpAdmin(base.rstrip("/"), unquote(parts.username or "guest"), unquote(parts.password or "guest"))
    )
    failures: list[str] = []
    for admin in admins:
        try:
            first(admin)
        except RuntimeError as exc:
            failures.append(str(exc))
            continue
        return admin
    raise RuntimeError(
        f"cannot create RabbitMQ {what}: neither rabbitmqctl nor the management API "
        "worked:\n  " + "\n  ".join(failures)
    )


class _CtlAdmin:
    def __init__(self, executable: str) -> None:
        self._executable = executable

    def add_vhost(self, vhost: str, user: str) -> None:
        self._run("add_vhost", vhost)
        self._grant_all(vhost, user, undo=lambda: self.delete_vhost(vhost))

    def delete_vhost(self, vhost: str) -> None:
        self._run("delete_vhost", vhost)

    def add_user(self, vhost: str, user: str, password: str) -> None:
        self._run("add_user", user, password)
        self._grant_all(vhost, user, undo=lambda: self.delete_user(user))

    def _grant_all(self, vhost: str, user: str, *, undo: Callable[[], None]) -> None:
        """Every right on `vhost` to `user`; when that fails, `undo()` what was just added."""
        try:
            self._run("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
        except RuntimeError:
            undo()
            raise

    def delete_user(self, user: str) -> None:
        self._run("delete_user", user)

    def _run(self, *args: str) -> None:
        try:
            done = subprocess.run(
                [self._executable, "-q", *args],
                capture_output=True,
                text=True,
                timeout=_CTL_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RuntimeError(f"rabbitmqctl {args[0]}: {exc}") from exc
        if done.returncode != 0:
            output = (done.stderr or done.stdout).strip()
            raise RuntimeError(f"rabbitmqctl {args[0]} exited {done.returncode}: {output}")


class _HttpAdmin:
    def __init__(self, base_url: str, user: str, password: str) -> None:
        self._base_url = base_url
        credentials = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        self._authorization = f"Basic {credentials}"

    def add_vhost(self, vhost: str, user: str) -> None:
        self._call("PUT", f"/api/vhosts/{quote(vhost, safe='')}", b"{}")
        self._grant_all(vhost, user, undo=lambda: self.delete_vhost(vhost))

    def delete_vhost(self, vhost: str) -> None:
        self._call("DELETE", f"/api/vhosts/{quote(vhost, safe='')}", None)

    def add_user(self, vhost: str, user: str, password: str) -> None:
        body = json.dumps({"password": password, "tags": ""}).encode()
        self._call("PUT", f"/api/users/{quote(user, safe='')}", body)
        self._grant_all(vhost, user, undo=lambda: self.delete_user(user))

    def _grant_all(self, vhost: str, user: str, *, undo: Callable[[], None]) -> None:
        permissions = b'{"configure": ".*", "write": ".*", "read": ".*"}'
        try:
            self._call("PUT", f"/api/permissions/{quote(vhost, safe='')}/{quote(user, safe='')}", permissions)
        except RuntimeError:
            undo()
            raise

    def delete_user(self, user: str) -> None:
        self._call("DELETE", f"/api/users/{quote(user, safe='')}", None)

    def _call(self, method: str, path: str, body: bytes | None) -> None:
        request = urllib.request.Request(
            self._base_url + path,
            data=body,
            method=method,
            headers={"Authorization": self._authorization, "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=_HTTP_TIMEOUT_S):
                pass
        except (urllib.error.URLError, OSError) as exc:
            raise RuntimeError(f"management API {method} {self._base_url}{path}: {exc}") from exc
