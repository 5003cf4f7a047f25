"""What every HTTP service does for browsers: security headers on each answer, a
Content-Security-Policy for pages built from their own inline scripts' hashes, and
the check of a request's `Origin` where a cookie or a socket would otherwise let
another site act as the user. A pure ASGI middleware: streams and WebSockets pass
through untouched."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from parley_platform.http_metrics import ASGIApp, Message, Receive, Scope, Send

API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
"""The CSP of an answer that is not a page (JSON, files): it may load and run nothing."""

_PAGE_POLICY = (
    "default-src 'self'",
    "script-src 'self'{hashes}",
    # Radix positions popovers with inline style attributes; styles cannot run code.
    "style-src 'self' 'unsafe-inline'",
    # Same-origin and inline pictures only: a remote image in an answer would tell
    # its host what the chat contains.
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)
_INLINE_SCRIPT = re.compile(rb"<script\b(?![^>]*\bsrc\s*=)[^>]*>(.*?)</script\s*>", re.DOTALL | re.IGNORECASE)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def page_policy(html: bytes) -> str:
    """The CSP of a built page: scripts from the origin, plus exactly the inline scripts this
    page carries (by SHA-256), so that an injected inline script does not run."""
    digests = sorted({_sha256(body) for body in _INLINE_SCRIPT.findall(html) if body.strip()})
    hashes = "".join(f" 'sha256-{digest}'" for digest in digests)
    return "; ".join(_PAGE_POLICY).format(hashes=hashes)


def _sha256(body: bytes) -> str:
    return base64.b64encode(hashlib.sha256(body).digest()).decode()


class OriginPolicy:
    """Which browser origins may use the cookie-authenticated routes and the WebSocket.

    A request without `Origin` is allowed: browsers send it on every WebSocket handshake
    and every POST, so its absence means a program (the CLI, an SDK, curl), which brings its
    own credentials and cannot be made to act for someone else. With an `Origin`, it must be
    the origin the request was sent to (its `Host`), or one of `allowed`.
    """

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        self.allowed = frozenset(filter(None, (_normal_origin(o) for o in allowed)))

    @classmethod
    def parse(cls, allowed: str) -> OriginPolicy:
        """From a comma-separated list (`https://chat.example.com,https://admin.example.com`)."""
        return cls(part.strip() for part in allowed.split(","))

    def admits(self, headers: Mapping[str, str]) -> bool:
        """Whether a request with these headers (`Origin`, `Host`; lower-case keys, as ASGI
        frameworks give them) may go on."""
        return self.allows(headers.get("origin"), headers.get("host"))

    def allows(self, origin: str | None, host: str | None) -> bool:
        if origin is None:
            return True
        normal = _normal_origin(origin)
        if normal is None:
            return False  # "null" (a sandboxed frame, a file), or garbage
        if normal in self.allowed:
            return True
        return host is not None and _netloc(normal) == _host_netloc(host, scheme=urlsplit(normal).scheme)


def _normal_origin(origin: str) -> str | None:
    parts = urlsplit(origin.strip().lower())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    if port is None or port == _DEFAULT_PORTS[parts.scheme]:
        return f"{parts.scheme}://{parts.hostname}"
    return f"{parts.scheme}://{parts.hostname}:{port}"


def _netloc(origin: str) -> str:
    return origin.split("://", 1)[1]


def _host_netloc(host: str, *, scheme: str) -> str:
    parts = urlsplit(f"//{host.strip().lower()}")
    try:
        port = parts.port
    except ValueError:
        return ""
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return parts.hostname or ""
    return f"{parts.hostname}:{port}"


class SecurityHeaders:
    """Adds to every HTTP answer what browsers should enforce, unless the app set it already
    (a page sets its own Content-Security-Policy):

    - `Content-Security-Policy` (`API_POLICY` by default) and `X-Frame-Options: DENY`: no
      answer is shown in another site's frame, no answer but a page runs anything;
    - `X-Content-Type-Options: nosniff`: a JSON body or an uploaded file is never run as script;
    - `Referrer-Policy: no-referrer`: a link in an answer does not tell its host the chat's URL;
    - `Cross-Origin-Opener-Policy: same-origin`;
    - `Strict-Transport-Security` when the request came over TLS (`hsts_max_age_s` > 0).
    """

    def __init__(self, app: ASGIApp, *, hsts_max_age_s: int = 31_536_000) -> None:
        self._app = app
        self._plain = [
            (b"content-security-policy", API_POLICY.encode()),
            (b"x-frame-options", b"DENY"),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]
        hsts = [(b"strict-transport-security", f"max-age={hsts_max_age_s}; includeSubDomains".encode())]
        self._tls = self._plain + (hsts if hsts_max_age_s > 0 else [])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        added = self._tls if scope.get("scheme") == "https" else self._plain

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(header for header in added if header[0] not in present)
                message["headers"] = headers
            await send(message)

        await self._app(scope, receive, send_with_headers)
