from pathlib import Path

import pytest

import parley_localmodel as lm


def test_cache_key_follows_version_and_build_flags(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    portable = lm._cache_dir()
    assert portable.parent == tmp_path / "parley" / "wheels"
    assert portable.name.startswith(f"llama-cpp-python-{lm.RUNTIME_VERSION}-")
    monkeypatch.setattr(lm, "CMAKE_ARGS", "-DGGML_NATIVE=ON")
    assert lm._cache_dir() != portable
    monkeypatch.setattr(lm, "RUNTIME_VERSION", "9.9.9")
    assert "9.9.9" in lm._cache_dir().name


def test_the_build_is_portable() -> None:
    assert "-DGGML_NATIVE=OFF" in lm.CMAKE_ARGS.split()


def test_the_packaged_model_is_found_through_the_import_system() -> None:
    path = lm.model_path()
    assert path.name == lm.MODEL_FILE
    assert path.stat().st_size > 50_000_000


def test_server_command_keeps_running_requests_and_names_the_model() -> None:
    command = lm.server_command(8123, threads=1)
    pairs = dict(zip(command[3::2], command[4::2], strict=False))
    assert pairs["--interrupt_requests"] == "False"
    assert pairs["--model_alias"] == lm.MODEL_ALIAS
    assert pairs["--port"] == "8123"
    assert pairs["--n_threads"] == "1"


def test_server_env_drops_host_and_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "8000")
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("KEEP", "1")
    env = lm.server_env()
    assert "PORT" not in env
    assert "HOST" not in env
    assert env["KEEP"] == "1"
