"""The task page answers first: one main action per task type, why in words, the rest folded."""

import pytest

from engine.db import unit_of_work
from engine.tasks import service as tasks_service
from engine.tasks.subjects import Subject


def main_card(html: str) -> str:
    """Return the main action card of a task page ('' when there is none)."""
    marker = 'class="card border-primary mb-3 main-action"'
    return html.split(marker)[1].split("</section>")[0] if marker in html else ""


def more_actions(html: str) -> str:
    return html.split('id="more-actions"')[1].split("</details>")[0]


def create(database, **fields) -> int:
    with unit_of_work(database) as s:
        return tasks_service.create(s, **fields)[0].id


def test_withdrawal_task_leads_with_approving_its_step(as_role, database):
    pytest.importorskip("engine.payments.withdrawals")
    tid = create(
        database,
        queue="finance",
        title="Approve withdrawal",
        data={"withdrawal_id": "W-9", "withdrawal_step": "finance"},
        subject=Subject("withdrawal", "W-9"),
    )
    html = as_role("finance").get(f"/tasks/{tid}").get_data(as_text=True)
    card = main_card(html)
    assert 'data-kind="withdrawal"' in card and "Approve withdrawal step" in card
    assert "Approve finance step of withdrawal W-9" in card and "Reject withdrawal W-9" in card
    folded = more_actions(html)
    assert "Dismiss" in folded and ">Resolve<" in folded and "Approve finance step" not in folded


def test_kyc_review_leads_with_the_decision_and_folds_the_rest(as_role, sample):
    pytest.importorskip("engine.kyc.review")
    html = as_role("compliance").get(f"/tasks/{sample['compliance']}").get_data(as_text=True)
    card = main_card(html)
    assert 'data-kind="kyc_decision"' in card and "Decide on KYC" in card
    assert ">Approve KYC<" in card and ">Reject KYC<" in card and "Resolve" not in card
    folded = more_actions(html)
    assert ">Request documents<" in folded and ">Resolve<" in folded and "Approve KYC" not in folded


def test_documents_overdue_task_says_call_the_client_and_why_in_words(as_role, database, sample):
    from engine.events.models import Event

    with unit_of_work(database) as s:
        registration = s.query(Event).filter(Event.type == "client.registered").first()
        seq, started = registration.seq, registration.occurred_at
    tid = create(
        database,
        queue="compliance",
        title="KYC documents still missing after 7 days",
        client_ref="C1",
        rule_id="kyc-documents-overdue",
        explanation={
            "rule": "kyc-documents-overdue",
            "events": [seq],
            "description": "After 7 days without the documents, compliance calls.",
            "facts": {
                "client.kyc.documents.missing_count": 3,
                "client.kyc.result_is_current": True,
                "client.kyc.status": "not_started",
                "event.type": "client.registered",
            },
            "conditions": [
                {
                    "text": "client.kyc.documents.missing_count > 0",
                    "result": "true",
                    "read": "client.kyc.documents.missing_count = 3",
                }
            ],
            "timer": {
                "id": 1,
                "started": "2026-12-01T00:00:00+00:00",
                "due_at": (started.replace(day=started.day + 7)).isoformat(),
            },
        },
    )
    html = as_role("compliance").get(f"/tasks/{tid}").get_data(as_text=True)
    card = main_card(html)
    assert 'data-kind="call_client"' in card and "Call client" in card
    assert "Ask for: <strong>identity document, proof of address</strong>" in card
    assert "Call outcome" in card and "Record the call and resolve" in card
    words = html.split('id="why-words"')[1].split("</ul>")[0]
    assert "After 7 days the client still had not sent 3 documents" in words
    assert "result is current" not in words.lower()  # a guard, not a reason
    timer = html.split('id="why-timer"')[1].split("</p>")[0]
    assert "A 7-day timer started when the client registered on 2026-11-01 10:00" in timer
    details = html.split('id="exp-details"')[1].split("</details>")[-2]
    assert "client.kyc.documents.missing_count &gt; 0" in html.split('id="exp-details"')[1]
    assert details  # the raw conditions sit in the folded Details, after the words
    assert html.index('id="why-words"') < html.index('id="exp-details"')


def test_wire_task_leads_to_matching_the_wire(as_role, database):
    tid = create(
        database,
        queue="finance",
        title="Match or return unmatched bank wire #4",
        data={"delivery_id": 4},
        subject=Subject("delivery", "4"),
    )
    card = main_card(as_role("finance").get(f"/tasks/{tid}").get_data(as_text=True))
    assert 'data-kind="match_wire"' in card and 'href="/wires/4"' in card
    assert "Match or return wire #4" in card


def test_manual_task_leads_with_resolve_and_closed_task_has_no_main_action(as_role, database):
    tid = create(database, queue="support", title="Cannot log in", created_by="support@example.com")
    c = as_role("support")
    html = c.get(f"/tasks/{tid}").get_data(as_text=True)
    card = main_card(html)
    assert 'data-kind="resolve"' in card and ">Resolve<" in card
    assert "Created by hand by support@example.com" in html
    assert ">Resolve<" not in more_actions(html)  # one resolve form, the main one
    with unit_of_work(database) as s:
        tasks_service.resolve(s, tasks_service.get(s, tid), actor="support@example.com", resolution="password reset")
    html = c.get(f"/tasks/{tid}").get_data(as_text=True)
    assert main_card(html) == "" and 'id="more-actions"' not in html
    assert "This task is done." in html
