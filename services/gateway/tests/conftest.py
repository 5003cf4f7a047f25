from __future__ import annotations

import pytest

from tests.fakes import FakeClock, FakePublisher


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def publisher() -> FakePublisher:
    return FakePublisher()
