"""Domain errors; the entry points turn them into HTTP statuses or consumer actions."""

from __future__ import annotations


class HistoryError(Exception):
    """Base of the history service's domain errors."""


class ConversationNotFound(HistoryError):
    """No such conversation for this user (another user's conversation is not found either)."""


class InvalidCursor(HistoryError):
    """A pagination cursor that this service did not issue."""


class StoreUnavailable(HistoryError):
    """The database cannot be reached right now; the same call may succeed later."""


class NotAuthenticated(HistoryError):
    """No usable access token."""


class NotAllowed(HistoryError):
    """A valid token without the role the route needs."""


class ProjectNotFound(HistoryError):
    """No such project for this user (another user's project is not found either)."""


class PromptNotFound(HistoryError):
    """No saved prompt of this user nor shared with everyone has this id."""


class InvalidInput(HistoryError):
    """A request the domain refuses (a blank name, a bad tag); a 422 at the edge."""


class LimitReached(HistoryError):
    """A per-user limit (projects, saved prompts) is reached; a 409 at the edge."""
