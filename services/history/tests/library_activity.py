"""The projects, saved prompts and access changes of `EventLog` (`tests/event_log.py`)."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from parley_contracts import DomainEvent, UserAccessChanged
from tests.events import (
    project_created,
    project_deleted,
    project_updated,
    prompt_deleted,
    prompt_saved,
    prompt_shared,
)

ADMIN = "admin"


@dataclass
class SavedPrompt:
    id: uuid.UUID
    owner: str
    shared: bool = False


class LibraryActivity:
    """Mixed into `EventLog`: its users' projects and saved prompts, and (last) admins'
    changes of their access, drawn from the log's seeded random source."""

    _rng: random.Random
    _now: datetime
    _users: list[str]
    _projects: dict[uuid.UUID, str]
    _saved: dict[uuid.UUID, SavedPrompt]

    def _id(self) -> uuid.UUID:
        raise NotImplementedError

    def _emit(self, event: DomainEvent) -> None:
        raise NotImplementedError

    def _access_changes(self) -> None:
        """After everything else (so the rest of the log stays what the seed made it before)."""
        first, second = self._users[0], self._users[1]
        disabled_at: datetime | None = None
        for user, disabled, role in [
            (first, True, "user"), (second, False, "admin"), (first, False, "user"),
            (first, False, "admin"), (second, False, "user"), (first, True, "admin"),
        ]:  # fmt: skip
            if disabled:
                disabled_at = self._now
            cut = disabled_at if user == first else None
            self._emit(UserAccessChanged(user_id=user, disabled=disabled, role=role, tokens_not_before=cut,
                                         relevant_until=self._now + timedelta(minutes=16)))  # fmt: skip

    def _create_project(self, user: str) -> None:
        project_id = self._id()
        self._projects[project_id] = user
        name = f"Project {project_id.hex[:4]}"
        self._emit(project_created(user, name, model="small", project_id=project_id))

    def _library_action(self, user: str) -> None:
        rng = self._rng
        roll = rng.random()
        mine = [p for p, owner in self._projects.items() if owner == user]
        saved = [s for s in self._saved.values() if s.owner == user]
        if roll < 0.15 or not mine:
            self._create_project(user)
        elif roll < 0.3:
            system = rng.choice([None, f"Project rules {self._id().hex[:4]}"])
            project_id = rng.choice(mine)
            name = f"Project {self._id().hex[:4]}"
            self._emit(project_updated(user, project_id, name, system_prompt=system))
        elif roll < 0.37:
            project_id = rng.choice(mine)
            del self._projects[project_id]
            self._emit(project_deleted(user, project_id))
        elif roll < 0.55 or not saved:
            prompt = SavedPrompt(self._id(), user)
            self._saved[prompt.id] = prompt
            self._emit(prompt_saved(user, "Saved", "Be concise", tags=("work",), prompt_id=prompt.id))
        elif roll < 0.7:
            prompt = rng.choice(saved)
            text = f"Edited {self._id().hex[:4]}"
            tags = tuple(sorted(rng.sample(["a", "b", "c"], 2)))
            self._emit(prompt_saved(user, "Saved v2", text, tags=tags, prompt_id=prompt.id))
        elif roll < 0.85:
            prompt = rng.choice(saved)
            prompt.shared = not prompt.shared
            self._emit(prompt_shared(user, prompt.id, owner=user, on=prompt.shared))
        elif roll < 0.92:
            shared = [s for s in self._saved.values() if s.shared]
            if shared:
                prompt = rng.choice(shared)
                prompt.shared = False
                self._emit(prompt_shared(ADMIN, prompt.id, owner=prompt.owner, on=False))
        else:
            prompt = rng.choice(saved)
            del self._saved[prompt.id]
            self._emit(prompt_deleted(user, prompt.id))
