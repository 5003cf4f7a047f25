"""HTTP clients that keep nothing of one request for the next.

The gateway calls auth and history on behalf of many users through long-lived
clients. httpx stores every `Set-Cookie` in its client's cookie jar and sends it
on any later request that brings no `Cookie` header of its own: a proxy built on
such a client hands the last user's refresh cookie to the next anonymous caller.
These clients' jar refuses to store or send any cookie, so the only cookies a
request carries are the ones its own caller sent.
"""

from __future__ import annotations

from http.cookiejar import Cookie, CookieJar, DefaultCookiePolicy

import httpx


class _NoCookies(DefaultCookiePolicy):
    def set_ok(self, cookie: Cookie, request: object) -> bool:
        return False

    def return_ok(self, cookie: Cookie, request: object) -> bool:
        return False


def stateless_client(
    *, timeout: httpx.Timeout, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """A client with a cookie jar that stores nothing, no redirects followed, no proxy
    settings read from the environment."""
    return httpx.AsyncClient(
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        transport=transport,
        cookies=CookieJar(policy=_NoCookies()),
    )
