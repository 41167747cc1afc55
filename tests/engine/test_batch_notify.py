"""`notify` on the set-based path renders a domain's values from the round and keeps the
per-event order of a client change and a template showing it.

The shipped onboarding rules tell a client of a KYC retry (`kyc-retry`: the documents
to send again, `{{ kyc.missing_text }}`) and of a rejection (`kyc-rejected`: set_status,
then a template with `{{ kyc.reason_text }}`). The KYC values come from the KYC
projection form's group state (engine.kyc.batch.notification_values, the same function
as the database's `notification_context`), so those results go set-based and leave the
tables, notification bodies included, the per-event path leaves. A template showing
`{{ client.status }}` after a `set_status` of the same event must show the new status:
the per-event path renders after the change, so such an event goes per event.
"""

from __future__ import annotations

import shutil

from tests.engine.test_batch_equivalence import _assert_same, demo_stream, trades_stream
from tests.engine.test_batch_rules import _both as _both_paths
from tests.engine.test_batch_rules import _one_transaction_per_group, _rows, urls  # noqa: F401  (fixtures)


def _both(urls, backend, events, rules: str = "rules"):
    """Both paths on the same events, in groups; the set-based database and the seqs it took."""
    per_event, batched, database, taken = _both_paths(urls, backend, events, rules, per_client=False)
    _assert_same(per_event, batched)
    return database, taken


def _acted(database, rule: str) -> set[int]:
    return {s for (s,) in _rows(database, f"SELECT event_seq FROM rule_actions WHERE rule_id = '{rule}'")}


def test_kyc_retries_and_rejections_notify_set_based_with_the_shipped_rules(urls, backend):
    database, taken = _both(urls, backend, demo_stream(seed=11, clients=80))
    retried, rejected = _acted(database, "kyc-retry"), _acted(database, "kyc-rejected")
    assert retried and rejected
    assert retried <= taken and rejected <= taken, (retried - taken, rejected - taken)
    bodies = [b for (b,) in _rows(database, "SELECT body FROM notifications WHERE template LIKE 'kyc-%'")]
    assert any("Please upload again: " in b and "document" in b for b in bodies), bodies[:3]
    changes = _rows(database, "SELECT count(*) FROM client_status_changes WHERE rule_id = 'kyc-rejected'")
    assert changes[0][0] == len(rejected)  # its set_status, then its notify


STATUS_SHOWN = """\
ruleset: trading-hold
description: A big loss puts the client back to pending and tells them.
rules:
  - id: loss-hold
    description: A big loss puts the client back to pending review, and the client is told.
    when: trade.closed
    if:
      - event.profit < -46
      - client.status == approved
    then:
      - set_status: {status: pending, reason: "review after the loss on {event.ticket}"}
      - notify: {template: status-shown, channel: in_app}
"""

STATUS_TEMPLATE = """\
body: |
  Dear {{ client.first_name or "client" }}, your account is {{ client.status }} now.
"""


def test_a_template_showing_what_an_earlier_action_changed_goes_per_event(urls, backend, tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree("rules", rules)
    (rules / "trading").mkdir()
    (rules / "trading" / "hold.yaml").write_text(STATUS_SHOWN)
    (rules / "templates" / "status-shown.yaml").write_text(STATUS_TEMPLATE)
    database, taken = _both(urls, backend, trades_stream(), str(rules))
    held = _acted(database, "loss-hold")
    assert held and not held & taken
    bodies = [b for (b,) in _rows(database, "SELECT body FROM notifications WHERE template = 'status-shown'")]
    assert bodies and all("your account is pending now" in b for b in bodies), bodies[:3]
