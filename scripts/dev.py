"""`make dev`: run a gateway and an inference worker on this machine.

The worker serves the models of `PARLEY_MODELS_FILE`; when it is unset, the
default local model (SmolLM2-135M-Instruct through llama.cpp's OpenAI-compatible
server, see `scripts/local_model.py`) is started and served. Until the auth
service lands, a development issuer signs the access token printed at start
and serves its JWKS to the gateway.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aio_pika

import parley_localmodel as local_model
from parley_contracts.settings import DEFAULT_AMQP_URL
from parley_testkit import FakeProvider, TestIssuer

log = logging.getLogger("parley.dev")
DEV_ISSUER = "parley-dev"
DEV_AUDIENCE = "parley"
DEFAULT_LOCAL_MODEL_PORT = 8081


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


def main() -> int:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s dev %(message)s")
    amqp_url = os.environ.get("AMQP_URL", DEFAULT_AMQP_URL)
    port = int(os.environ.get("PORT", "8000"))
    _check_broker(amqp_url)

    issuer = TestIssuer(issuer=DEV_ISSUER, audience=DEV_AUDIENCE, kid="dev")
    jwks = FakeProvider(issuer=issuer)  # serves the development JWKS
    jwks.start()
    procs: list[subprocess.Popen[bytes]] = []
    models_file = os.environ.get("PARLEY_MODELS_FILE", "")
    if not models_file:
        model_port = int(os.environ.get("PARLEY_LOCAL_MODEL_PORT", DEFAULT_LOCAL_MODEL_PORT))
        log.info("starting the local model (%s) on port %d", local_model.MODEL_ALIAS, model_port)
        server = local_model.server_command(model_port)
        procs.append(subprocess.Popen(server, env=local_model.server_env(), stdout=subprocess.DEVNULL))
        models_file = str(_local_models_file(model_port))
        if not _wait_ready(f"http://127.0.0.1:{model_port}/v1/models", procs, timeout=120):
            log.error("the local model server did not start; see the lines above")
            procs[0].kill()
            jwks.stop()
            return 1

    env = {
        **os.environ,
        "AMQP_URL": amqp_url,
        "PORT": str(port),
        "PARLEY_MODELS_FILE": models_file,
        "PARLEY_GATEWAY_JWKS_URL": jwks.jwks_url,
        "PARLEY_GATEWAY_JWT_ISSUER": DEV_ISSUER,
        "PARLEY_GATEWAY_JWT_AUDIENCE": DEV_AUDIENCE,
    }
    procs += [
        subprocess.Popen([sys.executable, "-m", "parley_inference"], env=env),
        subprocess.Popen([sys.executable, "-m", "parley_gateway"], env=env),
    ]
    try:
        if not _wait_ready(f"http://127.0.0.1:{port}/readyz", procs):
            log.error("the gateway did not become ready; see the lines above")
            return 1
        models = _wait_models(f"http://127.0.0.1:{port}", procs)
        if not models:
            log.error("no inference worker announced itself; see the lines above")
            return 1
        token = issuer.token("dev-user", expires_in=12 * 3600)
        log.info("models file: %s; served: %s", models_file, ", ".join(models))
        log.info("Parley is running at http://127.0.0.1:%d (WebSocket ws://127.0.0.1:%d/ws)", port, port)
        log.info("development access token (12 h, user dev-user): %s", token)
        log.info(
            "try: %s scripts/chat.py --token <token> 'Hello'   (Ctrl-C stops everything)", sys.executable
        )
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        log.error("a service exited; stopping")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        jwks.stop()


if __name__ == "__main__":
    sys.exit(main())
