"""Parley's inference worker: consumes `prompt.submitted`, streams the answer
from an OpenAI-compatible model to the session queue, publishes the outcome."""

from parley_inference.bootstrap import bootstrap
from parley_inference.settings import Settings

__all__ = ["Settings", "bootstrap"]
