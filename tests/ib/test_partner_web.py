"""The partner view: who may see which IB (a table), and what a partner sees of a client."""

from __future__ import annotations

import re

import pytest

from engine.db import unit_of_work
from engine.users.models import User
from engine.values import utcnow
from tests.ib.builders import client, deposit, ib, trade

USERS = {
    "admin": ("admin", None),
    "ib_ops": ("ib_ops", None),
    "finance": ("finance", None),
    "compliance": ("compliance", None),
    "support": ("support", None),
    "sales": ("sales", None),
    "partner-a": ("partner", "IB-A"),
    "partner-b": ("partner", "IB-B"),
    "partner-ghost": ("partner", "IB-GHOST"),
}
PAGES = [
    "/partner/IB-A",
    "/partner/IB-B/commissions",
    "/partner/IB-C/clients",
    "/partner/IB-B/clients/C1",
    "/partner/IB-C/clients/C2",
    "/partner/IB-B/clients/C2",
]
ALL = [200, 200, 200, 200, 200, 404]
NONE = [403] * 6
EXPECTED = {
    "admin": ALL,
    "ib_ops": ALL,
    "finance": ALL,
    "compliance": NONE,
    "support": NONE,
    "sales": NONE,
    "partner-ghost": NONE,
    "partner-a": [200, 200, 404, 200, 404, 404],  # IB-A and its sub-IB IB-B
    "partner-b": [404, 200, 404, 200, 404, 404],  # only IB-B
}


@pytest.fixture
def world(app, feed, database):
    """IB-A > IB-B, and IB-C apart; C1 referred by IB-B, C2 by IB-C; one user per role."""
    feed(ib("P-A", "IB-A", "A") + ib("P-B", "IB-B", "B", "IB-A") + ib("P-C", "IB-C", "C"))
    feed(
        client("C1", "B")
        + client("C2", "C")
        + [deposit("C1", "300.00", 1), trade("C1", "1", 2, held=30), trade("C1", "2", 3, held=600)]
    )
    with unit_of_work(database) as s:
        # Signed in through the session cookie below: no password (hashing is slow on purpose).
        users = {
            name: User(email=f"{name}@x.com", role=role, ib_id=ib_id, active=True, failed_logins=0, created_at=utcnow())
            for name, (role, ib_id) in USERS.items()
        }
        s.add_all(users.values())
        s.flush()
        return {name: user.id for name, user in users.items()}


def get_as(app, user_id, path):
    web = app.test_client()
    if user_id is not None:
        with web.session_transaction() as sess:
            sess["user_id"], sess["generation"] = user_id, 1  # a new user's first generation
    return web.get(path)


def test_who_sees_which_ib(app, world):
    got = {name: [get_as(app, world[name], path).status_code for path in PAGES] for name in EXPECTED}
    assert got == EXPECTED


def test_partner_sees_reasons_but_no_private_data(app, world):
    signed_out = get_as(app, None, "/partner/IB-A")
    assert signed_out.status_code == 302 and "/login" in signed_out.headers["Location"]
    page = get_as(app, world["partner-a"], "/partner/IB-B/clients/C1").get_data(as_text=True)
    assert "held 30s, under the minimum holding time of 1m" in page
    assert "2 lots counted; needs 2" in page and "CPA qualification (cpa-standard): met" in page
    # no deposit amounts by default (the page's random CSRF token may contain any digits)
    text = re.sub(r"hx-headers='[^']*'|name=\"csrf_token\" value=\"[^\"]*\"", "", page)
    assert "c1@example.com" not in text and "300" not in text
    assert "first_deposit_at_least: met (deposit amounts are not shown)" in page
    commissions = get_as(app, world["partner-b"], "/partner/IB-B/commissions").get_data(as_text=True)
    assert "2 lots x 6.50 USD (symbol EURUSD)" in commissions and "200.00 USD" in commissions
    index = get_as(app, world["partner-a"], "/partner")
    assert index.status_code == 302 and index.headers["Location"].endswith("/partner/IB-A")


def post_as(app, user_id, path, **form):
    web = app.test_client()
    with web.session_transaction() as sess:
        sess["user_id"], sess["csrf"], sess["generation"] = user_id, "t0k3n", 1
    return web.post(path, data={"csrf_token": "t0k3n", **form})


def test_payout_workflow_pages_by_role(app, world, earned):
    cpa_id = 3  # the rebate and its override come first, then the CPA (see `world`)
    assert earned()[cpa_id - 1][2] == "cpa"
    assert get_as(app, world["partner-a"], "/partner/payouts").status_code == 403
    assert get_as(app, world["ib_ops"], "/partner/payouts").status_code == 200
    assert post_as(app, world["partner-a"], f"/partner/commissions/{cpa_id}/approve").status_code == 403
    assert post_as(app, world["sales"], f"/partner/commissions/{cpa_id}/approve").status_code == 403
    refused = post_as(app, world["ib_ops"], f"/partner/commissions/{cpa_id}/reject", reason="")
    assert refused.status_code == 302 and earned()[cpa_id - 1][4] == "pending_review"
    for commission_id in range(1, 5):
        post_as(app, world["ib_ops"], f"/partner/commissions/{commission_id}/approve")
    assert post_as(app, world["ib_ops"], "/partner/payouts", currency="USD").status_code == 403
    post_as(app, world["finance"], "/partner/payouts", currency="USD")
    post_as(app, world["finance"], "/partner/payouts/1/paid", reference="WIRE-9")
    assert {row[4] for row in earned()} == {"paid"}
    page = get_as(app, world["finance"], "/partner/payouts").get_data(as_text=True)
    assert "WIRE-9" in page


def test_deposit_amounts_show_only_when_the_broker_allows():
    from engine.ib.partner import redact

    checks = [
        {"criterion": "first_deposit_at_least", "ok": False, "detail": "first deposit 150 USD; needs 200 USD"},
        {"criterion": "total_lots_at_least", "ok": True, "detail": "2 lots counted; needs 2"},
    ]
    assert redact(checks, True) == checks
    assert [c["detail"] for c in redact(checks, False)] == [
        "not met (deposit amounts are not shown)",
        "2 lots counted; needs 2",
    ]
