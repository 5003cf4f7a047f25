"""Projects and saved prompts: cleaning input, tags as stored, who may change a prompt."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from parley_contracts import ConversationMoved, ProjectCreated, PromptSaved, new_id
from parley_history import services
from parley_history.domain.errors import InvalidInput, NotAllowed
from parley_history.domain.library import (
    NAME_MAX,
    TAGS_MAX,
    PromptView,
    check_prompt_edit,
    check_prompt_share,
    clean_model,
    clean_name,
    clean_optional_text,
    clean_tags,
    clean_text,
    decode_tags,
    encode_tags,
)


def test_names_are_trimmed_bounded_and_one_line() -> None:
    assert clean_name("  Garden  ") == "Garden"
    assert clean_name("x" * NAME_MAX) == "x" * NAME_MAX
    for bad, reason in (
        ("   ", "blank"),
        ("x" * (NAME_MAX + 1), "longer"),
        ("two\nlines", "one line"),
        ("nul\x00", "one line"),
    ):
        with pytest.raises(InvalidInput, match=reason):
            clean_name(bad)


def test_texts_keep_their_lines_but_not_nul() -> None:
    text = "Be brief.\nAnswer in French."
    assert clean_text(text, what="text", limit=100) == text
    with pytest.raises(InvalidInput, match="NUL"):
        clean_text("a\x00b", what="text", limit=100)
    with pytest.raises(InvalidInput, match="blank"):
        clean_text(" \n ", what="text", limit=100)
    with pytest.raises(InvalidInput, match="longer than 3"):
        clean_text("abcd", what="text", limit=3)
    assert clean_optional_text("  ", what="system prompt", limit=10) is None
    assert clean_optional_text(None, what="system prompt", limit=10) is None
    assert clean_model(" qwen2.5:0.5b ") == "qwen2.5:0.5b"
    assert clean_model("") is None
    with pytest.raises(InvalidInput):
        clean_model("m" * 256)


def test_tags_are_normalized_deduplicated_sorted_and_bounded() -> None:
    assert clean_tags(["  Writing ", "code", "writing", "Deep   Work"]) == ("code", "deep work", "writing")
    assert clean_tags([]) == ()
    with pytest.raises(InvalidInput, match=f"at most {TAGS_MAX}"):
        clean_tags([f"t{i}" for i in range(TAGS_MAX + 1)])
    assert len(clean_tags(["same"] * (TAGS_MAX + 5))) == 1
    for bad in ("a,b", " ", "x" * 33, "nul\x00"):
        with pytest.raises(InvalidInput):
            clean_tags([bad])


def test_tags_round_trip_through_their_stored_form() -> None:
    tags = clean_tags(["b", "a"])
    assert encode_tags(tags) == ",a,b,"
    assert decode_tags(encode_tags(tags)) == tags
    assert encode_tags(()) == ""
    assert decode_tags("") == ()


def _prompt(owner: str, *, shared: bool) -> PromptView:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return PromptView(uuid4(), owner, "n", "t", (), shared, at, at)


def test_only_the_owner_edits_and_shares_and_admins_may_only_unshare() -> None:
    mine = _prompt("alice", shared=True)
    check_prompt_edit(mine, "alice")
    with pytest.raises(NotAllowed):
        check_prompt_edit(mine, "bob")
    check_prompt_share(mine, "alice", admin=False, shared=False)
    check_prompt_share(mine, "alice", admin=False, shared=True)
    check_prompt_share(mine, "root", admin=True, shared=False)
    with pytest.raises(NotAllowed, match="only the owner can share"):
        check_prompt_share(mine, "root", admin=True, shared=True)
    with pytest.raises(NotAllowed, match="owner or an admin"):
        check_prompt_share(mine, "bob", admin=False, shared=False)


def test_history_consumes_the_library_events() -> None:
    for event in (
        ProjectCreated(user_id="u", project_id=new_id(), name="p"),
        ConversationMoved(user_id="u", conversation_id=new_id(), project_id=None),
        PromptSaved(user_id="u", prompt_id=new_id(), name="n", text="t"),
    ):
        assert services.decode(event.to_json()) == event
