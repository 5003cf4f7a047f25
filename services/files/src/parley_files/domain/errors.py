"""Domain errors; the entry points turn them into HTTP statuses."""

from __future__ import annotations


class FilesError(Exception):
    """Base of the files service's domain errors."""


class Refused(FilesError):
    """An upload this service does not accept; `reason` is a sentence to show the user as is."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
