from __future__ import annotations

import pytest

from parley_inference.domain.coalescer import Coalescer, WindowPolicy

W = 0.05


def test_first_text_goes_out_at_once() -> None:
    c = Coalescer(W)
    assert c.push("Hello", 100.0) == "Hello"
    assert c.deadline is None


def test_text_within_the_window_is_held_and_goes_out_as_one_delta() -> None:
    c = Coalescer(W)
    c.push("a", 0.0)
    assert c.push("b", 0.010) is None
    assert c.push("c", 0.020) is None
    assert c.pending == "bc"
    assert c.deadline == pytest.approx(0.05)
    assert c.due(0.049) is None
    assert c.due(0.050) == "bc"
    assert c.deadline is None


def test_text_after_the_window_goes_out_at_once_with_what_was_held() -> None:
    c = Coalescer(W)
    c.push("a", 0.0)
    assert c.push("b", 0.030) is None
    assert c.push("c", 0.060) == "bc"
    assert c.push("d", 0.070) is None
    assert c.deadline == pytest.approx(0.11)


def test_flush_returns_everything_held_whatever_the_time() -> None:
    c = Coalescer(W)
    c.push("a", 0.0)
    c.push("b", 0.001)
    c.push("c", 0.002)
    assert c.flush(0.003) == "bc"
    assert c.flush(0.004) is None


def test_empty_text_is_ignored() -> None:
    c = Coalescer(W)
    assert c.push("", 0.0) is None
    assert c.push("a", 0.001) == "a"


def test_zero_window_sends_every_token() -> None:
    c = Coalescer(0.0)
    assert [c.push(t, 0.0) for t in "abc"] == ["a", "b", "c"]


def test_negative_window_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        Coalescer(-1)


def _drive(arrivals: list[tuple[float, str]], window: float) -> list[tuple[float, str]]:
    """Simulate the worker: push each token when it arrives and flush at each
    deadline that comes before the next token; returns (time, text) sent."""
    c = Coalescer(window)
    sent: list[tuple[float, str]] = []
    for at, text in arrivals:
        deadline = c.deadline
        if deadline is not None and deadline <= at:
            out = c.due(deadline)
            assert out is not None
            sent.append((deadline, out))
        out = c.push(text, at)
        if out is not None:
            sent.append((at, out))
    end = arrivals[-1][0]
    out = c.flush(end)
    if out is not None:
        sent.append((end, out))
    return sent


def test_a_fast_stream_becomes_few_deltas_and_keeps_every_character() -> None:
    arrivals = [(i * 0.005, f"t{i} ") for i in range(200)]  # 200 tokens/s for 1 s
    sent = _drive(arrivals, W)
    assert "".join(text for _, text in sent) == "".join(text for _, text in arrivals)
    assert len(sent) <= 25  # one every 50 ms, plus the first
    assert sent[0] == (0.0, "t0 ")


def test_a_slow_trickle_is_never_held_longer_than_the_window() -> None:
    arrivals = [(0.0, "a"), (0.01, "b"), (0.5, "c"), (0.51, "d"), (0.9, "e"), (2.0, "f")]
    sent = _drive(arrivals, W)
    assert "".join(t for _, t in sent) == "abcdef"
    # map each character to when it left
    left = {ch: at for at, text in sent for ch in text}
    for at, ch in arrivals:
        assert left[ch] - at <= W + 1e-9, ch


def test_the_window_is_the_base_up_to_busy_then_grows_with_the_generations_up_to_the_most() -> None:
    policy = WindowPolicy(base_s=0.05, most_s=0.15, busy_at=64)
    assert policy.window(0) == 0.05
    assert policy.window(64) == 0.05
    assert policy.window(128) == pytest.approx(0.10)
    assert policy.window(192) == pytest.approx(0.15)
    assert policy.window(1000) == pytest.approx(0.15)


@pytest.mark.parametrize(("base", "most", "busy"), [(-0.01, 0.1, 1), (0.1, 0.05, 1), (0.05, 0.1, 0)])
def test_a_window_policy_that_makes_no_sense_is_refused(base: float, most: float, busy: int) -> None:
    with pytest.raises(ValueError, match="must"):
        WindowPolicy(base_s=base, most_s=most, busy_at=busy)


def test_a_wider_window_holds_text_longer() -> None:
    c = Coalescer(W)
    c.push("a", 0.0)
    c.window = 0.15
    assert c.push("b", 0.06) is None
    assert c.deadline == pytest.approx(0.15)
    assert c.push("c", 0.16) == "bc"
