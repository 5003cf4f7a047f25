from __future__ import annotations

from pathlib import Path

import pytest

from parley_inference.adapters.models_file import load_models_file
from parley_inference.domain.catalog import ModelsFileError, with_keys_present
from parley_inference.domain.errors import ErrorCode, GenerationError

EXAMPLE = Path(__file__).resolve().parents[2] / "models.example.yaml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "models.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_example_loads() -> None:
    catalog = load_models_file(EXAMPLE)
    assert len(catalog) >= 1
    local = catalog.get("smollm2-135m")
    assert local.base_url == "http://127.0.0.1:8081/v1"
    assert local.extra == {"repeat_penalty": 1.1}
    assert local.concurrency == 1
    assert {"qwen-plus", "qwen2.5-7b-vllm", "gpt-4o-mini"} <= set(catalog.names)


def test_a_bare_list_with_every_field(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
- name: small
  base_url: http://127.0.0.1:8080/v1/
  model: qwen2.5:0.5b
  api_key_env: SMALL_KEY
  max_tokens: 512
  context_window: 4096
  input_price_per_mtok: 0.1
  output_price_per_mtok: 0.2
  extra: {repeat_penalty: 1.2, top_k: 40}
  concurrency: 2
""",
    )
    spec = load_models_file(path).get("small")
    assert spec.base_url == "http://127.0.0.1:8080/v1"  # trailing slash dropped
    assert spec.model == "qwen2.5:0.5b"
    assert spec.api_key_env == "SMALL_KEY"
    assert (spec.max_tokens, spec.context_window) == (512, 4096)
    assert (spec.input_price_per_mtok, spec.output_price_per_mtok) == (0.1, 0.2)
    assert spec.extra == {"repeat_penalty": 1.2, "top_k": 40}
    assert spec.concurrency_or(8) == 2


def test_defaults_for_the_optional_fields(tmp_path: Path) -> None:
    spec = load_models_file(_write(tmp_path, "models: [{name: a, base_url: 'http://h/v1', model: m}]")).get(
        "a"
    )
    assert spec.api_key_env is None
    assert spec.extra == {}
    assert spec.concurrency is None
    assert spec.concurrency_or(8) == 8
    assert spec.max_tokens > 0


def test_a_missing_file_names_the_path_and_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ModelsFileError, match=r"nope\.yaml does not exist \(set PARLEY_MODELS_FILE\)"):
        load_models_file(tmp_path / "nope.yaml")


def test_bad_yaml_says_where(tmp_path: Path) -> None:
    with pytest.raises(ModelsFileError, match=r"not valid YAML at line 2, column 12: mapping values"):
        load_models_file(_write(tmp_path, "models:\n  - name: a: b\n"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("models: [{name: a, model: m}]", r"models\.0\.base_url: Field required"),
        (
            "models: [{name: a, base_url: 'ftp://h', model: m}]",
            r"base_url: Value error, must start with http",
        ),
        ("models: [{name: a, base_url: 'http://h', model: m, colour: red}]", r"colour: Extra inputs"),
        ("models: [{name: a, base_url: 'http://h', model: m, max_tokens: 0}]", r"max_tokens"),
        (
            "models: [{name: a, base_url: 'http://h', model: m, concurrency: 0}]",
            r"concurrency: Input should be",
        ),
        ("models: []", r"models: List should have at least 1 item"),
        ("just text", r"expected a list of models"),
        ("", r"expected a list of models"),
    ],
)
def test_invalid_content_is_one_clear_line(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ModelsFileError, match=expected) as caught:
        load_models_file(_write(tmp_path, text))
    assert "\n" not in str(caught.value)
    assert "models.yaml" in str(caught.value)


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    text = "- {name: a, base_url: 'http://h', model: m}\n- {name: a, base_url: 'http://g', model: n}\n"
    with pytest.raises(ModelsFileError, match="'a' is listed twice"):
        load_models_file(_write(tmp_path, text))


def test_an_unknown_name_is_model_not_found() -> None:
    catalog = load_models_file(EXAMPLE)
    with pytest.raises(GenerationError) as caught:
        catalog.get("no-such-model")
    assert caught.value.code is ErrorCode.MODEL_NOT_FOUND
    assert "'no-such-model'" in caught.value.message
    assert "smollm2-135m" in caught.value.message
    assert catalog.find("no-such-model") is None


def test_models_whose_key_is_missing_are_left_out_and_named(tmp_path: Path) -> None:
    text = """
models:
  - {name: open, base_url: "http://127.0.0.1:1/v1", model: m}
  - {name: keyed, base_url: "https://api.example.org/v1", model: m, api_key_env: EXAMPLE_KEY}
  - {name: empty, base_url: "https://api.example.org/v1", model: m, api_key_env: EMPTY_KEY}
"""
    catalog = load_models_file(_write(tmp_path, text))
    kept, left_out = with_keys_present(catalog, {"EMPTY_KEY": ""})
    assert kept.names == ("open",)
    assert left_out == [
        "model 'keyed' is not served: its key variable EXAMPLE_KEY is not set",
        "model 'empty' is not served: its key variable EMPTY_KEY is not set",
    ]
    kept, left_out = with_keys_present(catalog, {"EXAMPLE_KEY": "sk-1", "EMPTY_KEY": "sk-2"})
    assert kept.names == ("open", "keyed", "empty")
    assert left_out == []
