"""The built frontend (Next.js static export), each page served with the
Content-Security-Policy of its own inline scripts."""

from __future__ import annotations

import os
from pathlib import Path

from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from parley_platform.browser_security import page_policy


class FrontendFiles(StaticFiles):
    """`StaticFiles` in html mode whose pages carry `page_policy` of their content. The policy
    is computed once per file version (its mtime and size), so a rebuilt frontend is served
    with the hashes of its new scripts."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory=directory, html=True)
        self._policies: dict[str, tuple[tuple[int, int], str]] = {}

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        # A 304 needs the policy too: the browser takes the 304's headers over the cached
        # page's, and the API policy added to everything else would block the page's scripts.
        self._police(os.fspath(full_path), stat_result, response)
        return response

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if isinstance(response, FileResponse) and "content-security-policy" not in response.headers:
            # The 404 page is sent without `file_response`.
            stat_result = response.stat_result or os.stat(response.path)
            self._police(os.fspath(response.path), stat_result, response)
        return response

    def _police(self, path: str, stat_result: os.stat_result, response: Response) -> None:
        if path.endswith(".html"):
            response.headers["content-security-policy"] = self._policy(path, stat_result)

    def _policy(self, path: str, stat_result: os.stat_result) -> str:
        version = (stat_result.st_mtime_ns, stat_result.st_size)
        cached = self._policies.get(path)
        if cached is None or cached[0] != version:
            cached = (version, page_policy(Path(path).read_bytes()))
            self._policies[path] = cached
        return cached[1]
