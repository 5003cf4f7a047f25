"""Seeding the catalogue from the models file on a fresh install (SQLite: a database of its own),
and the periodic re-announcement."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from parley_auth.__main__ import migrate
from parley_auth.adapters.passwords import Argon2Hasher
from parley_contracts.catalog import SYSTEM_USER
from parley_platform.sealing import Sealer, provider_binding
from tests.conftest import in_thread
from tests.integration.conftest import make_admin, make_settings, start_api
from tests.integration.test_catalog import CATALOG, SECRET, bind_events

MODELS_FILE = """
models:
  - name: local-small
    base_url: http://127.0.0.1:8081/v1
    model: smollm2-135m
    max_tokens: 512
    context_window: 2048
    concurrency: 1
    extra: {repeat_penalty: 1.1}
  - name: local-big
    base_url: http://127.0.0.1:8000/v1/
    model: Qwen/Qwen2.5-7B-Instruct
    api_key_env: {present}
    max_tokens: 2048
    context_window: 32768
  - name: cloud
    base_url: https://api.example.com/v1
    model: gpt-x
    api_key_env: {absent}
    input_price_per_mtok: 0.15
    output_price_per_mtok: 0.6
  - name: broken
    base_url: ftp://nowhere
    model: x
"""


async def test_a_fresh_install_is_seeded_from_the_models_file(
    tmp_path: Path, amqp_url: str, hasher: Argon2Hasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    present, absent = f"PARLEY_TEST_KEY_{secrets.token_hex(3)}", f"PARLEY_TEST_NONE_{secrets.token_hex(3)}"
    monkeypatch.setenv(present, "vllm-key-0123456789")
    models_file = tmp_path / "models.yaml"
    models_file.write_text(MODELS_FILE.replace("{present}", present).replace("{absent}", absent))
    url = f"sqlite+aiosqlite:///{tmp_path / 'auth.db'}"
    in_thread(migrate, url)
    settings = make_settings(
        url, amqp_url, dev=True, models_file=models_file, catalog_secret=SECRET, catalog_announce_s=0.2
    )
    async for events in bind_events(amqp_url):
        async for api in start_api(settings, hasher):
            seeded = await events.next(user_id=SYSTEM_USER)
            assert seeded.revision == 1
            again = await events.next(user_id=SYSTEM_USER)  # announced again, same revision
            assert again.revision == 1
            assert again.event_id != seeded.event_id
            admin = await make_admin(api)
            listing = (await admin.http.get(CATALOG, headers=admin.headers)).json()
            await admin.http.aclose()
        # A restart does not seed again.
        async for _api in start_api(settings, hasher):
            assert (await events.next(user_id=SYSTEM_USER)).revision == 1

    assert listing["revision"] == 1
    providers = {p["name"]: p for p in listing["providers"]}
    assert set(providers) == {"127.0.0.1:8081", "127.0.0.1:8000", "api.example.com"}
    assert providers["127.0.0.1:8000"]["base_url"] == "http://127.0.0.1:8000/v1"
    assert (providers["127.0.0.1:8000"]["has_key"], providers["127.0.0.1:8000"]["key_last4"]) == (
        True,
        "6789",
    )
    assert providers["api.example.com"]["has_key"] is False
    models = {m["name"]: m for m in listing["models"]}
    assert set(models) == {"local-small", "local-big", "cloud"}  # `broken` is skipped
    small = models["local-small"]
    assert (small["upstream"], small["max_tokens"], small["context_window"]) == ("smollm2-135m", 512, 2048)
    assert (small["concurrency"], small["defaults"], small["enabled"]) == (1, {"repeat_penalty": 1.1}, True)
    assert small["provider_id"] == providers["127.0.0.1:8081"]["id"]
    assert models["local-big"]["enabled"] is True
    assert models["cloud"]["enabled"] is False  # its key is not available: it could not answer
    assert (models["cloud"]["input_price_per_mtok"], models["cloud"]["output_price_per_mtok"]) == (0.15, 0.6)
    [vllm] = [p for p in seeded.providers if p.name == "127.0.0.1:8000"]
    assert vllm.sealed_key is not None
    binding = provider_binding(vllm.id, vllm.base_url)
    assert Sealer(SECRET).open(vllm.sealed_key, bound_to=binding) == "vllm-key-0123456789"


async def test_an_untouched_catalogue_follows_its_models_file_and_an_admins_does_not(
    tmp_path: Path, amqp_url: str, hasher: Argon2Hasher
) -> None:
    models_file = tmp_path / "models.yaml"
    models_file.write_text("models:\n  - {name: first, base_url: 'http://127.0.0.1:8081/v1', model: a}\n")
    url = f"sqlite+aiosqlite:///{tmp_path / 'auth.db'}"
    in_thread(migrate, url)
    settings = make_settings(url, amqp_url, dev=True, models_file=models_file, catalog_secret=SECRET)
    async for events in bind_events(amqp_url):
        async for _api in start_api(settings, hasher):
            assert [m.name for m in (await events.next(user_id=SYSTEM_USER)).models] == ["first"]
        # The user plugs in another models file: nobody changed the catalogue, so it follows.
        models_file.write_text(
            "models:\n  - {name: second, base_url: 'http://127.0.0.1:9000/v1', model: b}\n"
        )
        async for api in start_api(settings, hasher):
            followed = await events.next(user_id=SYSTEM_USER, after=1)
            assert (followed.revision, [m.name for m in followed.models]) == (2, ["second"])
            admin = await make_admin(api)
            changed = await admin.http.patch(
                f"{CATALOG}/models/{followed.models[0].id}", headers=admin.headers, json={"max_tokens": 64}
            )
            assert changed.status_code == 200, changed.text
            await admin.http.aclose()
        # Now an admin's catalogue: another models file no longer replaces it.
        models_file.write_text("models:\n  - {name: third, base_url: 'http://127.0.0.1:9001/v1', model: c}\n")
        async for _api in start_api(settings, hasher):
            kept = await events.next(user_id=SYSTEM_USER, after=0)
            assert [m.name for m in kept.models] == ["second"]
