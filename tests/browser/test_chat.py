"""Register, log in, and chat: streaming Markdown, stop, reload mid-stream, figures."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from .conftest import PASSWORD, last_answer, log_out, login_in_browser, new_email, register_in_browser, send


def test_register_then_log_out_and_log_in_again(page: Page) -> None:
    email = register_in_browser(page)
    log_out(page)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("wrong password!")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("form [role=alert]")).to_contain_text(re.compile("wrong|invalid|incorrect", re.I))
    login_in_browser(page, email)
    expect(page.get_by_role("heading", name="How can I help you today?")).to_be_visible()


def test_register_refuses_a_taken_email_with_a_message(page: Page) -> None:
    email = register_in_browser(page)
    log_out(page)
    page.goto("/register/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator("form [role=alert]")).to_contain_text(re.compile("already|taken|exists", re.I))


def test_a_prompt_streams_markdown_with_figures_and_lands_in_the_sidebar(page: Page) -> None:
    register_in_browser(page)
    send(page, "Show me code [md]")
    answer = last_answer(page)
    expect(page.locator('[data-role="user"]').last).to_contain_text("Show me code [md]")
    expect(answer.locator("pre code")).to_contain_text("return a + b")
    expect(answer.locator("table")).to_contain_text("value")
    expect(answer.get_by_role("button", name="Copy code")).to_be_visible()
    expect(answer).to_have_attribute("data-status", "done")
    expect(answer.get_by_test_id("figures")).to_contain_text(re.compile(r"TTFT \d+ ms"))
    expect(answer.get_by_test_id("figures")).to_contain_text("tokens")
    expect(page).to_have_url(re.compile(r"/c/\?id=[0-9a-f-]+"))
    expect(page.get_by_test_id("conversation-list")).to_contain_text("Show me code")
    # A follow-up continues the same conversation.
    send(page, "And again")
    expect(page.locator('[data-role="assistant"]')).to_have_count(2)
    expect(last_answer(page)).to_contain_text("Hello from the fake provider.")


def test_the_answer_streams_and_stop_ends_it(page: Page) -> None:
    register_in_browser(page)
    send(page, "Count slowly [slow]")
    answer = last_answer(page)
    expect(answer).to_contain_text("word3")
    expect(answer).to_have_attribute("data-status", "streaming")
    page.get_by_role("button", name="Stop generating").click()
    expect(answer).to_have_attribute("data-status", "done")
    expect(answer).to_contain_text("Stopped.")
    expect(answer).not_to_contain_text("end.")
    expect(page.get_by_role("button", name="Send message")).to_be_visible()


def test_a_reload_mid_stream_shows_the_whole_answer(page: Page) -> None:
    register_in_browser(page)
    send(page, "Tell me a long story [slow]")
    expect(last_answer(page)).to_contain_text("word5")
    expect(page).to_have_url(re.compile(r"\?id="))
    page.reload()
    answer = last_answer(page)
    expect(page.locator('[data-role="user"]').last).to_contain_text("Tell me a long story")
    expect(answer).to_contain_text("Slow answer: word0 word1")
    expect(answer).to_contain_text("word79 end.", timeout=20_000)
    expect(answer).to_have_attribute("data-status", "done")
    text = answer.inner_text()
    assert text.count("word5 ") == 1, text


def test_shift_enter_adds_a_line_and_the_draft_survives_a_reload(page: Page) -> None:
    register_in_browser(page)
    box = page.get_by_label("Message", exact=True)
    box.fill("first line")
    box.press("Shift+Enter")
    box.press_sequentially("second line")
    expect(box).to_have_value("first line\nsecond line")
    expect(page.locator('[data-role="user"]')).to_have_count(0)
    page.reload()
    expect(page.get_by_label("Message", exact=True)).to_have_value("first line\nsecond line")


def test_a_logged_out_visitor_is_sent_to_login_and_back(page: Page) -> None:
    email = new_email()
    page.goto("/settings/")
    expect(page).to_have_url(re.compile(r"/login/\?next=%2Fsettings"))
    page.get_by_role("link", name="Sign up").click()
    expect(page.get_by_role("heading", name="Create your account")).to_be_visible()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Settings")).to_be_visible()


def test_an_ended_session_goes_to_login_and_back_with_the_draft(page: Page) -> None:
    email = register_in_browser(page)
    send(page, "Remember this chat")
    expect(last_answer(page)).to_have_attribute("data-status", "done")
    expect(page).to_have_url(re.compile(r"\?id="))
    chat_url = page.url
    page.get_by_label("Message", exact=True).fill("an unsent draft")
    page.context.clear_cookies()  # the refresh cookie is gone: the session cannot be renewed
    page.reload()
    expect(page).to_have_url(re.compile(r"/login/\?next=%2Fc%2F%3Fid%3D"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(chat_url)
    expect(page.locator('[data-role="user"]').first).to_contain_text("Remember this chat")
    expect(page.get_by_label("Message", exact=True)).to_have_value("an unsent draft")
