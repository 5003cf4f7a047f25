"""REST routes of projects and the prompt library (`/api/history/projects`,
`/api/history/prompts`). Another user's project, or another user's private
saved prompt, is a 404 on every route."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response

from parley_history import library
from parley_history.deps import CurrentUser, HistoryDep, Publisher, Store
from parley_history.domain.conversations import Cursor
from parley_history.domain.library import TAG_MAX, clean_query, clean_tag
from parley_history.entrypoints.library_schemas import (
    ProjectIn,
    ProjectList,
    ProjectOut,
    ProjectPatch,
    PromptIn,
    PromptOut,
    PromptPageOut,
    PromptPatch,
    TagCount,
    TagList,
    project_out,
    prompt_out,
)
from parley_history.entrypoints.publishing import publishing
from parley_history.entrypoints.responses import BAD_REQUEST, UNAUTHENTICATED
from parley_history.entrypoints.schemas import ConversationPage, summary_out

PREFIX = "/api/history"
PROJECT_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such project for this user"}}
PROMPT_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such saved prompt of this user, nor shared"}
}
NOT_OWNER: dict[int | str, dict[str, Any]] = {403: {"description": "A shared prompt of another user"}}
LIMIT: dict[int | str, dict[str, Any]] = {409: {"description": "The per-user limit is reached"}}

router = APIRouter(prefix=PREFIX, responses={**BAD_REQUEST, **UNAUTHENTICATED})


# -- projects -------------------------------------------------------------------


@router.get("/projects", response_model=ProjectList, tags=["projects"])
async def list_projects(user: CurrentUser, store: Store) -> ProjectList:
    """The user's projects by name, each with its number of conversations."""
    return ProjectList(items=[project_out(p) for p in await store.list_projects(user.user_id)])


@router.post("/projects", status_code=201, response_model=ProjectOut, responses=LIMIT, tags=["projects"])
async def create_project(
    body: ProjectIn, user: CurrentUser, store: Store, publisher: Publisher, history: HistoryDep
) -> ProjectOut:
    """Published as `project.created`."""
    view = await publishing(
        library.create_project(
            user.user_id,
            name=body.name,
            system_prompt=body.system_prompt,
            model=body.model,
            store=store,
            publisher=publisher,
            limit=history.settings.max_projects_per_user,
        )
    )
    return project_out(view)


@router.get(
    "/projects/{project_id}", response_model=ProjectOut, responses=PROJECT_NOT_FOUND, tags=["projects"]
)
async def get_project(project_id: UUID, user: CurrentUser, store: Store) -> ProjectOut:
    return project_out(await store.get_project(user.user_id, project_id))


@router.patch(
    "/projects/{project_id}", response_model=ProjectOut, responses=PROJECT_NOT_FOUND, tags=["projects"]
)
async def patch_project(
    project_id: UUID, patch: ProjectPatch, user: CurrentUser, store: Store, publisher: Publisher
) -> ProjectOut:
    """Rename and/or change the defaults (published as `project.updated`, with the full settings)."""
    changes = patch.model_dump(exclude_unset=True)
    view = await publishing(
        library.update_project(user.user_id, project_id, changes, store=store, publisher=publisher)
    )
    return project_out(view)


@router.delete("/projects/{project_id}", status_code=204, responses=PROJECT_NOT_FOUND, tags=["projects"])
async def delete_project(project_id: UUID, user: CurrentUser, store: Store, publisher: Publisher) -> Response:
    """Published as `project.deleted`; its conversations are kept, in no project."""
    await publishing(library.delete_project(user.user_id, project_id, store=store, publisher=publisher))
    return Response(status_code=204)


