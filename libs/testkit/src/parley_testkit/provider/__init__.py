"""A fake OpenAI-compatible chat-completions server (and JWKS endpoint) for tests."""

from parley_testkit.provider._app import MODEL_ID
from parley_testkit.provider._script import RecordedRequest, Script
from parley_testkit.provider._server import FakeProvider

__all__ = ["MODEL_ID", "FakeProvider", "RecordedRequest", "Script"]
