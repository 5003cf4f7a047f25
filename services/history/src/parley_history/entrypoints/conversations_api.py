"""REST routes of the owner's conversations (`/api/history/conversations`): list and search,
read, rename, pin, move, show another branch, delete. Another user's conversation is a 404."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from parley_history import library, services
from parley_history.deps import CurrentUser, HistoryDep, Publisher, Store
from parley_history.domain.conversations import Cursor, ProjectFilter
from parley_history.domain.errors import InvalidInput
from parley_history.domain.library import clean_query
from parley_history.entrypoints.publishing import publishing
from parley_history.entrypoints.responses import BAD_REQUEST, CONVERSATION_NOT_FOUND, UNAUTHENTICATED
from parley_history.entrypoints.schemas import (
    ConversationDetail,
    ConversationPage,
    ConversationPatch,
    conversation_out,
    summary_out,
)
from parley_history.ports import ProjectReader

PREFIX = "/api/history"

router = APIRouter(prefix=PREFIX, tags=["conversations"])


@router.get(
    "/conversations",
    response_model=ConversationPage,
    responses={
        **BAD_REQUEST,
        **UNAUTHENTICATED,
        404: {"description": "`project_id` names no project of this user"},
    },
)
async def list_conversations(
    user: CurrentUser,
    store: Store,
    history: HistoryDep,
    q: Annotated[str | None, Query(max_length=200, description="Search titles and message text")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
    project_id: Annotated[
        str | None,
        Query(description="A project's id: only its conversations; `none`: those in no project"),
    ] = None,
) -> ConversationPage:
    """The user's conversations, newest first."""
    page = await store.list_conversations(
        user.user_id,
        query=clean_query(q),
        limit=min(limit, history.settings.page_size_max),
        cursor=Cursor.decode(cursor) if cursor else None,
        project=await _project_filter(store, user.user_id, project_id),
    )
    return ConversationPage(items=[summary_out(item) for item in page.items], next_cursor=page.next_cursor)


@router.get(
    "/conversations/{conversation_id}",
    response_model=ConversationDetail,
    responses={**UNAUTHENTICATED, **CONVERSATION_NOT_FOUND},
)
async def get_conversation(conversation_id: UUID, user: CurrentUser, store: Store) -> ConversationDetail:
    """One conversation with its whole message tree and the branch last shown."""
    return conversation_out(await store.get_conversation(user.user_id, conversation_id))


@router.patch(
    "/conversations/{conversation_id}",
    response_model=ConversationDetail,
    responses={**CONVERSATION_NOT_FOUND, **BAD_REQUEST, **UNAUTHENTICATED},
)
async def patch_conversation(
    conversation_id: UUID, patch: ConversationPatch, user: CurrentUser, store: Store, publisher: Publisher
) -> ConversationDetail:
    """Rename (published as `conversation.renamed`), pin (`conversation.pinned`), move into or
    out of a project (`conversation.moved`; an unknown project is a 404) and/or show another
    branch (`conversation.branch_selected`; a leaf outside the conversation is a 422)."""
    view = await store.get_conversation(user.user_id, conversation_id)
    if "project_id" in patch.model_fields_set:
        view = await publishing(
            library.move_conversation(
                user.user_id, conversation_id, patch.project_id, store=store, publisher=publisher
            )
        )
    if patch.title is not None:
        view = await publishing(
            services.rename(user.user_id, conversation_id, patch.title, store=store, publisher=publisher)
        )
    if patch.pinned is not None:
        view = await publishing(
            services.set_pinned(user.user_id, conversation_id, patch.pinned, store=store, publisher=publisher)
        )
    if patch.current_leaf_id is not None:
        view = await publishing(
            services.select_branch(
                user.user_id, conversation_id, patch.current_leaf_id, store=store, publisher=publisher
            )
        )
    return conversation_out(view)


@router.delete(
    "/conversations/{conversation_id}",
    status_code=204,
    responses={**UNAUTHENTICATED, **CONVERSATION_NOT_FOUND},
)
async def delete_conversation(
    conversation_id: UUID, user: CurrentUser, store: Store, publisher: Publisher
) -> Response:
    """Gone for the user (published as `conversation.deleted`); the audit log keeps its events."""
    await publishing(services.delete(user.user_id, conversation_id, store=store, publisher=publisher))
    return Response(status_code=204)


async def _project_filter(store: ProjectReader, user_id: str, value: str | None) -> ProjectFilter:
    if value is None:
        return None
    if value == "none":
        return "none"
    try:
        project_id = UUID(value)
    except ValueError as exc:
        raise InvalidInput("project_id must be a project's id or `none`") from exc
    await store.get_project(user_id, project_id)  # another user's project: 404
    return project_id
