from __future__ import annotations

from collections.abc import Iterator

import pytest

from parley_testkit import FakeProvider, TestIssuer


@pytest.fixture(scope="session")
def issuer() -> TestIssuer:
    return TestIssuer()


@pytest.fixture(scope="session")
def _running_provider(issuer: TestIssuer) -> Iterator[FakeProvider]:
    with FakeProvider(issuer=issuer) as provider:
        yield provider


@pytest.fixture
def provider(_running_provider: FakeProvider) -> Iterator[FakeProvider]:
    _running_provider.reset()
    yield _running_provider
    _running_provider.reset()
