"""Which queue each served model is consumed from, and with what prefetch."""

from __future__ import annotations

from parley_inference.domain.catalog import parse_models
from parley_inference.domain.errors import ErrorCode
from parley_inference.entrypoints.consumers import dead_letter_code
from parley_inference.entrypoints.requests import plan_lanes, request_lanes

API = "https://api.example.test/v1"
CATALOG = parse_models(
    [
        {"name": "local", "base_url": "http://127.0.0.1:8080/v1", "model": "smol", "concurrency": 1},
        {"name": "gpt-4o", "base_url": "https://api.example.test/v1", "model": "gpt-4o"},
    ]
)


def test_each_model_has_its_own_queue_and_prefetch_with_the_default_where_unset() -> None:
    lanes = request_lanes(CATALOG, default_concurrency=8)
    assert [(lane.model, lane.queue.name, lane.prefetch) for lane in lanes] == [
        ("local", "inference.requests.local", 1),
        ("gpt-4o", "inference.requests.gpt-4o", 8),
    ]


def test_a_worker_capacity_is_the_sum_of_its_model_limits() -> None:
    assert CATALOG.capacity(8) == 9
    assert CATALOG.capacity(1) == 2


def test_a_request_with_x_death_was_dead_lettered_and_one_without_was_unrouted() -> None:
    assert dead_letter_code({"x-death": [{"reason": "delivery_limit"}]}) is ErrorCode.GENERATION_FAILED
    assert dead_letter_code({}) is ErrorCode.MODEL_UNAVAILABLE


def test_a_new_catalogue_keeps_served_lanes_starts_new_ones_and_retires_the_rest() -> None:
    before = request_lanes(CATALOG, default_concurrency=8)
    after = request_lanes(
        parse_models(
            [
                {
                    "name": "gpt-4o",
                    "base_url": "https://api.example.test/v1",
                    "model": "gpt-4o",
                    "concurrency": 2,
                },
                {"name": "new", "base_url": "https://api.example.test/v1", "model": "new"},
            ]
        ),
        default_concurrency=8,
    )
    plan = plan_lanes(before, after)
    assert [(lane.model, lane.prefetch) for lane in plan.lanes] == [("gpt-4o", 8), ("new", 8)]
    assert [lane.model for lane in plan.started] == ["new"]
    assert [lane.model for lane in plan.retired] == ["local"]
    assert plan.kept_prefetch == [("gpt-4o", 2, 8)]


def test_the_same_catalogue_changes_nothing() -> None:
    lanes = request_lanes(CATALOG, default_concurrency=8)
    plan = plan_lanes(lanes, request_lanes(CATALOG, default_concurrency=8))
    assert (plan.lanes, plan.started, plan.retired, plan.kept_prefetch) == (lanes, [], [], [])
