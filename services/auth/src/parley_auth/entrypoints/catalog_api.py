"""The model catalogue's admin routes: `/api/auth/catalog` (providers and models).

Provider API keys are write-only: accepted on create and update, stored sealed,
answered as `has_key` and `key_last4` only.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, status

from parley_auth import catalog
from parley_auth.deps import AdminSession, AuthDep
from parley_auth.entrypoints.schemas import (
    CatalogOut,
    ErrorOut,
    ModelIn,
    ModelOut,
    ModelPatch,
    ProviderIn,
    ProviderOut,
    ProviderPatch,
)

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "The request body is not JSON", "model": ErrorOut},
    401: {"description": "Missing, invalid or expired credentials", "model": ErrorOut},
    403: {"description": "Not an admin, or the account is disabled", "model": ErrorOut},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such provider or model", "model": ErrorOut}
}
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "The name is taken, or the provider is still in use", "model": ErrorOut}
}
_NO_SECRET: dict[int | str, dict[str, Any]] = {
    503: {"description": "A key was given but PARLEY_CATALOG_SECRET is not set", "model": ErrorOut}
}

router = APIRouter(prefix="/api/auth/catalog", tags=["catalog"], responses=_ERRORS)


@router.get("")
async def read_catalog(_admin: AdminSession, auth: AuthDep) -> CatalogOut:
    """Admins only: every provider (keys as `key_last4` only) and every model, enabled or not."""
    view = await catalog.read(auth=auth)
    return CatalogOut(
        revision=view.revision,
        providers=[ProviderOut.model_validate(p) for p in view.providers],
        models=[ModelOut.model_validate(m) for m in view.models],
    )


@router.post("/providers", status_code=status.HTTP_201_CREATED, responses={**_CONFLICT, **_NO_SECRET})
async def create_provider(body: ProviderIn, admin: AdminSession, auth: AuthDep) -> ProviderOut:
    provider = await catalog.create_provider(
        str(admin.user.id), name=body.name.strip(), base_url=body.base_url, api_key=body.api_key, auth=auth
    )
    return ProviderOut.model_validate(provider)


@router.patch("/providers/{provider_id}", responses={**_NOT_FOUND, **_CONFLICT, **_NO_SECRET})
async def update_provider(
    provider_id: uuid.UUID, body: ProviderPatch, admin: AdminSession, auth: AuthDep
) -> ProviderOut:
    """`api_key`: a new key; "" or null removes it; absent leaves it."""
    changes = body.model_dump(exclude_unset=True)
    if "name" in changes:
        changes["name"] = changes["name"].strip()
    provider = await catalog.update_provider(str(admin.user.id), provider_id, changes, auth=auth)
    return ProviderOut.model_validate(provider)


@router.delete(
    "/providers/{provider_id}", status_code=status.HTTP_204_NO_CONTENT, responses={**_NOT_FOUND, **_CONFLICT}
)
async def delete_provider(provider_id: uuid.UUID, admin: AdminSession, auth: AuthDep) -> None:
    """409 while models use the provider."""
    await catalog.delete_provider(str(admin.user.id), provider_id, auth=auth)


@router.post("/models", status_code=status.HTTP_201_CREATED, responses=_CONFLICT)
async def create_model(body: ModelIn, admin: AdminSession, auth: AuthDep) -> ModelOut:
    """422 for an unknown `provider_id` or `max_tokens` above `context_window`."""
    model = await catalog.create_model(str(admin.user.id), body.model_dump(), auth=auth)
    return ModelOut.model_validate(model)


@router.patch("/models/{model_id}", responses={**_NOT_FOUND, **_CONFLICT})
async def update_model(model_id: uuid.UUID, body: ModelPatch, admin: AdminSession, auth: AuthDep) -> ModelOut:
    """Any subset of the fields, `enabled` included (running generations of a disabled model finish)."""
    changes = body.model_dump(exclude_unset=True)
    model = await catalog.update_model(str(admin.user.id), model_id, changes, auth=auth)
    return ModelOut.model_validate(model)


@router.delete("/models/{model_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_NOT_FOUND)
async def delete_model(model_id: uuid.UUID, admin: AdminSession, auth: AuthDep) -> None:
    await catalog.delete_model(str(admin.user.id), model_id, auth=auth)
