"""The withdrawals pages: list, detail, approve and reject by the chain's roles, errors."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.audit.models import AuditEntry
from engine.db import unit_of_work
from engine.payments import policy, withdrawals
from engine.payments.models import Withdrawal
from engine.users.models import ROLES
from tests.payments.builders import deposit, ingest, registered, set_kyc, withdrawal
from tests.web.conftest import csrf


@pytest.fixture
def seeded(database):
    """C1 funded with KYC pending: w1 waits for compliance; C2 KYC approved: w2 waits for finance."""
    ingest(
        database,
        registered("C1"),
        deposit("completed", "C1", 1, amount="1000.00"),
        registered("C2"),
        deposit("completed", "C2", 1, pid="p2", amount="1000.00"),
    )
    set_kyc(database, "C2", "approved")
    ingest(
        database,
        withdrawal("requested", "C1", 2, wid="w1", amount="100.00"),
        withdrawal("requested", "C2", 3, wid="w2", amount="200.00"),
    )
    return database


def state(database, wid):
    with unit_of_work(database) as s:
        w = s.scalar(select(Withdrawal).where(Withdrawal.withdrawal_id == wid))
        audits = s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.target_id == wid))
        return w.status, w.waiting_for, [(d.step, d.decision, d.actor) for d in w.decisions], audits


def post(client, wid, verb, **form):
    return client.post(f"/withdrawals/{wid}/{verb}", data={"csrf_token": csrf(client), **form})


@pytest.mark.parametrize("role", ["finance", "compliance", "admin", "support"])
def test_staff_who_work_withdrawals_see_the_list_and_what_each_waits_for(seeded, as_role, role):
    html = as_role(role).get("/withdrawals").get_data(as_text=True)
    assert "waiting for compliance" in html and "waiting for finance" in html
    assert ("Approve compliance step" in html) == (role != "support")
    page = as_role(role).get("/withdrawals/w1").get_data(as_text=True)
    assert "It is <strong>waiting for compliance</strong> at the compliance step" in page
    assert "100.00 USD is held on hold:C1:USD" in page


@pytest.mark.parametrize("role", ["sales", "ib_ops", "partner"])
def test_other_roles_get_403(seeded, as_role, role):
    c = as_role(role)
    assert c.get("/withdrawals").status_code == 403
    assert c.get("/withdrawals/w1").status_code == 403
    assert post(c, "w1", "approve").status_code == 403
    assert state(seeded, "w1")[2] == []


def test_filters_by_step_and_refuses_an_unknown_filter(seeded, as_role):
    c = as_role("finance")
    html = c.get("/withdrawals?waiting_for=finance").get_data(as_text=True)
    assert 'id="w-w2"' in html and 'id="w-w1"' not in html
    html = c.get("/withdrawals?currency=eur").get_data(as_text=True)
    assert "No withdrawals match." in html
    bad = c.get("/withdrawals?waiting_for=nobody")
    assert bad.status_code == 400 and "waiting_for: unknown &#39;nobody&#39;" in bad.get_data(as_text=True)


def test_compliance_then_finance_approve_and_the_step_tasks_follow(seeded, as_role):
    response = post(as_role("compliance"), "w1", "approve", note="ID checked")
    assert response.status_code == 302
    assert state(seeded, "w1")[:3] == ("pending", "finance", [("compliance", "approved", "compliance@example.com")])
    refused = post(as_role("compliance"), "w1", "approve")
    assert refused.status_code == 403 and "decided by finance, admin, not compliance" in refused.get_data(as_text=True)
    assert post(as_role("finance"), "w1", "approve").status_code == 302
    status, waiting_for, decisions, audits = state(seeded, "w1")
    assert (status, waiting_for, len(decisions), audits) == ("pending", "payment_provider", 2, 2)


def test_maker_checker_holds_in_the_browser(seeded, as_role):
    with unit_of_work(seeded) as s:  # a withdrawal staff raised on the client's behalf
        withdrawals.get(s, "w2").requested_by = "finance@example.com"
    refused = post(as_role("finance"), "w2", "approve")
    assert refused.status_code == 403
    assert "finance@example.com requested withdrawal w2 and so cannot approve" in refused.get_data(as_text=True)
    assert post(as_role("admin"), "w1", "approve").status_code == 302  # admin: compliance step
    again = post(as_role("admin"), "w1", "approve")
    assert again.status_code == 403 and "already approved a step" in again.get_data(as_text=True)
    assert state(seeded, "w1")[3] == 1 and state(seeded, "w2")[2] == []


def test_reject_needs_a_reason_and_stores_nothing_without_one(seeded, as_role):
    c = as_role("finance")
    empty = post(c, "w2", "reject", reason="  ")
    assert empty.status_code == 400 and "give a reason" in empty.get_data(as_text=True)
    assert state(seeded, "w2") == ("pending", "finance", [], 0)
    assert post(c, "w2", "reject", reason="name mismatch").status_code == 302
    assert state(seeded, "w2")[:3] == ("rejected", None, [("finance", "rejected", "finance@example.com")])
    late = post(c, "w2", "approve")
    assert late.status_code == 409 and "w2 is rejected, not pending" in late.get_data(as_text=True)


def test_unknown_withdrawal_404_and_missing_csrf_is_refused(seeded, as_role):
    c = as_role("finance")
    assert c.get("/withdrawals/nope").status_code == 404
    assert post(c, "nope", "approve").status_code == 404
    assert post(c, "w2", "cancel").status_code == 404
    assert c.post("/withdrawals/w2/approve", data={}).status_code == 400
    assert state(seeded, "w2")[2] == []


def _stand_at(database, wid, step):
    """Request a withdrawal whose chain has every step, and stand it at `step`."""
    ingest(database, withdrawal("requested", "C1", 5, wid=wid, amount="25000.00"))
    with unit_of_work(database) as s:  # the test is about who decides a step, not how it came
        w = withdrawals.get(s, wid)
        w.step, w.waiting_for = step.id, step.waits_for


@pytest.mark.parametrize("via", ["service", "web"])
def test_every_step_of_the_shipped_chain_is_decided_exactly_by_its_approvers(database, as_role, users, via):
    ingest(database, registered("C1"), deposit("completed", "C1", 1, amount="1000000.00"))
    with unit_of_work(database) as s:
        chain = policy.withdrawal_chain(s)
    assert [st.id for st in chain] == ["compliance", "source-of-funds", "finance", "provider"]
    for step in chain:
        for role in ROLES:
            wid = f"w-{step.id}-{role}"
            _stand_at(database, wid, step)
            if via == "web":
                ok = post(as_role(role), wid, "approve").status_code == 302
            else:
                try:
                    with unit_of_work(database) as s:
                        withdrawals.approve(s, withdrawal_id=wid, actor=f"{role}@example.com", role=role)
                    ok = True
                except withdrawals.WithdrawalError:
                    ok = False
            assert ok == (role in step.approvers), (step.id, role)
            assert len(state(database, wid)[2]) == (1 if ok else 0), (step.id, role)


def test_the_permission_table_allows_exactly_the_roles_the_shipped_chain_names(database):
    from engine.users import permissions

    with unit_of_work(database) as s:
        approvers = {role for step in policy.withdrawal_chain(s) for role in step.approvers}
    assert approvers == permissions.ACTIONS["withdrawals.approve"]


def test_the_step_task_in_the_inbox_decides_the_withdrawal_step(seeded, as_role):
    from engine.tasks import service as tasks_service

    with unit_of_work(seeded) as s:
        tid = tasks_service.get_open_by_key(s, withdrawals.step_task_key("w1", "compliance")).id
    c = as_role("compliance")
    assert "Approve withdrawal w1" in c.get(f"/tasks/{tid}").get_data(as_text=True)
    response = c.post(f"/tasks/{tid}/withdrawal_approve", data={"csrf_token": csrf(c)})
    assert response.status_code == 302
    assert state(seeded, "w1")[:2] == ("pending", "finance")
    with unit_of_work(seeded) as s:
        assert tasks_service.get(s, tid).status == "done"
        assert tasks_service.get_open_by_key(s, withdrawals.step_task_key("w1", "finance"))
