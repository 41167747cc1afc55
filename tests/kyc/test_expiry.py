"""Document expiry: the sweep announces a document 30 days before it expires (once), the
shipped rules ask for a new one, and after the expiry the old document counts as missing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from engine.db import unit_of_work
from engine.events.models import Event
from engine.kyc import expiry
from engine.notifications.models import Notification
from engine.processing import process_all_pending
from engine.tasks.models import Task
from engine.values import clock, iso
from tests.kyc.helpers import ingest, profile, registered, review, submitted

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
PASSPORT_EXPIRES = T0 + timedelta(days=100)


def at(days: float) -> str:
    return iso(T0 + timedelta(days=days))


def approved_client(database, ref="EXP"):
    ingest(
        database,
        registered(ref, at(0), first_name="Eva"),
        submitted(ref, "id", at(0.1), expires_at=iso(PASSPORT_EXPIRES)),
        submitted(ref, "proof_of_address", at(0.1)),
        review(ref, "approved", at(0.5)),
    )


def sweep(database, days: float) -> int:
    clock.freeze(T0 + timedelta(days=days))
    found = expiry.announce_due(database)
    process_all_pending(database)
    return found


def announcements(database) -> list[tuple]:
    with unit_of_work(database) as session:
        return [
            (e.client_ref, e.data["document_type"], e.occurred_at)
            for e in session.scalars(select(Event).where(Event.type == "kyc.document_expiring"))
        ]


def expiry_outcome(database, ref="EXP") -> tuple[list[str], list[str]]:
    with unit_of_work(database) as session:
        sent = list(
            session.scalars(
                select(Notification.template).where(Notification.client_ref == ref).order_by(Notification.id)
            )
        )
        tasks = list(
            session.scalars(select(Task.status).where(Task.client_ref == ref, Task.rule_id == "kyc-document-expiring"))
        )
    return sent, tasks


def test_a_document_is_announced_thirty_days_before_it_expires_once(database, runner):
    assert runner.invoke(["rules", "activate", "rules/onboarding"]).exit_code == 0
    clock.freeze(T0 + timedelta(days=1))
    approved_client(database)
    assert sweep(database, 60) == 0  # 40 days before: too early
    assert sweep(database, 70) == 1  # inside the 30 days
    assert sweep(database, 71) == 0  # never twice
    assert announcements(database) == [("EXP", "id", PASSPORT_EXPIRES - timedelta(days=30))]
    sent, tasks = expiry_outcome(database)
    assert sent == ["kyc-approved", "kyc-document-expiring"] and tasks == ["open"]
    assert profile(database, "EXP")["kyc"]["missing"] == []


def test_an_expired_document_counts_as_missing(database):
    clock.freeze(T0 + timedelta(days=1))
    approved_client(database)
    clock.freeze(PASSPORT_EXPIRES + timedelta(seconds=1))
    kyc = profile(database, "EXP")["kyc"]
    assert kyc["missing"] == ["id"]
    assert ("id", "expired") in [(d["type"], d["state"]) for d in kyc["documents"]]


def test_a_new_document_closes_the_renewal_task_and_is_not_announced(database, runner):
    assert runner.invoke(["rules", "activate", "rules/onboarding"]).exit_code == 0
    clock.freeze(T0 + timedelta(days=1))
    approved_client(database)
    sweep(database, 75)
    clock.freeze(T0 + timedelta(days=80))
    ingest(database, submitted("EXP", "id", at(80), doc_id="new-passport", expires_at=iso(T0 + timedelta(days=3000))))
    process_all_pending(database)
    assert expiry_outcome(database)[1] == ["done"]
    assert sweep(database, 90) == 0
