from __future__ import annotations

import json
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
    paths = set(json.loads(COMMITTED.read_text())["paths"])
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


def test_every_authenticated_operation_documents_its_401_and_400() -> None:
    document = json.loads(openapi_document(Settings(database_url="sqlite:///unused.db")))
    operations = [
        (method, path, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]
    authenticated = [(m, p, op) for m, p, op in operations if op.get("security")]
    assert len(authenticated) >= 15
    assert [(m, p) for m, p, op in authenticated if "401" not in op["responses"]] == []
    with_body = [(m, p, op) for m, p, op in authenticated if "requestBody" in op]
    assert [(m, p) for m, p, op in with_body if "400" not in op["responses"]] == []
