"""`make dev`: run the auth and history services, a gateway and an inference worker on this machine.

The worker serves the models of `PARLEY_MODELS_FILE`; when it is unset, the
default local model (SmolLM2-135M-Instruct through llama.cpp's OpenAI-compatible
server, see `parley_localmodel`) is started and served.

The auth and history services keep their data in SQLite files in a per-user
state directory (`$XDG_STATE_HOME/parley`, else `~/.local/state/parley`; never
in the repository), migrated at each start. The gateway trusts auth's JWKS and
routes `/api/auth/*` and `/api/history/*` to them. A development account is registered (or logged in) through
the gateway, and its access token is printed; its password is kept in the state
directory (`dev-account.json`, readable by you only).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import aio_pika

import parley_localmodel as local_model
from parley_platform.settings import DEFAULT_AMQP_URL

log = logging.getLogger("parley.dev")
DEFAULT_LOCAL_MODEL_PORT = 8081
DEV_EMAIL = "dev@parley.dev"
DEV_ACCESS_TTL_S = 12 * 3600
"""The printed token is meant for a terminal session; browsers refresh theirs."""
FRONTEND_OUT = Path(__file__).resolve().parents[1] / "frontend" / "out"
"""The browser app's static export (`make frontend`), served by the gateway at `/`."""


def _check_broker(url: str) -> None:
    async def connect() -> None:
        connection = await aio_pika.connect(url, timeout=5)
        await connection.close()

    try:
        asyncio.run(connect())
    except Exception as exc:
        sys.exit(
            f"RabbitMQ does not answer at AMQP_URL={url} ({exc.__class__.__name__}: {exc}).\n"
            "Start it (for example `rabbitmq-server -detached`) or set AMQP_URL."
        )


def _local_models_file(port: int) -> Path:
    path = Path(tempfile.mkdtemp(prefix="parley-dev-")) / "models.yaml"
    path.write_text(
        "models:\n"
        f"  - name: {local_model.MODEL_ALIAS}\n"
        f"    base_url: http://127.0.0.1:{port}/v1\n"
        f"    model: {local_model.MODEL_ALIAS}\n"
        "    max_tokens: 512\n"
        "    context_window: 2048\n"
        "    concurrency: 1\n"  # the server answers one request at a time
        "    extra:\n"
        "      repeat_penalty: 1.1\n"
    )
    return path


