"""`python -m parley_inference` refuses bad configuration with one clear line."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from parley_inference.__main__ import EXIT_CONFIG, main


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PARLEY_MODELS_FILE", "PARLEY_INFERENCE_MODELS_FILE", "PARLEY_INFERENCE_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    assert all(r.exc_info is None for r in caplog.records)
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_no_models_file_variable(caplog: pytest.LogCaptureFixture) -> None:
    assert main() == EXIT_CONFIG
    assert _errors(caplog) == [
        "invalid settings: PARLEY_MODELS_FILE is not set (the YAML list of models to serve)"
    ]


def test_a_bad_setting_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PARLEY_MODELS_FILE", "models.yaml")
    monkeypatch.setenv("PARLEY_INFERENCE_CONCURRENCY", "lots")
    assert main() == EXIT_CONFIG
    (line,) = _errors(caplog)
    assert line.startswith("invalid settings: PARLEY_INFERENCE_CONCURRENCY: ")


def test_a_missing_models_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PARLEY_MODELS_FILE", str(tmp_path / "absent.yaml"))
    assert main() == EXIT_CONFIG
    (line,) = _errors(caplog)
    assert line == f"models file {tmp_path / 'absent.yaml'} does not exist (set PARLEY_MODELS_FILE)"
