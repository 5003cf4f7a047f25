"""FastAPI dependency aliases, so that route signatures stay one line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from parley_auth import services
from parley_auth.bootstrap import Auth
from parley_auth.domain.errors import InvalidToken
from parley_auth.domain.model import AccessClaims, Account

_bearer = HTTPBearer(
    auto_error=False, description="An access token from login, refresh or an API key exchange"
)


def get_auth(connection: HTTPConnection) -> Auth:
    auth: Auth = connection.app.state.auth
    return auth


AuthDep = Annotated[Auth, Depends(get_auth)]


@dataclass(frozen=True)
class Session:
    user: Account
    claims: AccessClaims


async def get_session(
    auth: AuthDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Session:
    if credentials is None:
        raise InvalidToken("an access token is required")
    user, claims = await services.authenticate(
        credentials.credentials, verifier=auth.keys, accounts=auth.accounts, clock=auth.now
    )
    return Session(user, claims)


async def get_admin(session: Annotated[Session, Depends(get_session)]) -> Session:
    services.require_admin(session.user)
    return session


CurrentSession = Annotated[Session, Depends(get_session)]
AdminSession = Annotated[Session, Depends(get_admin)]
