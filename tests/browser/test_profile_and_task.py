"""A demo client's profile and its task, as compliance and as finance, at two screen sizes.

Screenshots go to test-artifacts/browser/pages/; no element may overflow its box
horizontally (tables scroll inside their card at worst); the task's main action is done
end to end and checked in the database.
"""

from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from engine import demo
from engine.db import get_database, unit_of_work
from engine.payments import withdrawals
from engine.rules import activation
from engine.rules.loader import load_dir
from engine.tasks.models import Task
from tests.browser.conftest import ARTIFACTS, email, login

pytestmark = pytest.mark.browser

PAGES = ARTIFACTS / "pages"
SIZES = ((1440, 900), (1280, 800))
RULES = Path(__file__).resolve().parents[2] / "rules"
# Every element that is a box (not inline, not a scroll container by design) whose content
# is wider than the box, or that reaches past the window's right edge.
OVERFLOW = """() => {
  const out = [];
  const width = document.documentElement.clientWidth;
  for (const el of document.querySelectorAll('body *')) {
    const cs = getComputedStyle(el);
    if (cs.display === 'inline' || cs.display === 'none' || cs.display === 'contents') continue;
    const scrolls = ['auto', 'scroll'].includes(cs.overflowX);
    const rect = el.getBoundingClientRect();
    if (rect.width === 0) continue;
    if (!scrolls && el.scrollWidth > el.clientWidth + 1 && cs.overflowX !== 'hidden')
      out.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className} ${el.scrollWidth}>${el.clientWidth}`);
    if (rect.right > width + 1 && !el.closest('.table-responsive, pre'))
      out.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className} right ${rect.right}>${width}`);
  }
  return out;
}"""


@pytest.fixture(scope="module")
def demo_db(server):
    """The shipped rules and the demo broker's history (its waiting withdrawals included)."""
    database = get_database(server[2])
    with unit_of_work(database) as s:
        activation.activate_files(s, load_dir(RULES), actor="test", source="rules")
    demo.load(database, clients=12)
    return database


def chain_task(database, withdrawal_id: str, queue: str) -> int:
    with unit_of_work(database) as s:
        return next(
            t.id
            for t in s.scalars(select(Task).where(Task.queue == queue))
            if (t.data or {}).get("withdrawal_id") == withdrawal_id
        )


def check_page(page, name: str) -> None:
    """Screenshot `page` at each size and assert nothing overflows horizontally."""
    PAGES.mkdir(parents=True, exist_ok=True)
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(PAGES / f"{name}-{width}x{height}.png"), full_page=True)
        assert page.evaluate(OVERFLOW) == [], f"{name} at {width}x{height}"


def test_compliance_reads_the_profile_and_approves_the_withdrawal_step(page, demo_db):
    task_id = chain_task(demo_db, "C990001-W1", "compliance")
    login(page, "compliance")
    page.goto("/clients/C990001")
    for heading in (
        "Overview: needs action now",
        "KYC and documents",
        "Money",
        "Trading accounts",
        "IB chain and commissions",
        "Timeline",
        "Audit of manual changes",
    ):
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    expect(page.locator("#pending-withdrawals")).to_contain_text("C990001-W1 of 300.00 USD")
    expect(page.locator("#pending-withdrawals")).to_contain_text("waiting for compliance")
    expect(page.locator("#payments")).to_contain_text("30,000.00 USD")
    expect(page.locator("ol.timeline")).to_contain_text("Withdrawal 300.00 USD requested")
    check_page(page, "profile-compliance")
    page.locator("#open-tasks").get_by_role("link", name=f"#{task_id}").click()
    main = page.locator("section.main-action")
    expect(main.get_by_role("heading")).to_have_text("Approve withdrawal step")
    expect(page.locator("#why-words")).to_contain_text(
        "The client asked to withdraw 300.00 USD by bank wire; the approval chain is "
        "compliance → finance → provider and it now waits for the compliance step."
    )
    expect(page.locator("#more-actions")).not_to_have_attribute("open", "")
    check_page(page, "task-compliance")
    main.get_by_label("Note (optional)").fill("ID seen on a video call")
    main.get_by_role("button", name="Approve compliance step of withdrawal C990001-W1").click()
    expect(page.locator(".flashes")).to_contain_text("approve withdrawal done")
    with unit_of_work(demo_db) as s:
        w = withdrawals.get(s, "C990001-W1")
        assert (w.status, w.waiting_for) == ("pending", "finance")
        assert [(d.step, d.decision, d.actor, d.reason) for d in w.decisions] == [
            ("compliance", "approved", email("compliance"), "ID seen on a video call")
        ]
        assert s.get(Task, task_id).status == "done"


def test_finance_reads_the_profile_and_approves_the_finance_step(page, demo_db):
    task_id = chain_task(demo_db, "C990003-W1", "finance")
    login(page, "finance")
    page.goto("/clients/C990003")
    expect(page.locator("#pending-withdrawals")).to_contain_text("waiting for finance")
    expect(page.locator("#open-tasks")).not_to_contain_text("compliance")  # not its queue
    check_page(page, "profile-finance")
    page.goto(f"/tasks/{task_id}")
    main = page.locator("section.main-action")
    expect(main).to_contain_text("waits for the finance step")
    check_page(page, "task-finance")
    main.get_by_role("button", name="Approve finance step of withdrawal C990003-W1").click()
    expect(page.locator(".flashes")).to_contain_text("approve withdrawal done")
    with unit_of_work(demo_db) as s:
        w = withdrawals.get(s, "C990003-W1")
        assert w.waiting_for == "payment_provider"
        assert (w.decisions[-1].step, w.decisions[-1].actor) == ("finance", email("finance"))
        assert s.get(Task, task_id).status == "done"
