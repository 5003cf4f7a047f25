"""`make dev`: run a gateway and an inference worker on this machine.

Until the auth service lands, a development issuer signs the access token
(printed at start) and serves its JWKS to the gateway. Until the default local
model lands, the worker talks to the OpenAI-compatible endpoints of
`PARLEY_MODELS_FILE`, or, when it is unset, to a scripted demo endpoint that
streams a canned answer (it is not a model).
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

from parley_contracts.settings import DEFAULT_AMQP_URL
from parley_testkit import FakeProvider, Script, TestIssuer

log = logging.getLogger("parley.dev")
DEV_ISSUER = "parley-dev"
DEV_AUDIENCE = "parley"
DEMO_ANSWER = (
    "Hello from Parley! This answer comes from the scripted demo endpoint of `make dev`, "
    "streamed token by token through RabbitMQ. Set PARLEY_MODELS_FILE to a models file "
    "that names a real OpenAI-compatible endpoint to talk to a real model."
)


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


def _demo_models_file(base_url: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix="parley-dev-")) / "models.yaml"
    path.write_text(
        "models:\n"
        "  - name: parley-demo\n"
        f"    base_url: {base_url}\n"
        "    model: test-model\n"
        "    max_tokens: 512\n"
        "    context_window: 4096\n"
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
    demo = FakeProvider(
        Script(tokens=[f"{word} " for word in DEMO_ANSWER.split()], delay_s=0.03), issuer=issuer
    )
    demo.start()
    models_file = os.environ.get("PARLEY_MODELS_FILE") or str(_demo_models_file(demo.base_url))

    env = {
        **os.environ,
        "AMQP_URL": amqp_url,
        "PORT": str(port),
        "PARLEY_MODELS_FILE": models_file,
        "PARLEY_GATEWAY_JWKS_URL": demo.jwks_url,
        "PARLEY_GATEWAY_JWT_ISSUER": DEV_ISSUER,
        "PARLEY_GATEWAY_JWT_AUDIENCE": DEV_AUDIENCE,
    }
    procs = [
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
        demo.stop()


if __name__ == "__main__":
    sys.exit(main())
