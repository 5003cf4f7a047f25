"""Dependency aliases for the routes: `Store`, `Publisher`, `CurrentUser`, `Admin`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from parley_history import services
from parley_history.adapters.tokens import Principal
from parley_history.bootstrap import History
from parley_history.domain.errors import NotAllowed, NotAuthenticated
from parley_history.ports import EventPublisher, HistoryStore

_bearer = HTTPBearer(auto_error=False, description="An access JWT from the auth service")


def _history(request: Request) -> History:
    history: History = request.app.state.history
    return history


def _store(history: Annotated[History, Depends(_history)]) -> HistoryStore:
    return history.store


def _publisher(history: Annotated[History, Depends(_history)]) -> EventPublisher:
    return history.publisher


async def _current_user(
    history: Annotated[History, Depends(_history)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise NotAuthenticated("an access token is required (Authorization: Bearer <token>)")
    if history.verifier is None:
        raise NotAuthenticated("this service has no JWKS configured (PARLEY_HISTORY_JWKS_URL)")
    principal = await history.verifier.verify(credentials.credentials)
    return await services.authorize(principal, store=history.store)


async def _admin(
    history: Annotated[History, Depends(_history)], user: Annotated[Principal, Depends(_current_user)]
) -> Principal:
    if user.role != history.settings.admin_role:
        raise NotAllowed("this endpoint is for admins")
    return user


Store = Annotated[HistoryStore, Depends(_store)]
Publisher = Annotated[EventPublisher, Depends(_publisher)]
HistoryDep = Annotated[History, Depends(_history)]
CurrentUser = Annotated[Principal, Depends(_current_user)]
Admin = Annotated[Principal, Depends(_admin)]
