from parley_platform.recent import Recent


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_key_is_kept_for_a_while_then_forgotten() -> None:
    clock = Clock()
    recent: Recent[str] = Recent(for_s=10, clock=clock)
    recent.add("a")
    clock.now += 9
    assert "a" in recent
    clock.now += 2
    assert "a" not in recent
    recent.add("b")
    assert len(recent) == 1


def test_adding_again_renews_a_key() -> None:
    clock = Clock()
    recent: Recent[str] = Recent(for_s=10, clock=clock)
    recent.add("a")
    clock.now += 8
    recent.add("a")
    clock.now += 8
    assert "a" in recent


def test_only_the_latest_are_kept() -> None:
    recent: Recent[int] = Recent(for_s=60, at_most=3, clock=Clock())
    for key in range(5):
        recent.add(key)
    assert [key in recent for key in range(5)] == [False, False, True, True, True]


def test_a_zero_lifetime_keeps_nothing() -> None:
    recent: Recent[str] = Recent(for_s=0, clock=Clock())
    recent.add("a")
    assert "a" not in recent
    assert len(recent) == 0


def test_take_answers_once() -> None:
    recent: Recent[str] = Recent(for_s=60, clock=Clock())
    recent.add("a")
    assert recent.take("a")
    assert not recent.take("a")
    assert "a" not in recent