def _wait_ready(url: str, procs: list[subprocess.Popen[bytes]], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            return False
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def _state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    path = Path(base) / "parley"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _post_json(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        try:
            detail: dict[str, Any] = json.load(error)
        except ValueError:
            detail = {}
        return error.code, detail


def _dev_access_token(base: str, state: Path) -> str | None:
    """Register the development account through the gateway (or log in to it); its access token."""
    account_file = state / "dev-account.json"
    if account_file.exists():
        password = str(json.loads(account_file.read_text())["password"])
    else:
        password = secrets.token_urlsafe(18)
        status, body = _post_json(
            f"{base}/api/auth/register",
            {"email": DEV_EMAIL, "display_name": "Developer", "password": password},
        )
        if status != 201:
            log.error("registering %s failed (%d): %s", DEV_EMAIL, status, body.get("detail"))
            if status == 409:
                log.error("the account exists but %s is gone; remove %s to start over", account_file, state)
            return None
        account_file.touch(mode=0o600)
        account_file.write_text(json.dumps({"email": DEV_EMAIL, "password": password}) + "\n")
        log.info("registered the development account %s (password in %s)", DEV_EMAIL, account_file)
    status, body = _post_json(f"{base}/api/auth/login", {"email": DEV_EMAIL, "password": password})
    if status != 200:
        log.error("logging in as %s failed (%d): %s", DEV_EMAIL, status, body.get("detail"))
        return None
    return str(body["access_token"])


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _wait_models(base: str, procs: list[subprocess.Popen[bytes]], timeout: float = 30) -> list[str]:
    """The models live workers serve, once the first heartbeat reached the gateway."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and all(p.poll() is None for p in procs):
        try:
            with urllib.request.urlopen(f"{base}/api/models", timeout=2) as response:
                names = [str(m["name"]) for m in json.load(response)["models"]]
        except (OSError, ValueError, KeyError):
            names = []
        if names:
            return names
        time.sleep(0.2)
    return []


def _local_model(procs: list[subprocess.Popen[bytes]]) -> str | None:
    """Start the default local model; its models file, or None when it did not come up."""
    model_port = int(os.environ.get("PARLEY_LOCAL_MODEL_PORT", DEFAULT_LOCAL_MODEL_PORT))
    log.info("starting the local model (%s) on port %d", local_model.MODEL_ALIAS, model_port)
    server = local_model.server_command(model_port)
    procs.append(subprocess.Popen(server, env=local_model.server_env(), stdout=subprocess.DEVNULL))
    if not _wait_ready(f"http://127.0.0.1:{model_port}/v1/models", procs, timeout=120):
        log.error("the local model server did not start; see the lines above")
        return None
    return str(_local_models_file(model_port))


def _catalog_secret(state: Path) -> str:
    """The secret that seals provider keys in the runtime catalogue (auth seals, workers
    open), kept in the state directory so keys stored earlier still open."""
    path = state / "catalog-secret"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip()


def _environment(amqp_url: str, port: int, models_file: str, state: Path) -> dict[str, str]:
    auth_port = int(os.environ.get("PARLEY_AUTH_PORT") or _free_port())
    auth_url = f"http://127.0.0.1:{auth_port}"
    history_port = int(os.environ.get("PARLEY_HISTORY_PORT") or _free_port())
    return {
        **os.environ,
        "AMQP_URL": amqp_url,
        "PORT": str(port),
        "PARLEY_MODELS_FILE": models_file,
        "PARLEY_CATALOG_SECRET": os.environ.get("PARLEY_CATALOG_SECRET") or _catalog_secret(state),
        # One readable line per event on a terminal; services default to JSON lines.
        "PARLEY_LOG_FORMAT": os.environ.get("PARLEY_LOG_FORMAT", "text"),
        "PARLEY_AUTH_DEV": "1",
        # The local model server listens on this host: providers there are allowed (only there).
        "PARLEY_INFERENCE_EGRESS_ALLOW": os.environ.get("PARLEY_INFERENCE_EGRESS_ALLOW", "127.0.0.0/8,::1"),
        "PARLEY_AUTH_CATALOG_EGRESS_ALLOW": os.environ.get(
            "PARLEY_AUTH_CATALOG_EGRESS_ALLOW", "127.0.0.0/8,::1"
        ),
        "PARLEY_AUTH_COOKIE_SECURE": "0",
        "PARLEY_AUTH_DATABASE_URL": os.environ.get(
            "PARLEY_AUTH_DATABASE_URL", f"sqlite+aiosqlite:///{state / 'auth.db'}"
        ),
        "PARLEY_AUTH_HOST": "127.0.0.1",
        "PARLEY_AUTH_PORT": str(auth_port),
        "PARLEY_AUTH_ACCESS_TTL_S": os.environ.get("PARLEY_AUTH_ACCESS_TTL_S", str(DEV_ACCESS_TTL_S)),
        "PARLEY_GATEWAY_JWKS_URL": f"{auth_url}/api/auth/jwks.json",
        "PARLEY_GATEWAY_AUTH_URL": auth_url,
        # Probes and /metrics: not on the public port.
        "PARLEY_GATEWAY_OPS_PORT": os.environ.get("PARLEY_GATEWAY_OPS_PORT") or str(_free_port()),
        "PARLEY_HISTORY_DATABASE_URL": os.environ.get(
            "PARLEY_HISTORY_DATABASE_URL", f"sqlite+aiosqlite:///{state / 'history.db'}"
        ),
        "PARLEY_HISTORY_DEV": "1",
        "PARLEY_HISTORY_HOST": "127.0.0.1",
        "PARLEY_HISTORY_PORT": str(history_port),
        "PARLEY_HISTORY_JWKS_URL": f"{auth_url}/api/auth/jwks.json",
        "PARLEY_GATEWAY_HISTORY_URL": f"http://127.0.0.1:{history_port}",
        **({"PARLEY_GATEWAY_STATIC_DIR": str(FRONTEND_OUT)} if FRONTEND_OUT.is_dir() else {}),
    }


def _run(procs: list[subprocess.Popen[bytes]], env: dict[str, str], state: Path) -> int:
    """Start auth, then the worker and the gateway; print how to chat; wait until one exits."""
    port, auth_url = int(env["PORT"]), env["PARLEY_GATEWAY_AUTH_URL"]
    procs.append(subprocess.Popen([sys.executable, "-m", "parley_auth", "serve"], env=env))
    # The gateway fetches the JWKS at start: auth first.
    if not _wait_ready(f"{auth_url}/readyz", procs):
        log.error("the auth service did not become ready; see the lines above")
        return 1
    history_url = env["PARLEY_GATEWAY_HISTORY_URL"]
    procs.append(subprocess.Popen([sys.executable, "-m", "parley_history", "serve"], env=env))
    if not _wait_ready(f"{history_url}/readyz", procs):
        log.error("the history service did not become ready; see the lines above")
        return 1
    procs += [
        subprocess.Popen([sys.executable, "-m", "parley_inference"], env=env),
        subprocess.Popen([sys.executable, "-m", "parley_gateway"], env=env),
    ]
    if not _wait_ready(f"http://127.0.0.1:{env['PARLEY_GATEWAY_OPS_PORT']}/readyz", procs):
        log.error("the gateway did not become ready; see the lines above")
        return 1
    models = _wait_models(f"http://127.0.0.1:{port}", procs)
    if not models:
        log.error("no inference worker announced itself; see the lines above")
        return 1
    token = _dev_access_token(f"http://127.0.0.1:{port}", state)
    if token is None:
        return 1
    ttl_h = int(env["PARLEY_AUTH_ACCESS_TTL_S"]) / 3600
    log.info("models file: %s; served: %s", env["PARLEY_MODELS_FILE"], ", ".join(models))
    log.info("auth: %s (database %s)", auth_url, env["PARLEY_AUTH_DATABASE_URL"])
    log.info("history: %s (database %s)", history_url, env["PARLEY_HISTORY_DATABASE_URL"])
    log.info("Parley is running at http://127.0.0.1:%d (WebSocket ws://127.0.0.1:%d/ws)", port, port)
    if "PARLEY_GATEWAY_STATIC_DIR" in env:
        log.info(
            "open http://127.0.0.1:%d in a browser: register, or log in as the admin %s (password in %s)",
            port,
            DEV_EMAIL,
            state / "dev-account.json",
        )
    else:
        log.warning("the browser app is not built (make frontend): the gateway serves the API only")
    log.info("development access token (%g h, user %s): %s", ttl_h, DEV_EMAIL, token)
    log.info(
        "try: %s -m parley_cli --url http://127.0.0.1:%d chat --token <token> 'Hello'",
        sys.executable,
        port,
    )
    log.info("accounts: http://127.0.0.1:%d/api/auth/register, /login (Ctrl-C stops everything)", port)
    while all(p.poll() is None for p in procs):
        time.sleep(0.5)
    log.error("a service exited; stopping")
    return 1


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> int:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s dev %(message)s")
    amqp_url = os.environ.get("AMQP_URL", DEFAULT_AMQP_URL)
    port = int(os.environ.get("PORT", "8000"))
    _check_broker(amqp_url)

    procs: list[subprocess.Popen[bytes]] = []
    try:
        models_file = os.environ.get("PARLEY_MODELS_FILE", "") or _local_model(procs)
        if models_file is None:
            return 1
        state = _state_dir()
        env = _environment(amqp_url, port, models_file, state)
        for service in ("auth", "history"):
            command = [sys.executable, "-m", f"parley_{service}", "migrate"]
            if subprocess.run(command, env=env, check=False).returncode != 0:
                database = env[f"PARLEY_{service.upper()}_DATABASE_URL"]
                log.error("migrating the %s database (%s) failed; see the lines above", service, database)
                return 1
        return _run(procs, env, state)
    except KeyboardInterrupt:
        return 0
    finally:
        _stop(procs)


if __name__ == "__main__":
    sys.exit(main())
