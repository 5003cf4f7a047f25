"""`/api/auth`: registration, sign-in, the refresh cookie, sign-out, API-key exchange, the JWKS."""

from __future__ import annotations

from fastapi import Request, Response, status

from parley_auth import services
from parley_auth.bootstrap import Auth
from parley_auth.deps import AuthDep
from parley_auth.domain.errors import InvalidToken
from parley_auth.domain.model import Tokens
from parley_auth.entrypoints.errors import auth_error
from parley_auth.entrypoints.http import ERRORS, api_router, client_address, same_site, token_out, user_out
from parley_auth.entrypoints.schemas import ErrorOut, LoginIn, RegisterIn, TokenExchangeIn, TokenOut, UserOut

router = api_router()


def _issued(response: Response, auth: Auth, tokens: Tokens) -> TokenOut:
    """The answer that hands out a session's tokens: the refresh token as its cookie, never cached."""
    _set_refresh_cookie(response, auth, tokens)
    response.headers["Cache-Control"] = "no-store"
    return token_out(tokens)


def _set_refresh_cookie(response: Response, auth: Auth, tokens: Tokens) -> None:
    assert tokens.refresh_token is not None
    settings = auth.settings
    response.set_cookie(
        settings.cookie_name,
        tokens.refresh_token,
        max_age=tokens.refresh_expires_in,
        path=settings.refresh_path,
        secure=settings.cookie_secure,
        httponly=True,
        samesite="strict",
    )


def _clear_refresh_cookie(response: Response, auth: Auth) -> None:
    settings = auth.settings
    response.delete_cookie(
        settings.cookie_name, path=settings.refresh_path, secure=settings.cookie_secure, httponly=True,
        samesite="strict",
    )  # fmt: skip


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    responses={
        403: {"description": "A wrong bootstrap token, or an admin exists already", "model": ErrorOut},
        409: {"description": "Email taken"},
        429: {"description": "Too many registrations from this address, or too busy", "model": ErrorOut},
    },
)
async def register(body: RegisterIn, request: Request, auth: AuthDep) -> UserOut:
    account = await services.register(
        body.email,
        body.display_name,
        body.password,
        address=client_address(request),
        bootstrap_token=body.bootstrap_token,
        accounts=auth.accounts,
        hasher=auth.hasher,
        throttle=auth.registrations,
        publisher=auth.publisher,
        policy=auth.policy,
        clock=auth.now,
        metrics=auth.metrics,
    )
    return user_out(account)


@router.post("/login", responses={**ERRORS, 429: {"description": "Too many failed logins"}})
async def login(body: LoginIn, request: Request, response: Response, auth: AuthDep) -> TokenOut:
    tokens = await services.login(
        body.email,
        body.password,
        client_address(request),
        accounts=auth.accounts,
        hasher=auth.hasher,
        throttle=auth.throttle,
        issuer=auth.keys,
        policy=auth.policy,
        clock=auth.now,
        metrics=auth.metrics,
    )
    return _issued(response, auth, tokens)


@router.post("/refresh", responses={**ERRORS, 403: {"description": "From another site", "model": ErrorOut}})
async def refresh(request: Request, response: Response, auth: AuthDep) -> TokenOut:
    """Rotates the refresh cookie; a spent cookie presented again revokes its whole session."""
    same_site(request, auth)
    tokens = await services.refresh(
        request.cookies.get(auth.settings.cookie_name),
        accounts=auth.accounts,
        issuer=auth.keys,
        publisher=auth.publisher,
        policy=auth.policy,
        clock=auth.now,
        metrics=auth.metrics,
    )
    return _issued(response, auth, tokens)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=ERRORS)
async def logout(request: Request, auth: AuthDep) -> Response:
    """Ends the session of the access token (`Authorization: Bearer`, its `sid`) and/or of the
    refresh cookie; 401 when neither names a session. The cookie is cleared either way."""
    same_site(request, auth)
    claims = services.optional_claims(
        request.headers.get("authorization"), verifier=auth.keys, clock=auth.now
    )
    try:
        await services.logout(
            claims,
            request.cookies.get(auth.settings.cookie_name),
            accounts=auth.accounts,
            publisher=auth.publisher,
            policy=auth.policy,
            clock=auth.now,
        )
        response: Response = Response(status_code=status.HTTP_204_NO_CONTENT)
    except InvalidToken as exc:
        response = await auth_error(request, exc)
    _clear_refresh_cookie(response, auth)
    return response


@router.get("/jwks.json")
async def jwks(auth: AuthDep, response: Response) -> dict[str, list[dict[str, str]]]:
    """Every public key a still-valid access token may be signed by."""
    response.headers["Cache-Control"] = "public, max-age=60"
    return auth.keys.jwks(auth.now())


@router.post(
    "/token",
    responses={
        401: {"description": "Invalid API key"},
        403: ERRORS[403],
        429: {"description": "Too many failures"},
    },
)
async def exchange_token(
    body: TokenExchangeIn, request: Request, auth: AuthDep, response: Response
) -> TokenOut:
    """Exchanges an API key for an access token; failed exchanges are throttled per address."""
    response.headers["Cache-Control"] = "no-store"
    tokens = await services.exchange_api_key(
        body.api_key,
        client_address(request),
        accounts=auth.accounts,
        throttle=auth.key_throttle,
        issuer=auth.keys,
        policy=auth.policy,
        clock=auth.now,
    )
    return token_out(tokens)
