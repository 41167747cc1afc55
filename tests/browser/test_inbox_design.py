"""Inbox: labelled queue counts, a select-all for bulk actions, a compact density."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import login, shot

pytestmark = pytest.mark.browser


def test_select_all_ticks_every_task_and_counts_say_what_they_count(page):
    login(page, "admin")
    page.goto("/inbox")
    boxes = page.locator('table.tasks tbody input[name="ids"]')
    expect(boxes.first).to_be_visible()
    select_all = page.get_by_label("Select all tasks on this page")
    select_all.check()
    assert all(boxes.nth(i).is_checked() for i in range(boxes.count()))
    boxes.first.uncheck()
    assert select_all.evaluate("el => el.indeterminate") is True
    select_all.click()  # from "some": every task again
    assert all(boxes.nth(i).is_checked() for i in range(boxes.count()))
    select_all.uncheck()
    assert not any(boxes.nth(i).is_checked() for i in range(boxes.count()))
    expect(page.locator(".queue-counts").first).to_contain_text("open")
    expect(page.locator("#count-compliance")).to_have_text("2")


def test_compact_density_is_kept_after_a_reload(page):
    login(page, "admin")
    page.goto("/inbox")
    table = page.locator("table.tasks")
    assert "compact" not in table.get_attribute("class")
    page.get_by_label("Compact rows").check()
    assert "compact" in table.get_attribute("class")
    page.reload()
    assert "compact" in page.locator("table.tasks").get_attribute("class")
    shot(page, "inbox-compact")


def test_the_keyboard_moves_ticks_and_opens_tasks(page, server):
    from engine import processing
    from engine.db import get_database

    processing.process_all_pending(get_database(server[2]))  # the seeded registration: a name
    login(page, "admin")
    page.goto("/inbox")
    rows = page.locator("table.tasks tbody tr[id^='task-']")
    expect(rows.first).to_be_visible()
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    expect(rows.first).to_have_class(re.compile(r"\bis-current\b"))
    page.keyboard.press("x")
    assert rows.first.locator("input[name=ids]").is_checked()
    assert page.get_by_label("Select all tasks on this page").evaluate("el => el.indeterminate")
    page.keyboard.press("?")
    expect(page.locator("#inbox-keys")).to_have_attribute("open", "")
    expect(rows.first.locator(".client-name")).to_have_text("Anna Meyer")  # beside the ref
    href = rows.first.locator("a").first.get_attribute("href")
    with page.expect_navigation():  # waits for the new page's load: its keys are listened to
        page.keyboard.press("c")  # claims the current task: the page comes back with it held
    expect(page.locator(f"table.tasks tbody tr#{rows.first.get_attribute('id')}")).to_contain_text("admin@example.com")
    page.keyboard.press("j")
    page.keyboard.press("o")
    page.wait_for_url("**" + href)
