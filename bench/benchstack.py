"""The processes a benchmark runs: the fixed-rate provider, the direct relay
(the baseline) and Parley (a gateway and N inference workers on a fresh
RabbitMQ vhost), each a real child process whose pid the benchmarks measure."""

from __future__ import annotations

import json
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from promtext import scrape, total
from wsload import MODEL

from parley_testkit import (
    FakeProvider,
    ServiceProcess,
    TestIssuer,
    amqp_url_from_env,
    free_port,
    isolated_vhost,
)

ROOT = Path(__file__).resolve().parents[1]
ISSUER, AUDIENCE = "parley-bench", "parley"
MAX_WORKER_CONCURRENCY = 1024  # parley_inference's settings refuse more


@dataclass
class Counters:
    """The services' own counters at one moment."""

    prompts_accepted: float
    generations: float
    deltas_published: float
    delta_frames: float

    def __sub__(self, other: Counters) -> Counters:
        return Counters(
            self.prompts_accepted - other.prompts_accepted,
            self.generations - other.generations,
            self.deltas_published - other.deltas_published,
            self.delta_frames - other.delta_frames,
        )

    @property
    def broker_messages(self) -> float:
        """Messages published on the broker: per prompt `prompt.submitted`,
        `stream.finished` and its `completion.*` event, plus every `token.delta`
        (heartbeats, a few per second whatever the load, left out)."""
        return 3 * self.generations + self.deltas_published


@dataclass
class Parley:
    gateways: list[ServiceProcess]
    workers: list[ServiceProcess]
    ports: list[int]
    worker_metrics_ports: list[int]
    ops_ports: list[int]
    """The gateways' operations ports: `/readyz` and `/metrics`."""

    @property
    def gateway(self) -> ServiceProcess:
        return self.gateways[0]

    @property
    def ws_url(self) -> str:
        return self.ws_urls[0]

    @property
    def ws_urls(self) -> list[str]:
        return [f"ws://127.0.0.1:{port}/ws" for port in self.ports]

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.ports[0]}"

    def pids(self) -> dict[str, int]:
        if len(self.gateways) == 1:
            gateways = {"gateway": self.gateway.pid}
        else:
            gateways = {f"gateway-{k + 1}": g.pid for k, g in enumerate(self.gateways)}
        return {**gateways, **{f"worker-{k + 1}": w.pid for k, w in enumerate(self.workers)}}

    def counters(self) -> Counters:
        gateways = [scrape(f"http://127.0.0.1:{port}/metrics") for port in self.ops_ports]
        workers = [scrape(f"http://127.0.0.1:{p}/metrics") for p in self.worker_metrics_ports]
        return Counters(
            prompts_accepted=sum(
                total(g, "parley_gateway_prompts_total", outcome="accepted") for g in gateways
            ),
            generations=sum(total(w, "parley_inference_generations_total") for w in workers),
            deltas_published=sum(total(w, "parley_inference_deltas_published_total") for w in workers),
            delta_frames=sum(total(g, "parley_gateway_delta_frames_total") for g in gateways),
        )

    def stop(self) -> None:
        for proc in [*self.gateways, *self.workers]:
            proc.terminate(timeout=15)


