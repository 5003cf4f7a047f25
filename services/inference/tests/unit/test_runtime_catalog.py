"""From a `catalog.updated` event to the models a worker serves (pure)."""

from __future__ import annotations

import uuid

from parley_contracts.catalog import SYSTEM_USER, CatalogModel, CatalogProvider, CatalogUpdated
from parley_inference.domain.catalog import from_catalog_event
from parley_platform.sealing import Sealer, provider_binding

OPEN = CatalogProvider(id=uuid.UUID(int=1), name="local", base_url="http://127.0.0.1:8081/v1")
KEYED = CatalogProvider(
    id=uuid.UUID(int=2),
    name="cloud",
    base_url="https://api.example.test/v1",
    sealed_key=Sealer("right").seal(
        "sk-cloud", bound_to=provider_binding(uuid.UUID(int=2), "https://api.example.test/v1")
    ),
    key_last4="loud",
)


def _model(name: str, provider: uuid.UUID, **fields: object) -> CatalogModel:
    return CatalogModel.model_validate(
        {"id": uuid.uuid4(), "name": name, "provider_id": provider, "upstream": f"up-{name}", **fields}
    )


EVENT = CatalogUpdated(
    user_id=SYSTEM_USER,
    revision=3,
    providers=(OPEN, KEYED),
    models=(
        _model("small", OPEN.id, concurrency=1, defaults={"repeat_penalty": 1.1}, max_tokens=256),
        _model("big", KEYED.id, input_price_per_mtok=0.4),
        _model("off", OPEN.id, enabled=False),
        _model("orphan", uuid.UUID(int=9)),
    ),
)


def test_enabled_models_with_their_provider_and_opened_key() -> None:
    catalog, left_out = from_catalog_event(EVENT, Sealer("right"))
    assert catalog.names == ("small", "big")
    small, big = catalog.get("small"), catalog.get("big")
    assert (small.base_url, small.model, small.api_key) == ("http://127.0.0.1:8081/v1", "up-small", None)
    assert (small.concurrency, small.max_tokens, small.extra) == (1, 256, {"repeat_penalty": 1.1})
    assert (big.api_key, big.input_price_per_mtok) == ("sk-cloud", 0.4)
    assert "sk-cloud" not in repr(big)
    assert left_out == ["model 'orphan' is not served: its provider is not in the catalogue"]


def test_a_model_whose_key_cannot_be_opened_is_left_out_with_the_reason() -> None:
    without, lines = from_catalog_event(EVENT, None)
    assert without.names == ("small",)
    assert any("'big'" in line and "PARLEY_CATALOG_SECRET is not set" in line for line in lines)
    wrong, lines = from_catalog_event(EVENT, Sealer("wrong"))
    assert wrong.names == ("small",)
    assert any("'big'" in line and "does not open" in line for line in lines)
