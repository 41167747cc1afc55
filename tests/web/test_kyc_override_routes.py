"""The KYC override through the task page: roles, CSRF, refused without a reason, recorded with one."""

from sqlalchemy import func, select

from engine.db import unit_of_work
from engine.kyc.models import KycOverride
from engine.clients.models import Client
from tests.web.conftest import csrf


def overrides(database) -> int:
    with unit_of_work(database) as s:
        return s.scalar(select(func.count()).select_from(KycOverride))


def kyc_status(database, ref="C1") -> str:
    with unit_of_work(database) as s:
        return s.scalar(select(Client.kyc_status).where(Client.ref == ref))


def claim(c, task_id):
    assert c.post(f"/tasks/{task_id}/claim", data={"csrf_token": csrf(c)}).status_code == 302


def test_the_page_asks_for_the_override_and_records_it(as_role, sample, database):
    task_id, c = sample["compliance"], as_role("compliance")
    claim(c, task_id)
    assert c.post(f"/tasks/{task_id}/kyc_approve", data={"override_reason": "seen"}).status_code == 400  # no CSRF token
    refused = c.post(f"/tasks/{task_id}/kyc_approve", data={"csrf_token": csrf(c)}, follow_redirects=True).get_data(
        as_text=True
    )
    assert "needs an override reason" in refused and 'name="override_reason"' in refused
    assert (overrides(database), kyc_status(database)) == (0, "not_started")
    c.post(
        f"/tasks/{task_id}/kyc_approve", data={"csrf_token": csrf(c), "override_reason": "documents seen at the branch"}
    )
    assert (overrides(database), kyc_status(database)) == (1, "approved")
    profile = c.get("/clients/C1").get_data(as_text=True)
    assert "with override of missing documents: documents seen at the branch" in profile


def test_roles_without_documents_review_cannot_approve(as_role, sample, database):
    for role in ("support", "finance"):
        c = as_role(role)
        r = c.post(f"/tasks/{sample['compliance']}/kyc_approve", data={"csrf_token": csrf(c), "override_reason": "x"})
        assert r.status_code in (403, 404), role
    assert overrides(database) == 0
