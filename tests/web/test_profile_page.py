"""The rebuilt client profile: what needs action first, formatted money, every account
column, one merged timeline, and no raw key/value dumps."""

import re

from engine.db import unit_of_work
from engine.events.store import record
from tests.helpers import aml_points
from tests.payments.builders import account, deposit, ingest, registered, withdrawal


def section(html: str, heading_id: str) -> str:
    """Return the card whose heading has this id."""
    return html.split(f'id="{heading_id}"')[1].split("</section>")[0]


def seed(database):
    ingest(
        database,
        registered("C1", first_name="Lena", last_name="Vogel"),
        deposit("failed", "C1", 1, pid="p0", amount="200.80", reason="Your card was declined."),
        deposit("completed", "C1", 2, pid="p1", amount="12345.60"),
        account("C1", 3, aid="MT5-1"),
        withdrawal("requested", "C1", 4, wid="W1", amount="300.00", method="bank_wire"),
    )
    ingest(database, deposit("failed", "C1", 5, pid="p2", amount="50.00", reason="Insufficient funds."))


def test_profile_answers_first_and_formats_money(as_role, database):
    seed(database)
    html = as_role("finance").get("/clients/C1").get_data(as_text=True)
    overview = section(html, "s-overview")
    assert re.search(r"Withdrawal .*W1.* of 300.00 USD.*waiting for compliance", overview, re.S)
    failed = overview.split('id="failed-deposits"')[1].split("</ul>")[0]
    assert "50.00 USD" in failed and "Insufficient funds." in failed
    assert "200.80" not in failed  # a good deposit followed that failure
    money = section(html, "s-money")
    assert "12,345.60 USD" in money and "12345.60" not in money
    accounts = section(html, "s-acc")
    for column in ("Account", "Status", "Balance", "Equity", "Last trade"):
        assert f">{column}</th>" in accounts
    assert "MT5-1" in accounts and 'class="table-responsive"' in accounts
    assert 'id="next-step"' in html and "Next step:" in html


def test_timeline_merges_every_source_newest_first(as_role, database, sample):
    seed(database)
    staff = as_role("support")
    token = re.search(r'name="csrf_token" value="([^"]+)"', staff.get("/clients/C1").get_data(as_text=True))[1]
    staff.post("/clients/C1/notes", data={"text": "Called about W1", "csrf_token": token})
    html = as_role("admin").get("/clients/C1").get_data(as_text=True)
    timeline = section(html, "s-timeline")
    stamps = re.findall(r'<time datetime="([^"]+)"', timeline)
    assert stamps == sorted(stamps, reverse=True) and len(stamps) >= 6
    for label in ("Payment", "Task", "Note"):
        assert f">{label}</span>" in timeline
    assert "Deposit 12,345.60 USD completed" in timeline
    assert "Note by support@example.com: Called about W1" in timeline


def test_no_raw_dumps_anywhere(as_role, database):
    seed(database)
    html = as_role("admin").get("/clients/C1").get_data(as_text=True)
    main = html.split("<main")[1]
    for raw in (
        "chargeback_amount",
        "refund_amount",
        "reason_code",
        "waiting_transfers",
        "pending_withdrawals",
        "<dd>-</dd>",
        "None</",
        "{&#39;",
    ):
        assert raw not in main, raw


def test_scores_show_each_contribution_with_its_reason_and_rule(as_role, database):
    seed(database)
    html = as_role("compliance").get("/clients/C1").get_data(as_text=True)
    assert 'id="s-scores"' not in html  # no score yet: no empty section
    with unit_of_work(database) as s:
        aml_points(s, 40, "high-risk country", "aml-country", "t1")
        aml_points(s, -5, "verified source of funds", "aml-sof", "t2")
    html = as_role("compliance").get("/clients/C1").get_data(as_text=True)
    card = section(html, "s-scores")
    assert re.search(r'id="score-aml_risk">35</span> points', card)
    rows = card.split('id="score-aml_risk-contributions"')[1].split("</table>")[0]
    assert re.search(r"\+40</td><td>high-risk country</td><td><code>aml-country</code>", rows)
    assert re.search(r"-5</td><td>verified source of funds</td><td><code>aml-sof</code>", rows)
    assert 'href="#s-scores"' in html
