from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from parley_inference.bootstrap import bootstrap
from parley_inference.entrypoints.worker import Worker
from parley_inference.settings import Settings
from parley_testkit import FakeProvider, ServiceProcess, amqp_url_from_env, free_port, isolated_vhost
from tests.integration.client import BrokerClient
from tests.integration.workers import StartWorker, served_by, write_models_file

PROVIDER_KEY = "sk-parley-test"
LOOPBACK = "127.0.0.0/8,::1"
"""The egress the workers here are allowed: the test providers listen on this host."""


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    with isolated_vhost(amqp_url_from_env(), prefix="parley-inference-test") as url:
        yield url


@pytest.fixture(scope="session")
def provider() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _fresh_provider(provider: FakeProvider) -> None:
    provider.reset()


@pytest.fixture
def models_file(tmp_path: Path, provider: FakeProvider) -> Path:
    return write_models_file(
        tmp_path,
        served_by(
            provider,
            "test",
            api_key_env="PARLEY_TEST_PROVIDER_KEY",
            max_tokens=300,
            context_window=4096,
            extra={"repeat_penalty": 1.1},
        ),
        {
            "name": "refused",
            "base_url": f"http://127.0.0.1:{free_port()}/v1",
            "model": "nothing-listens-here",
        },
    )


@pytest.fixture
def worker_env(amqp_url: str, models_file: Path) -> dict[str, str]:
    """Environment of a worker process (and of in-process settings)."""
    return {
        "AMQP_URL": amqp_url,
        "PARLEY_MODELS_FILE": str(models_file),
        "PARLEY_TEST_PROVIDER_KEY": PROVIDER_KEY,
        "PARLEY_INFERENCE_HEARTBEAT_INTERVAL_S": "0.5",
        "PARLEY_INFERENCE_PROVIDER_READ_TIMEOUT_S": "1.0",
        "PARLEY_INFERENCE_PROVIDER_CONNECT_TIMEOUT_S": "1.0",
        "PARLEY_INFERENCE_SHUTDOWN_GRACE_S": "10",
        "PARLEY_INFERENCE_EGRESS_ALLOW": LOOPBACK,
    }


@pytest.fixture
async def start_worker(
    worker_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[StartWorker]:
    """Start in-process workers (settings from `worker_env` plus overrides);
    all are stopped at the end."""
    for key, value in worker_env.items():
        monkeypatch.setenv(key, value)
    workers: list[Worker] = []

    async def start(**overrides: object) -> Worker:
        overrides.setdefault("worker_id", f"w{len(workers) + 1}")
        worker = bootstrap(Settings(**overrides))  # type: ignore[arg-type]
        await worker.start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        await worker.stop()


@pytest.fixture
async def client(amqp_url: str) -> AsyncIterator[BrokerClient]:
    broker = await BrokerClient.connect(amqp_url)
    yield broker
    await broker.close()


@pytest.fixture
def spawn_worker(worker_env: dict[str, str]) -> Iterator[Callable[..., ServiceProcess]]:
    """Worker processes (`python -m parley_inference`), terminated at the end."""
    processes: list[ServiceProcess] = []

    def spawn(name: str, **env: str) -> ServiceProcess:
        process = ServiceProcess(
            [sys.executable, "-m", "parley_inference"],
            env={**worker_env, "PARLEY_INFERENCE_WORKER_ID": name, **env},
            name=name,
        )
        process.start()
        processes.append(process)
        return process

    yield spawn
    for process in processes:
        if process.running:
            process.terminate()
