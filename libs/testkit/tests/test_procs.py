from __future__ import annotations

import signal
import sys
import urllib.request

import pytest

from parley_testkit import ServiceProcess, ServiceProcessError, free_port


def _http_server(port: int) -> ServiceProcess:
    args = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    return ServiceProcess(args, env={}, name="http-server")


def test_waits_until_ready_then_terminates() -> None:
    port = free_port()

    with _http_server(port) as service:
        service.wait_ready(f"http://127.0.0.1:{port}/", timeout=10)
        assert service.wait_log("Serving HTTP", timeout=5)
        assert service.running
        code = service.terminate()

    assert code == -signal.SIGTERM
    assert not service.running


def test_kill_and_restart() -> None:
    port = free_port()
    service = _http_server(port)
    service.start()
    try:
        service.wait_ready(f"http://127.0.0.1:{port}/", timeout=10)
        service.kill()
        assert service.returncode == -signal.SIGKILL

        service.start()
        service.wait_ready(f"http://127.0.0.1:{port}/", timeout=10)
        assert service.log_text().count("Serving HTTP") == 2
    finally:
        service.terminate()


def test_exit_before_ready_raises_with_log_tail() -> None:
    code = "import sys; sys.stderr.write('boom: bad config\\n'); sys.exit(3)"
    service = ServiceProcess([sys.executable, "-c", code], env={}, name="broken")
    service.start()

    with pytest.raises(ServiceProcessError, match="boom: bad config"):
        service.wait_ready(f"http://127.0.0.1:{free_port()}/", timeout=10)

    assert service.terminate() == 3


def test_wait_log_times_out() -> None:
    code = "import time; time.sleep(30)"
    with (
        ServiceProcess([sys.executable, "-c", code], env={}, name="sleeper") as service,
        pytest.raises(ServiceProcessError, match="did not log"),
    ):
        service.wait_log("never", timeout=0.2)


def test_env_is_layered_over_the_environment() -> None:
    code = "import os; print(os.environ['PARLEY_X'], 'PATH' in os.environ)"
    service = ServiceProcess([sys.executable, "-c", code], env={"PARLEY_X": "42"}, name="env")
    service.start()

    assert service.wait(timeout=10) == 0
    assert service.log_text().strip() == "42 True"


def test_provider_runs_standalone() -> None:
    args = [sys.executable, "-m", "parley_testkit.provider", "--port", "0", "--tokens", "3"]
    with ServiceProcess(args, env={}, name="provider") as service:
        service.wait_log("\n", timeout=10)
        base_url = service.log_text().splitlines()[0]
        assert base_url.startswith("http://127.0.0.1:")
        assert base_url.endswith("/v1")
        with urllib.request.urlopen(f"{base_url}/models", timeout=5) as response:
            assert b"test-model" in response.read()
        code = service.terminate()

    assert code == 0
