import pytest

from parley_platform.database import async_database_url


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_the_async_driver_of_each_engine(given: str, used: str) -> None:
    assert async_database_url(given) == used


@pytest.mark.parametrize("url", ["mysql://u@h/db", "postgresql+psycopg://u@h/db"])
def test_other_drivers_are_refused_by_name(url: str) -> None:
    with pytest.raises(ValueError, match="must be postgresql://"):
        async_database_url(url)