@router.get(
    "/projects/{project_id}/conversations",
    response_model=ConversationPage,
    responses=PROJECT_NOT_FOUND,
    tags=["projects"],
)
async def list_project_conversations(
    project_id: UUID,
    user: CurrentUser,
    store: Store,
    history: HistoryDep,
    q: Annotated[str | None, Query(max_length=200, description="Search titles and message text")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> ConversationPage:
    """The project's conversations, newest first (as `GET /conversations`)."""
    await store.get_project(user.user_id, project_id)
    page = await store.list_conversations(
        user.user_id,
        query=clean_query(q),
        limit=min(limit, history.settings.page_size_max),
        cursor=Cursor.decode(cursor) if cursor else None,
        project=project_id,
    )
    return ConversationPage(items=[summary_out(item) for item in page.items], next_cursor=page.next_cursor)


# -- the prompt library -------------------------------------------------------------


@router.get("/prompts", response_model=PromptPageOut, tags=["prompts"])
async def list_prompts(
    user: CurrentUser,
    store: Store,
    history: HistoryDep,
    scope: Annotated[
        Literal["all", "own", "shared"],
        Query(description="`own`: yours (shared or not); `shared`: everyone's shared ones; `all`: both"),
    ] = "all",
    tag: Annotated[str | None, Query(max_length=TAG_MAX, description="Only those with this tag")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Search names and texts")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> PromptPageOut:
    """Saved prompts the user may use, most recently changed first."""
    page = await store.list_prompts(
        user.user_id,
        scope=scope,
        tag=clean_tag(tag) if tag else None,
        query=clean_query(q),
        limit=min(limit, history.settings.page_size_max),
        cursor=Cursor.decode(cursor) if cursor else None,
    )
    return PromptPageOut(
        items=[prompt_out(item, user.user_id) for item in page.items], next_cursor=page.next_cursor
    )


@router.get("/prompts/tags", response_model=TagList, tags=["prompts"])
async def list_prompt_tags(
    user: CurrentUser, store: Store, scope: Annotated[Literal["all", "own", "shared"], Query()] = "all"
) -> TagList:
    """The tags of the saved prompts the user may see (as `GET /prompts?scope=`), by name, with counts."""
    counts = await store.prompt_tags(user.user_id, scope=scope)
    return TagList(items=[TagCount(tag=tag, count=count) for tag, count in counts.items()])


@router.post("/prompts", status_code=201, response_model=PromptOut, responses=LIMIT, tags=["prompts"])
async def create_prompt(
    body: PromptIn, user: CurrentUser, store: Store, publisher: Publisher, history: HistoryDep
) -> PromptOut:
    """Published as `library.prompt.saved` (and `library.prompt.shared` when shared)."""
    view = await publishing(
        library.create_prompt(
            user.user_id,
            name=body.name,
            text=body.text,
            tags=body.tags,
            shared=body.shared,
            store=store,
            publisher=publisher,
            limit=history.settings.max_prompts_per_user,
        )
    )
    return prompt_out(view, user.user_id)


@router.get("/prompts/{prompt_id}", response_model=PromptOut, responses=PROMPT_NOT_FOUND, tags=["prompts"])
async def get_prompt(prompt_id: UUID, user: CurrentUser, store: Store) -> PromptOut:
    return prompt_out(await store.get_prompt(user.user_id, prompt_id), user.user_id)


@router.patch(
    "/prompts/{prompt_id}",
    response_model=PromptOut,
    responses={**PROMPT_NOT_FOUND, **NOT_OWNER},
    tags=["prompts"],
)
async def patch_prompt(
    prompt_id: UUID,
    patch: PromptPatch,
    user: CurrentUser,
    store: Store,
    publisher: Publisher,
    history: HistoryDep,
) -> PromptOut:
    """Edit (`library.prompt.saved`), share or unshare (`library.prompt.shared`)."""
    view = await publishing(
        library.update_prompt(
            user.user_id,
            prompt_id,
            patch.model_dump(exclude_unset=True),
            admin=user.role == history.settings.admin_role,
            store=store,
            publisher=publisher,
        )
    )
    return prompt_out(view, user.user_id)


@router.delete(
    "/prompts/{prompt_id}", status_code=204, responses={**PROMPT_NOT_FOUND, **NOT_OWNER}, tags=["prompts"]
)
async def delete_prompt(prompt_id: UUID, user: CurrentUser, store: Store, publisher: Publisher) -> Response:
    """The owner only; published as `library.prompt.deleted`."""
    await publishing(library.delete_prompt(user.user_id, prompt_id, store=store, publisher=publisher))
    return Response(status_code=204)
