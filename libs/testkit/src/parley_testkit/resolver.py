"""A stand-in for `parley_platform.egress.resolve`: host names resolve as a test says, so that
an SSRF guard is tried against private and metadata addresses without any lookup or connection."""

from __future__ import annotations


class StubResolver:
    """Names as the test says they resolve (`default`: any other name); `asked` records every
    lookup. Install with `monkeypatch.setattr(egress, "resolve", StubResolver(...))`."""

    def __init__(self, names: dict[str, list[str]], *, default: list[str] | None = None) -> None:
        self.names = names
        self.default = default
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host in self.names:
            return self.names[host]
        if self.default is None:
            raise KeyError(f"the test resolves no name {host!r}")
        return self.default
