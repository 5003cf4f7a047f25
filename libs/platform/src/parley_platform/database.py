"""Database URLs of the services that own a store (SQLAlchemy 2 async)."""

from __future__ import annotations


def async_database_url(url: str) -> str:
    """The SQLAlchemy async URL for `url`: `postgresql://` goes through asyncpg,
    `sqlite://` through aiosqlite; any other driver is refused."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    if url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
        return url
    raise ValueError(
        "the database URL must be postgresql:// (asyncpg) or sqlite:// (aiosqlite), "
        f"not {url.split('://', 1)[0]!r}"
    )
