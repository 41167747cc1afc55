"""Registration -> documents -> review for four clients, with the shipped onboarding rules.

One client completes, one never sends a proof of address, one is rejected for good
and one is asked to retry. Reminders are driven by `fxcrm timers fire --now`.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from engine.db import unit_of_work
from engine.notifications.models import Notification
from engine.values import clock, iso
from tests.helpers import event, jsonl, registered
from tests.kyc.helpers import review, submitted

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


def at(hours: float) -> str:
    return iso(T0 + timedelta(hours=hours))


def _person(ref, first, country="DE"):
    return registered(ref, at(0), country=country, first_name=first, last_name="Test")


def story() -> list[dict]:
    return [
        # OK: complete, reviewed and approved within hours.
        _person("OK", "Olga"),
        submitted("OK", "id", at(1)),
        submitted("OK", "proof_of_address", at(1.1)),
        event("kyc.review_pending", "OK", at(2), provider="sumsub"),
        review("OK", "approved", at(3)),
        # POA: sends the ID only and never the proof of address.
        _person("POA", "Pia"),
        submitted("POA", "id", at(2)),
        # REJ: rejected for good.
        _person("REJ", "Rex"),
        submitted("REJ", "id", at(1)),
        submitted("REJ", "proof_of_address", at(1)),
        review("REJ", "rejected", at(4), reason="document is forged", labels=["FORGERY"]),
        # RETRY: the proof of address is bad; a new one comes two days later.
        _person("RETRY", "Rita"),
        submitted("RETRY", "id", at(1)),
        submitted("RETRY", "proof_of_address", at(1)),
        review("RETRY", "retry", at(5), labels=["BAD_PROOF_OF_ADDRESS"]),
    ]


@pytest.fixture
def onboarding(database, runner, tmp_path):
    """Activate the shipped onboarding rules and ingest the story, the clock at the last event."""
    result = runner.invoke(["rules", "activate", "rules/onboarding"])
    assert result.exit_code == 0, result.output
    clock.freeze(T0 + timedelta(hours=6))
    path = tmp_path / "events.jsonl"
    path.write_text(jsonl(story()))
    result = runner.invoke(["events", "ingest", str(path)])
    assert result.exit_code == 0, result.output
    return runner


def show(runner, ref) -> dict:
    result = runner.invoke(["clients", "show", ref, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def fire(runner, hours) -> None:
    result = runner.invoke(["timers", "fire", "--now", at(hours)])
    assert result.exit_code == 0, result.output


def templates(profile) -> list[str]:
    return sorted(n["template"] for n in profile["notifications"])


def compliance_tasks(profile) -> list[str]:
    return [t["rule_id"] for t in profile["tasks"] if t["queue"] == "compliance"]


def test_statuses_and_notifications_right_after_the_reviews(onboarding, tmp_path):
    ok, poa, rej, retry = (show(onboarding, r) for r in ("OK", "POA", "REJ", "RETRY"))
    assert (ok["status"], ok["kyc"]["status"], ok["funnel_stage"]) == ("approved", "approved", "kyc_approved")
    assert templates(ok) == ["kyc-approved"]
    assert ok["next_step"] == "Fund the wallet"
    assert [(d["type"], d["state"]) for d in ok["kyc"]["documents"]] == [
        ("id", "approved"),
        ("proof_of_address", "approved"),
    ]
    assert (poa["status"], poa["kyc"]["missing"]) == ("pending", ["proof_of_address"])
    assert poa["next_step"] == "Upload documents: proof of address"
    assert (rej["status"], templates(rej)) == ("rejected", ["kyc-rejected"])
    assert rej["status_reason"] == "KYC rejected by sumsub: document is forged (labels: FORGERY)"
    assert (retry["status"], retry["kyc"]["status"], retry["kyc"]["missing"]) == (
        "pending",
        "retry",
        ["proof_of_address"],
    )
    assert templates(retry) == ["kyc-documents-requested"]
    assert retry["risk"] == {"category": "low", "reason": "individual from a low-risk country"}
    # Older results arriving late never move the approved client back.
    path = tmp_path / "late.jsonl"
    path.write_text(
        jsonl(
            [
                event("kyc.review_pending", "OK", at(2.5), provider="sumsub"),
                review("OK", "retry", at(2.6), labels=["BLURRY"]),
            ]
        )
    )
    assert onboarding.invoke(["events", "ingest", str(path)]).exit_code == 0
    ok = show(onboarding, "OK")
    assert (ok["status"], ok["kyc"]["status"], templates(ok)) == ("approved", "approved", ["kyc-approved"])
    assert ok["kyc"]["missing"] == [] and len(ok["kyc"]["requests"]) == 0


def notes(database, ref) -> list[Notification]:
    with unit_of_work(database) as session:
        return list(
            session.scalars(select(Notification).where(Notification.client_ref == ref).order_by(Notification.id))
        )


def test_reminders_fire_at_24h_and_72h_then_compliance_gets_a_task_at_7_days(onboarding, database):
    fire(onboarding, 23)
    assert templates(show(onboarding, "POA")) == []
    fire(onboarding, 24)
    assert templates(show(onboarding, "POA")) == ["kyc-documents-reminder"]
    fire(onboarding, 72)
    fire(onboarding, 72)  # firing again at the same time sends nothing twice
    poa = show(onboarding, "POA")
    assert templates(poa) == ["kyc-documents-reminder"] * 2
    assert [(n.rule_id, n.explanation["timer"]["due_at"]) for n in notes(database, "POA")] == [
        ("kyc-reminder-24h", "2026-11-03T09:00:00+00:00"),
        ("kyc-reminder-72h", "2026-11-05T09:00:00+00:00"),
    ]
    assert "we still need: proof of address." in notes(database, "POA")[0].body
    assert compliance_tasks(poa) == []
    fire(onboarding, 7 * 24)
    assert compliance_tasks(show(onboarding, "POA")) == ["kyc-documents-overdue"]
    for ref in ("OK", "REJ"):  # complete clients get no reminder and no task
        assert "kyc-documents-reminder" not in templates(show(onboarding, ref))
        assert compliance_tasks(show(onboarding, ref)) == []


def test_a_retry_starts_a_new_cycle_that_stops_when_the_document_arrives(onboarding, tmp_path):
    fire(onboarding, 5 + 24)
    assert templates(show(onboarding, "RETRY")) == ["kyc-documents-reminder", "kyc-documents-requested"]
    path = tmp_path / "late.jsonl"
    path.write_text(
        jsonl([submitted("RETRY", "proof_of_address", at(40), doc_id="poa-2"), review("RETRY", "approved", at(44))])
    )
    clock.freeze(T0 + timedelta(hours=45))
    assert onboarding.invoke(["events", "ingest", str(path)]).exit_code == 0
    fire(onboarding, 8 * 24)
    retry = show(onboarding, "RETRY")
    assert (retry["status"], retry["kyc"]["missing"]) == ("approved", [])
    assert templates(retry) == ["kyc-approved", "kyc-documents-reminder", "kyc-documents-requested"]
    assert compliance_tasks(retry) == []
