"""Events -> a conversation and its messages: the rules, on plain data.

Every change is derived from event content only (never the clock), and the rows
do not depend on the order the events arrive in (redeliveries, competing
consumers, replay from the stream), only on the set of events:

- a field that several events set goes to the latest by `(occurred_at,
  event_id)` (`domain.versions`): the title (renames), pinned, the project
  (moves), the branch shown (prompts and branch selections), the model and
  system prompt (prompts), an answer's outcome; the first-prompt title and
  filing go to the earliest prompt;
- `created_at` is the earliest event's time, `updated_at` the latest of its
  messages' times (prompts and answers);
- an event may come before the one that creates its row: the row is created
  then (an outcome before its prompt, a rename before the first prompt) and
  completed when the rest arrives;
- a delete is final: the conversation is reduced to a tombstone (id, owner,
  times), its messages go, and every later-arriving event about it changes
  nothing, whenever it happened.
"""

from __future__ import annotations

import uuid

from parley_contracts import (
    BranchSelected,
    ConversationDeleted,
    ConversationMoved,
    ConversationPinned,
    ConversationRenamed,
    PromptSubmitted,
)
from parley_history.domain.answers import (
    Outcome,
    model_title,
    outcome_wins,
    set_outcome,
    title_request,
)
from parley_history.domain.conversations import TitleRequest, fallback_title
from parley_history.domain.library_projection import resolve_project
from parley_history.domain.state import ConversationScope, ConversationState, MessageState

ConversationEvent = (
    PromptSubmitted
    | Outcome
    | ConversationRenamed
    | ConversationPinned
    | ConversationDeleted
    | ConversationMoved
    | BranchSelected
)


def named_messages(event: ConversationEvent) -> tuple[uuid.UUID, ...]:
    if isinstance(event, PromptSubmitted):
        return event.message_id, event.prompt_message_id
    if isinstance(event, Outcome):
        return (event.message_id,)
    if isinstance(event, BranchSelected):
        return (event.leaf_id,)
    return ()


def named_project(event: ConversationEvent) -> uuid.UUID | None:
    return event.project_id if isinstance(event, PromptSubmitted | ConversationMoved) else None


def apply_conversation_event(scope: ConversationScope, event: ConversationEvent) -> TitleRequest | None:
    """Change `scope` as `event` says; the title request to publish, if it calls for one."""
    if isinstance(event, PromptSubmitted):
        return _prompt(scope, event)
    if isinstance(event, Outcome):
        return _outcome(scope, event)
    if isinstance(event, ConversationRenamed):
        _renamed(scope, event)
    elif isinstance(event, ConversationPinned):
        _pinned(scope, event)
    elif isinstance(event, ConversationDeleted):
        _deleted(scope, event)
    elif isinstance(event, ConversationMoved):
        _moved(scope, event)
    else:
        _branch_selected(scope, event)
    return None


def _live(scope: ConversationScope, event: ConversationEvent) -> ConversationState | None:
    """The live conversation this event may change: created when new; None when it
    belongs to another user or was deleted."""
    at = event.occurred_at
    conversation = scope.conversation
    if conversation is None:
        conversation = scope.conversation = ConversationState(
            id=scope.id, user_id=event.user_id, created_at=at, updated_at=at
        )
        return conversation
    if conversation.user_id != event.user_id:
        scope.warnings.append(
            f"ignoring an event of user {event.user_id!r} for conversation {scope.id}, "
            "which belongs to another user"
        )
        return None
    conversation.created_at = min(conversation.created_at, at)
    return None if conversation.deleted_at is not None else conversation


def _touch(scope: ConversationScope, conversation: ConversationState) -> None:
    """`updated_at`: the latest prompt or answer among the conversation's messages (so a
    function of the rows, whatever order their events came in)."""
    times = [scope.latest_other] if scope.latest_other is not None else []
    for message in scope.messages.values():
        if message.conversation_id == conversation.id and message.purpose == "chat":
            times += [at for at in (message.created_at, message.completed_at) if at is not None]
    if times:
        conversation.updated_at = max(times)


def _prompt(scope: ConversationScope, event: PromptSubmitted) -> TitleRequest | None:
    conversation = _live(scope, event)
    if conversation is None:
        return None
    answer = scope.messages.get(event.message_id)
    if event.purpose == "title":
        if answer is None:
            scope.add(_pending(event, purpose="title", parent_id=None))
        else:
            answer.purpose, answer.model, answer.created_at = "title", event.model, event.occurred_at
            if answer.status == "finished":
                model_title(conversation, answer.content)
        return None
    prompt = next((m.content for m in reversed(event.messages) if m.role == "user"), "")
    asked = scope.messages.get(event.prompt_message_id)
    answer_parent: uuid.UUID | None = event.prompt_message_id
    if asked is not None and (asked.conversation_id != event.conversation_id or asked.role != "user"):
        # A regenerate naming a message outside this conversation: never link to it.
        answer_parent = event.parent_id
    elif asked is not None:  # a regenerate (or the original, after its regenerate)
        asked.created_at = min(asked.created_at, event.occurred_at)
    else:
        scope.add(
            MessageState(
                id=event.prompt_message_id,
                conversation_id=event.conversation_id,
                parent_id=event.parent_id,
                role="user",
                purpose="chat",
                status="finished",
                content=prompt,
                created_at=event.occurred_at,
            )
        )
    _conversation_settings(scope, conversation, event, prompt)
    if answer is None:
        scope.add(_pending(event, purpose="chat", parent_id=answer_parent))
        _touch(scope, conversation)
        return None
    # The outcome came first: attach it to its prompt now.
    answer.purpose, answer.parent_id, answer.model = "chat", answer_parent, event.model
    answer.created_at = event.occurred_at
    _touch(scope, conversation)
    return title_request(conversation, answer, prompt)


