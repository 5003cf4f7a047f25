from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from parley_gateway.settings import Settings

JWKS = "http://auth/api/auth/jwks.json"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PORT", "AMQP_URL", "PARLEY_GATEWAY_JWKS_URL", "PARLEY_GATEWAY_DEV", "PARLEY_GATEWAY_PORT"):
        monkeypatch.delenv(name, raising=False)


def test_a_jwks_url_is_required() -> None:
    with pytest.raises(ValidationError, match="PARLEY_GATEWAY_JWKS_URL is required"):
        Settings()
    with pytest.raises(ValidationError, match="PARLEY_GATEWAY_JWKS_URL is required"):
        Settings(dev=True)  # type: ignore[call-arg]  # the throwaway-key dev mode is gone


def test_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_GATEWAY_JWKS_URL", "http://auth:8000/api/auth/jwks.json")
    monkeypatch.setenv("PORT", "9123")
    monkeypatch.setenv("AMQP_URL", "amqp://u:p@rabbit:5672/v")
    monkeypatch.setenv("PARLEY_GATEWAY_PROMPTS_PER_MINUTE", "7")
    settings = Settings()
    assert settings.port == 9123
    assert settings.amqp_url == "amqp://u:p@rabbit:5672/v"
    assert settings.prompts_per_minute == 7
    assert settings.url == "http://127.0.0.1:9123"
    assert settings.ws_max_size > settings.max_frame_bytes
    monkeypatch.setenv("PARLEY_GATEWAY_PORT", "9200")
    assert Settings().port == 9200


@pytest.mark.parametrize(
    "values",
    [
        {"jwks_url": "ftp://auth/jwks"},
        {"amqp_url": "http://rabbit"},
        {"max_generations_per_user": 0},
        {"static_dir": "/definitely/not/here"},
    ],
)
def test_wrong_values_fail_fast(values: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Settings(**({"jwks_url": JWKS} | values))  # type: ignore[arg-type]


def test_a_static_dir_must_exist(tmp_path: Path) -> None:
    assert Settings(jwks_url=JWKS, static_dir=tmp_path).static_dir == tmp_path


def test_the_proxied_services_are_optional_urls() -> None:
    settings = Settings(jwks_url=JWKS, auth_url="http://auth:8001/", history_url="https://history")
    assert (settings.auth_url, settings.history_url) == ("http://auth:8001", "https://history")
    assert Settings(jwks_url=JWKS).auth_url is None
    with pytest.raises(ValidationError, match="http"):
        Settings(jwks_url=JWKS, auth_url="auth:8001")


def test_trusted_proxies_are_named_never_anyone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_GATEWAY_JWKS_URL", JWKS)
    monkeypatch.setenv("PARLEY_GATEWAY_TRUSTED_PROXIES", "*")
    with pytest.raises(ValidationError, match="not '\\*'"):
        Settings()
    monkeypatch.setenv("PARLEY_GATEWAY_TRUSTED_PROXIES", "10.0.0.0/8,127.0.0.1")
    assert Settings().forwarded_allow_ips == "10.0.0.0/8,127.0.0.1"
    monkeypatch.setenv("PARLEY_GATEWAY_TRUSTED_PROXIES", "")
    assert Settings().forwarded_allow_ips is None
