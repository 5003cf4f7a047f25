"""The frontend's pages carry the policy of their own inline scripts (on a 200, a 304 and
the 404 page), recomputed when a rebuild changes a page; other files carry none of their own."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.routing import Mount

from parley_gateway.adapters.frontend_files import FrontendFiles
from parley_platform.browser_security import page_policy


def _client(directory: Path) -> httpx.AsyncClient:
    app = Starlette(routes=[Mount("/", FrontendFiles(directory))])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test")


async def test_each_page_gets_its_own_policy_and_a_rebuild_gets_a_new_one(tmp_path: Path) -> None:
    index, missing = tmp_path / "index.html", tmp_path / "404.html"
    index.write_bytes(b"<script>one()</script>")
    missing.write_bytes(b"<script>lost()</script>")
    (tmp_path / "app.js").write_bytes(b"run()")
    async with _client(tmp_path) as http:
        first = await http.get("/")
        assert first.headers["content-security-policy"] == page_policy(b"<script>one()</script>")
        lost = await http.get("/nowhere")
        assert lost.status_code == 404
        assert lost.headers["content-security-policy"] == page_policy(b"<script>lost()</script>")
        assert "content-security-policy" not in (await http.get("/app.js")).headers
        # A reload asks whether the page changed: the 304 carries the page's policy as well.
        unchanged = await http.get("/", headers={"If-None-Match": first.headers["etag"]})
        assert unchanged.status_code == 304
        assert unchanged.headers["content-security-policy"] == first.headers["content-security-policy"]
        index.write_bytes(b"<script>two(2)</script>")
        stat = index.stat()
        os.utime(index, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        rebuilt = await http.get("/")
    assert rebuilt.headers["content-security-policy"] == page_policy(b"<script>two(2)</script>")
    assert rebuilt.headers["content-security-policy"] != first.headers["content-security-policy"]
