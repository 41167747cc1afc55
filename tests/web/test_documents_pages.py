"""Document files in the browser's routes: who may add, open and decide them; no guessing."""

from __future__ import annotations

import io
import re

from sqlalchemy import select

from engine.audit.models import AuditEntry
from engine.db import unit_of_work
from engine.documents.models import DocumentFile
from engine.kyc.models import KycDocument
from tests.documents.conftest import ELF, pdf, png
from tests.web.conftest import csrf


def upload(client, ref="C1", data=None, name="passport.png", mimetype="image/png", **form):
    return client.post(
        f"/clients/{ref}/documents",
        content_type="multipart/form-data",
        data={
            "csrf_token": csrf(client),
            "document_type": form.pop("document_type", "id"),
            "file": (io.BytesIO(png() if data is None else data), name, mimetype),
            **form,
        },
    )


def files(database):
    with unit_of_work(database) as s:
        return list(s.scalars(select(DocumentFile).order_by(DocumentFile.id)))


def test_support_adds_a_file_and_compliance_sees_and_opens_it(as_role, sample, database):
    support, compliance = as_role("support"), as_role("compliance")
    r = upload(support, expires_on="2031-05-01")
    assert r.status_code == 302 and r.headers["Location"].endswith("/clients/C1#documents")
    [row] = files(database)
    page = compliance.get("/clients/C1").get_data(as_text=True)
    assert f"/documents/{row.public_id}" in page and "Approve document" in page
    opened = compliance.get(f"/documents/{row.public_id}")
    assert opened.status_code == 200 and opened.data == png() and opened.mimetype == "image/png"
    assert opened.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in opened.headers["Cache-Control"]
    with unit_of_work(database) as s:
        doc = s.scalar(select(KycDocument).where(KycDocument.document_id == row.document_id))
        viewed = s.scalars(select(AuditEntry).where(AuditEntry.action == "document.viewed")).all()
    assert doc.state == "submitted" and doc.expires_at.year == 2031
    assert [(a.actor, a.target_id) for a in viewed] == [("compliance@example.com", "C1")]
    # Support added it but does not open identity documents; the page shows no file to it.
    assert support.get(f"/documents/{row.public_id}").status_code == 403
    assert f"/documents/{row.public_id}" not in support.get("/clients/C1").get_data(as_text=True)


def test_who_may_add_and_what_is_refused(as_role, sample, database):
    assert upload(as_role("sales")).status_code == 403
    compliance = as_role("compliance")
    r = upload(compliance, data=ELF, name="passport.pdf", mimetype="application/pdf")
    assert r.status_code == 302
    page = compliance.get("/clients/C1").get_data(as_text=True)
    assert "Not added: passport.pdf: its content is application/x-executable" in page
    r = upload(compliance, data=pdf(), name="bill.pdf", mimetype="image/png")
    assert "it was sent as image/png but its content is application/pdf" in compliance.get("/clients/C1").get_data(
        as_text=True
    )
    assert files(database) == []
    assert upload(compliance, ref="NOPE").status_code == 404
    no_token = compliance.post(
        "/clients/C1/documents",
        content_type="multipart/form-data",
        data={"document_type": "id", "file": (io.BytesIO(png()), "a.png")},
    )
    assert no_token.status_code == 400 and files(database) == []


def test_guessed_or_foreign_ids_find_nothing(as_role, sample, database):
    upload(as_role("compliance"))
    [row] = files(database)
    compliance = as_role("compliance")
    near = row.public_id[:-1] + ("y" if row.public_id.endswith("x") else "x")  # one character off
    for guess in (str(row.id), row.storage_key, near, row.sha256, "..%2F..%2Fetc"):
        assert compliance.get(f"/documents/{guess}").status_code == 404, guess
    for role in ("finance", "sales", "support", "ib_ops"):
        assert as_role(role).get(f"/documents/{row.public_id}").status_code == 403, role


def test_compliance_approves_one_document_and_rejects_another_with_a_reason(as_role, sample, database):
    compliance = as_role("compliance")
    upload(compliance, document_type="id")
    upload(compliance, data=pdf(), name="bill.pdf", mimetype="application/pdf", document_type="proof_of_address")
    first, second = files(database)
    token = csrf(compliance)
    r = compliance.post(
        f"/clients/C1/documents/{first.document_id}/decision", data={"csrf_token": token, "decision": "approve"}
    )
    assert r.status_code == 302
    r = compliance.post(
        f"/clients/C1/documents/{second.document_id}/decision",
        data={"csrf_token": token, "decision": "reject", "reason": ""},
    )
    assert "rejecting a document needs a reason" in compliance.get("/clients/C1").get_data(as_text=True)
    compliance.post(
        f"/clients/C1/documents/{second.document_id}/decision",
        data={"csrf_token": token, "decision": "reject", "reason": "The bill is older than 3 months"},
    )
    again = compliance.post(
        f"/clients/C1/documents/{first.document_id}/decision",
        data={"csrf_token": token, "decision": "reject", "reason": "late"},
    )
    assert again.status_code == 302
    page = compliance.get("/clients/C1").get_data(as_text=True)
    assert f"Not changed: document {first.document_id} is already approved" in page
    with unit_of_work(database) as s:
        states = {d.document_id: (d.state, d.reason) for d in s.scalars(select(KycDocument))}
        actions = [
            a.action
            for a in s.scalars(select(AuditEntry).where(AuditEntry.action.like("document.%")).order_by(AuditEntry.id))
        ]
    assert states[first.document_id] == ("approved", None)
    assert states[second.document_id] == ("rejected", "The bill is older than 3 months")
    assert actions.count("document.approved") == 1 and actions.count("document.rejected") == 1
    support = as_role("support")
    assert (
        support.post(
            f"/clients/C1/documents/{first.document_id}/decision",
            data={"csrf_token": csrf(support), "decision": "approve"},
        ).status_code
        == 403
    )
    assert re.search(r"Reason: The bill is older than 3 months", page)


def test_the_kyc_task_shows_the_files_and_decides_in_place(as_role, sample, database):
    compliance = as_role("compliance")
    upload(compliance)
    [row] = files(database)
    task_id = sample["compliance"]
    page = compliance.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "The client's documents" in page and f"/documents/{row.public_id}" in page
    assert f'name="next" value="/tasks/{task_id}"' in page
    r = compliance.post(
        f"/clients/C1/documents/{row.document_id}/decision",
        data={"csrf_token": csrf(compliance), "decision": "approve", "next": f"/tasks/{task_id}"},
    )
    assert r.headers["Location"].endswith(f"/tasks/{task_id}#documents")
    evil = compliance.post(
        f"/clients/C1/documents/{row.document_id}/decision",
        data={"csrf_token": csrf(compliance), "decision": "approve", "next": "https://evil.example/x"},
    )
    assert evil.headers["Location"].endswith("/clients/C1#documents")  # only our task pages
    page = compliance.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "History (" in page and "approved by compliance@example.com" in page
    # Other queues' tasks do not carry the client's identity documents.
    finance = as_role("finance").get(f"/tasks/{sample['finance']}").get_data(as_text=True)
    assert f"/documents/{row.public_id}" not in finance