def _conversation_settings(
    scope: ConversationScope, conversation: ConversationState, event: PromptSubmitted, prompt: str
) -> None:
    """What a chat prompt sets on its conversation, each only if no later (or, for the first
    prompt's, no earlier) event already did."""
    versions = conversation.versions
    if versions.earliest("first_prompt", event):
        conversation.fallback_title = fallback_title(prompt)
        if versions.recorded("project") is None:
            # Not moved yet: a chat started inside a project is filed there.
            _, conversation.project_id = resolve_project(
                scope.project, event.user_id, event.project_id, scope.warnings
            )
    if versions.latest("model", event):
        conversation.model = event.model
    system = next((m.content for m in event.messages if m.role == "system"), None)
    if system is not None and versions.latest("system_prompt", event):
        conversation.system_prompt = system
    if versions.latest("leaf", event):
        conversation.current_leaf_id = event.message_id


def _pending(event: PromptSubmitted, *, purpose: str, parent_id: uuid.UUID | None) -> MessageState:
    return MessageState(
        id=event.message_id,
        conversation_id=event.conversation_id,
        parent_id=parent_id,
        role="assistant",
        purpose=purpose,
        status="pending",
        content="",
        model=event.model,
        created_at=event.occurred_at,
    )


def _outcome(scope: ConversationScope, event: Outcome) -> TitleRequest | None:
    conversation = _live(scope, event)
    if conversation is None:
        return None
    message = scope.messages.get(event.message_id)
    if message is None:
        # Its prompt has not arrived yet: keep the outcome; the prompt attaches it.
        message = scope.add(
            MessageState(
                id=event.message_id,
                conversation_id=event.conversation_id,
                role="assistant",
                status="pending",
                content="",
                model=event.model,
                created_at=event.occurred_at,
            )
        )
    elif message.conversation_id != event.conversation_id:
        scope.warnings.append(f"ignoring {event.type} for message {event.message_id} of another conversation")
        return None
    if not outcome_wins(message, event):
        return None
    set_outcome(message, event)
    if message.purpose == "title":
        if message.status == "finished":
            model_title(conversation, message.content)
        return None
    if message.purpose != "chat":
        return None
    _touch(scope, conversation)
    prompt = scope.messages.get(message.parent_id) if message.parent_id is not None else None
    return title_request(conversation, message, prompt.content if prompt is not None else "")


def _renamed(scope: ConversationScope, event: ConversationRenamed) -> None:
    conversation = _live(scope, event)
    if conversation is not None and conversation.versions.latest("title", event):
        conversation.title, conversation.title_source = event.title, "user"


def _pinned(scope: ConversationScope, event: ConversationPinned) -> None:
    conversation = _live(scope, event)
    if conversation is not None and conversation.versions.latest("pinned", event):
        conversation.pinned = event.pinned


def _branch_selected(scope: ConversationScope, event: BranchSelected) -> None:
    conversation = _live(scope, event)
    if conversation is None:
        return
    leaf = scope.messages.get(event.leaf_id)
    if leaf is not None and leaf.conversation_id != conversation.id:
        scope.warnings.append(
            f"ignoring a branch selection of message {event.leaf_id} of another conversation"
        )
        return
    # An unknown leaf is kept: its prompt may still be on its way (the route checked it).
    if conversation.versions.latest("leaf", event):
        conversation.current_leaf_id = event.leaf_id


def _deleted(scope: ConversationScope, event: ConversationDeleted) -> None:
    conversation = scope.conversation
    if conversation is not None and conversation.deleted_at is not None:
        if conversation.user_id == event.user_id:  # deleted twice (two tabs): the first one counts
            conversation.created_at = min(conversation.created_at, event.occurred_at)
            conversation.deleted_at = conversation.updated_at = min(
                conversation.deleted_at, event.occurred_at
            )
        return
    conversation = _live(scope, event)
    if conversation is None:
        return
    # A tombstone: the conversation's id, owner and times only (so late events for it
    # change nothing, and it ends the same whichever came first); its messages go.
    # The audit log keeps the events.
    conversation.title = conversation.title_source = conversation.fallback_title = None
    conversation.title_message_id = conversation.system_prompt = conversation.model = None
    conversation.current_leaf_id = conversation.project_id = None
    conversation.pinned = False
    conversation.deleted_at = conversation.updated_at = event.occurred_at
    conversation.versions.forget()
    scope.dropped = True


def _moved(scope: ConversationScope, event: ConversationMoved) -> None:
    conversation = _live(scope, event)
    if conversation is None:
        return
    allowed, target = resolve_project(scope.project, event.user_id, event.project_id, scope.warnings)
    if allowed and conversation.versions.latest("project", event):
        # A move into a project deleted meanwhile leaves the conversation in none, as
        # the delete would have had it come second: the same rows in either order.
        conversation.project_id = target
