"""Staff journeys in a real browser: log in per role, work a task, bulk assign, client profile."""

import re

import pytest
from playwright.sync_api import expect

from engine.users.models import ROLES
from tests.browser.conftest import email, login, shot

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("role", ROLES)
def test_login_as_each_role(page, role):
    login(page, role)
    expect(page.locator("header.top")).to_contain_text(f"{email(role)} ({role})")
    if role == "partner":
        expect(page.get_by_role("heading", name="Welcome")).to_be_visible()
        expect(page.get_by_role("link", name="Inbox")).to_have_count(0)
    else:
        expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
        rows = page.locator("table.tasks tbody tr[id^=task-]")
        expect(rows).to_have_count(10 if role == "admin" else 2)
        queue = "finance" if role == "admin" else role  # counts arrive after the list
        expect(page.locator(f"#count-{queue}")).to_have_text("2")
    expect(page.get_by_role("link", name="Audit")).to_have_count(1 if role in ("admin", "compliance") else 0)
    shot(page, f"login-{role}")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


def test_work_a_task_from_inbox_to_done(page, server):
    task_id = server[1]["compliance"][0]
    login(page, "compliance")
    page.locator(f"#task-{task_id}").get_by_role("link", name=re.compile("compliance check")).click()
    expect(page.get_by_role("heading", name=re.compile(f"#{task_id}"))).to_be_visible()
    page.get_by_role("button", name="Claim").click()
    expect(page.locator("#task-assignee")).to_contain_text(email("compliance"))
    page.get_by_role("textbox", name="Comment").fill("Checked the passport against the selfie.")
    page.get_by_role("button", name="Add comment").click()
    expect(page.locator("#comment-list")).to_contain_text("Checked the passport")
    page.locator("#more-actions summary").click()  # the main action here is the KYC decision
    page.get_by_role("textbox", name="Resolution", exact=True).fill("Identity confirmed")
    page.get_by_role("button", name="Resolve").click()
    expect(page.locator("#task-status")).to_have_text("done")
    expect(page.locator("#task-resolution")).to_have_text("Identity confirmed")
    shot(page, "task-done")
    page.get_by_role("link", name="Inbox").click()
    expect(page.locator(f"#task-{task_id}")).to_have_count(0)


def test_bulk_assign(page, server):
    first, second = server[1]["support"]
    login(page, "admin")
    page.get_by_label(f"Select task {first}").check()
    page.get_by_label(f"Select task {second}").check()
    page.get_by_label("Bulk action").select_option("assign")
    page.get_by_label("Assign to").select_option(email("support"))
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(".flashes")).to_contain_text("Bulk assign: 2 of 2 tasks done.")
    for task_id in (first, second):
        expect(page.locator(f"#task-{task_id}")).to_contain_text(email("support"))
    shot(page, "bulk-assign")
    page.get_by_role("button", name="Log out").click()
    login(page, "support")
    page.get_by_role("link", name=re.compile("My tasks")).click()
    expect(page.locator("table.tasks tbody tr[id^=task-]")).to_have_count(2)


def test_filter_updates_the_list_in_place(page, server):
    login(page, "admin")
    page.get_by_label("Queue", exact=True).select_option("sales")
    expect(page.locator("table.tasks tbody tr[id^=task-]")).to_have_count(2)
    expect(page).to_have_url(re.compile(r"queue=sales"))
    shot(page, "inbox-filtered")


def test_explanation_panel_and_client_profile(page, server):
    task_id = server[1]["finance"][0]
    login(page, "finance")
    page.goto(f"/tasks/{task_id}")
    panel = page.locator("section.explanation")
    expect(panel.locator("#exp-rule")).to_have_text("finance-rule")
    expect(panel).to_contain_text("The finance team reviews this.")
    expect(panel).to_contain_text("0f1e2d3c4b5a")
    expect(panel.locator("#exp-facts")).to_contain_text("event.amount")
    expect(panel.locator("#exp-facts")).to_contain_text("250 USD")
    expect(panel.locator("#exp-events")).to_contain_text("client.registered")
    expect(panel.locator("#exp-conditions")).to_contain_text("event.amount >= 10 USD: true")
    shot(page, "task-explanation")
    page.locator(".client-panel").get_by_role("link", name="C100").click()
    expect(page.get_by_role("heading", name=re.compile("C100"))).to_be_visible()
    for section in ("KYC and documents", "Wallets", "Trading accounts", "Tasks", "Timeline", "Audit of manual changes"):
        expect(page.get_by_role("heading", name=section, exact=True)).to_be_visible()
    expect(page.locator("#open-tasks").get_by_role("link", name=f"#{task_id}")).to_be_visible()
    shot(page, "client-profile")


def test_rules_page_activate_the_candidate(page, server):
    login(page, "compliance")
    page.get_by_role("link", name="Rules").click()
    expect(page.get_by_role("heading", name="Rules", exact=True)).to_be_visible()
    candidate = page.locator("section[aria-labelledby=cand-h]")
    expect(candidate).to_contain_text("Validates: version")
    expect(candidate).to_contain_text("policy/kyc.yaml: added")
    page.get_by_label("Note").fill("first rules, from the browser test")
    # Activation runs every rule test of the candidate first: seconds, not a page click.
    with page.expect_navigation(timeout=180_000):
        candidate.get_by_role("button", name=re.compile("^Activate ")).click(no_wait_after=True)
    expect(page.locator(".flash")).to_contain_text("Activated")
    expect(page.locator("section[aria-labelledby=active-h]")).to_contain_text("compliance@example.com")
    expect(page.locator("#rule-failed-deposit-task")).to_contain_text("payment.deposit_failed")
    expect(candidate).to_contain_text("Same as the active version")
    expect(page.locator("section[aria-labelledby=hist-h] tbody tr")).to_have_count(1)
    shot(page, "rules-page")
    page.get_by_role("link", name="policy/kyc.yaml").click()
    expect(page.locator("pre.source")).to_contain_text("required:")