@dataclass
class BenchStack:
    """A provider at a fixed token rate, the direct relay on it, a JWKS, a vhost."""

    amqp_url: str
    issuer: TestIssuer
    jwks_url: str
    provider: ServiceProcess
    relay: ServiceProcess
    relay_port: int
    models_file: Path
    gateway_env: dict[str, str] = field(default_factory=dict)

    @property
    def relay_url(self) -> str:
        return f"ws://127.0.0.1:{self.relay_port}"

    def pids(self) -> dict[str, int]:
        return {"provider": self.provider.pid, "relay": self.relay.pid}

    def start_parley(
        self,
        workers: int,
        *,
        concurrency: int,
        gateways: int = 1,
        worker_env: dict[str, str] | None = None,
        **env: str,
    ) -> Parley:
        """`gateways` gateways and `workers` workers; returns once the first
        gateway lists the model on all of them. `env` adds to the gateways'
        environment, `worker_env` to the workers'."""
        ports = [free_port() for _ in range(gateways)]
        ops_ports = [free_port() for _ in range(gateways)]
        metrics_ports = [free_port() for _ in range(workers)]
        common = {
            "AMQP_URL": self.amqp_url,
            "PARLEY_MODELS_FILE": str(self.models_file),
            "PARLEY_INFERENCE_CONCURRENCY": str(min(concurrency, MAX_WORKER_CONCURRENCY)),
            "PARLEY_INFERENCE_LOG_LEVEL": "WARNING",
            "PARLEY_INFERENCE_CATALOG_REQUEST_TIMEOUT_S": "0",
            "PARLEY_INFERENCE_EGRESS_ALLOW": "127.0.0.0/8,::1",  # the test provider on this host
            "PARLEY_GATEWAY_LOG_LEVEL": "WARNING",
            "PARLEY_LOG_FORMAT": "text",
        }
        gateway_env = {
            **common,
            "PARLEY_GATEWAY_JWKS_URL": self.jwks_url,
            "PARLEY_GATEWAY_JWT_ISSUER": ISSUER,
            "PARLEY_GATEWAY_JWT_AUDIENCE": AUDIENCE,
            **self.gateway_env,
            **env,
        }
        gateway_procs = [
            ServiceProcess(
                [sys.executable, "-m", "parley_gateway"],
                {**gateway_env, "PORT": str(port), "PARLEY_GATEWAY_OPS_PORT": str(ops_port)},
                name=f"bench-gateway-{k + 1}",
            )
            for k, (port, ops_port) in enumerate(zip(ports, ops_ports, strict=True))
        ]
        procs = [
            ServiceProcess(
                [sys.executable, "-m", "parley_inference"],
                {
                    **common,
                    "PARLEY_INFERENCE_METRICS_PORT": str(p),
                    "PARLEY_INFERENCE_WORKER_ID": f"w{k}",
                    **(worker_env or {}),
                },
                name=f"bench-worker-{k + 1}",
            )
            for k, p in enumerate(metrics_ports)
        ]
        parley = Parley(gateway_procs, procs, ports, metrics_ports, ops_ports)
        try:
            for proc in [*gateway_procs, *procs]:
                proc.start()
            for proc, port, ops_port in zip(gateway_procs, ports, ops_ports, strict=True):
                proc.wait_ready(f"http://127.0.0.1:{ops_port}/readyz", timeout=60)
                if workers:
                    _wait_models(f"http://127.0.0.1:{port}", workers)
        except BaseException:
            parley.stop()
            raise
        return parley


def _wait_models(base: str, workers: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{base}/api/models", timeout=5) as response:
            served = {m["name"]: m for m in json.load(response)["models"]}
        if MODEL in served and served[MODEL].get("workers", 0) >= workers:
            return
        time.sleep(0.2)
    raise RuntimeError(f"the gateway never listed {MODEL} on {workers} worker(s)")


@contextmanager
def bench_stack(*, tokens: int, rate: float) -> Iterator[BenchStack]:
    """The shared part of every benchmark; Parley configurations start on it."""
    issuer = TestIssuer(issuer=ISSUER, audience=AUDIENCE)
    provider_port, relay_port = free_port(), free_port()
    provider_url = f"http://127.0.0.1:{provider_port}/v1"
    py = sys.executable
    with (
        isolated_vhost(amqp_url_from_env(), prefix="parley-bench") as amqp_url,
        FakeProvider(issuer=issuer) as jwks,
        tempfile.TemporaryDirectory(prefix="parley-bench-") as tmp,
    ):
        models = Path(tmp) / "models.yaml"
        models.write_text(
            f"models:\n  - name: {MODEL}\n    base_url: {provider_url}\n    model: test-model\n"
            "    max_tokens: 4096\n    context_window: 8192\n"
        )
        provider = ServiceProcess(
            [
                py,
                "-m",
                "parley_testkit.provider",
                "--port",
                str(provider_port),
                "--tokens",
                str(tokens),
                "--rate",
                str(rate),
            ],
            {},
            name="bench-provider",
        )
        relay = ServiceProcess(
            [
                py,
                str(ROOT / "bench" / "direct_relay.py"),
                "--port",
                str(relay_port),
                "--provider",
                provider_url,
            ],
            {},
            name="bench-relay",
        )
        try:
            provider.start()
            relay.start()
            provider.wait_log("http://", timeout=30)
            relay.wait_log("relay ready", timeout=30)
            yield BenchStack(amqp_url, issuer, jwks.jwks_url, provider, relay, relay_port, models)
        finally:
            for proc in (relay, provider):
                proc.terminate(timeout=10)
