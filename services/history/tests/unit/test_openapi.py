from __future__ import annotations

from pathlib import Path

from parley_history.entrypoints.app import openapi_document
from parley_history.settings import Settings

COMMITTED = Path(__file__).resolve().parents[2] / "openapi.json"


def test_the_committed_openapi_document_is_current() -> None:
    current = openapi_document(Settings(database_url="sqlite:///unused.db"))
    assert COMMITTED.read_text() == current, (
        "openapi.json is stale: run `python -m parley_history openapi openapi.json` in services/history"
    )


def test_the_public_paths_are_served() -> None:
    paths = set(__import__("json").loads(COMMITTED.read_text())["paths"])
    assert {
        "/api/history/conversations",
        "/api/history/conversations/{conversation_id}",
        "/api/history/conversations/{conversation_id}/export",
        "/api/history/audit/events",
        "/api/history/projects",
        "/api/history/projects/{project_id}",
        "/api/history/projects/{project_id}/conversations",
        "/api/history/prompts",
        "/api/history/prompts/tags",
        "/api/history/prompts/{prompt_id}",
        "/healthz",
        "/readyz",
        "/metrics",
    } <= paths
