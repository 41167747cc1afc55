"""Compliance approves KYC with missing documents only through an explicit override."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from engine.db import get_database, unit_of_work
from engine.kyc.models import KycOverride
from engine.rules import activation
from engine.rules.loader import load_dir
from engine.rules.timers import fire_due
from engine.tasks import service as tasks_service
from engine.tasks.models import Task
from engine.values import iso, utcnow
from tests.browser.conftest import email, login, shot
from tests.helpers import record_and_process, registered
from tests.kyc.helpers import submitted

pytestmark = pytest.mark.browser


def seed(database) -> tuple[int, int]:
    """Activate the onboarding rules, K1 sent only an ID 8 days ago; return (review, documents) task ids."""
    with unit_of_work(database) as s:
        files = {f"onboarding/{n}": t for n, t in load_dir("rules/onboarding").items()}
        activation.activate_files(s, files, actor="test")
    start = utcnow() - timedelta(days=8)
    record_and_process(
        database,
        [
            registered("K1", iso(start), first_name="Karl", last_name="Klein"),
            submitted("K1", "id", iso(start + timedelta(hours=1))),
        ],
    )
    fire_due(database, now=utcnow())
    with unit_of_work(database) as s:
        documents = s.scalar(select(Task).where(Task.rule_id == "kyc-documents-overdue"))
        review, _ = tasks_service.create(s, queue="compliance", title="Review KYC of K1", client_ref="K1")
        return review.id, documents.id


def test_compliance_approves_with_missing_documents_only_through_the_override(page, server):
    database = get_database(server[2])
    review_id, documents_id = seed(database)
    login(page, "compliance")
    page.goto(f"/tasks/{review_id}")
    page.get_by_role("button", name="Claim").click()
    page.get_by_role("button", name="Approve KYC").click()
    expect(page.locator(".flashes")).to_contain_text(
        "proof_of_address (missing); approving without them is an override and needs an override reason"
    )
    shot(page, "kyc-override-asked")
    with unit_of_work(database) as s:
        assert s.scalars(select(KycOverride)).all() == []
    page.get_by_label("override reason").fill("Proof of address checked in the land register")
    page.get_by_role("button", name="Approve KYC").click()
    expect(page.locator(".flashes")).to_contain_text("approve kyc done")
    page.goto("/clients/K1")
    expect(page.locator("#kyc-status")).to_have_text("approved")
    expect(page.locator("#kyc-override-1")).to_contain_text(
        f"Approved by {email('compliance')} with override of missing documents: "
        "Proof of address checked in the land register"
    )
    shot(page, "kyc-override-profile")
    with unit_of_work(database) as s:
        (override,) = s.scalars(select(KycOverride)).all()
        assert (override.client_ref, override.actor, override.from_result) == (
            "K1",
            email("compliance"),
            "missing_docs",
        )
        documents = s.get(Task, documents_id)
        assert (documents.status, documents.resolution) == (
            "done",
            "condition kyc-documents-task-needed no longer holds",
        )
        assert s.get(Task, review_id).status == "done"
