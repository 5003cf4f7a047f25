"""Reading the models file (YAML)."""

from __future__ import annotations

from pathlib import Path

import yaml

from parley_inference.domain.catalog import ModelCatalog, ModelsFileError, parse_models


def load_models_file(path: Path) -> ModelCatalog:
    """The catalog in `path`; `ModelsFileError` with a one-line reason when the
    file is missing, unreadable, not YAML or not a valid list of models."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelsFileError(f"models file {path} does not exist (set PARLEY_MODELS_FILE)") from None
    except OSError as exc:
        raise ModelsFileError(f"models file {path} cannot be read: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ModelsFileError(f"models file {path} is not valid YAML{where}: {problem}") from None
    return parse_models(data, source=f"models file {path}")
