"""Rules that act at once take the set-based path when each action has a set-based form.

The shipped rules plus rules on trades that open tasks at once (engine.tasks.actions
registers the form of `task`): a big loss opens a task with a due time in the queue's
business hours and a title reading a client fact; a winning trade opens one task per
client (later winners note `triggered_again` on it, in the round or from an earlier
transaction); a big position opens one that the client's next closed trade closes (an
event hook: that client's later events in the round go per event). The tables of both
paths are compared (ids too, one client at a time), the events the set-based path took
counted.
"""

from __future__ import annotations

import json
import shutil

import pytest

from engine.db import unit_of_work
from engine.events.store import parse_line, record_many
from engine.processing import process_all_pending
from engine.values import clock
from tests.engine.test_batch_equivalence import (
    NOW,
    _assert_same,
    run,
    shuffled_with_duplicates,
    snapshot,
    trades_stream,
)
from tests.engine.test_batch_rules import _both, _one_transaction_per_group, _rows, taken_events, urls  # noqa: F401

CALLS = """\
ruleset: trading-calls
description: The desk calls about big losses, reviews winners and watches big positions.
rules:
  - id: big-loss-call
    description: A big loss is a call within four working hours.
    when: trade.closed
    if:
      - event.profit < -46
    then:
      - task:
          queue: support
          title: "Call the {client.country} client about the loss on {event.ticket}"
          description: "Lost {event.profit} on {event.symbol}"
          priority: high
          due_in: 4h
      - notify: {template: trade-loss, channel: email}

  - id: winner-review
    description: Winning trades are reviewed, one task per client at a time.
    when: trade.closed
    if:
      - event.profit > 30
    then:
      - task: {queue: support, title: "Review the winner {event.ticket}", one_open_per: client,
               close_when: kyc.review_completed}
"""

WATCH = """
  - id: big-position-watch
    description: A big position is watched until the client's next closed trade.
    when: trade.opened
    if:
      - event.volume_lots >= 1
    then:
      - task: {queue: support, title: "Watch {event.ticket}", one_open_per: client, close_when: trade.closed}
"""


LOSS_TEMPLATE = """\
subject: About your trade
body: |
  Dear {{ client.first_name or "client" }} ({{ client.kyc_status }}),
  our desk will call you about your last trade.
"""

# A template reading a domain's values (the KYC documents): rendered from the KYC form's
# group state when the round has it (engine.notifications.actions).
DOCUMENTS = """
  - id: documents-nudge
    description: A big position reminds the client of the documents still missing.
    when: trade.opened
    if:
      - event.volume_lots >= 1
    then:
      - notify: {template: trade-documents, channel: in_app}
"""

DOCUMENTS_TEMPLATE = """\
body: |
  Still missing: {{ kyc.missing_text }}
"""


def _rules_dir(tmp_path, text: str) -> str:
    rules = tmp_path / "rules"
    shutil.copytree("rules", rules)
    (rules / "trading").mkdir()
    (rules / "trading" / "calls.yaml").write_text(text)
    (rules / "templates" / "trade-loss.yaml").write_text(LOSS_TEMPLATE)
    (rules / "templates" / "trade-documents.yaml").write_text(DOCUMENTS_TEMPLATE)
    return str(rules)


@pytest.fixture
def calls_dir(tmp_path) -> str:
    return _rules_dir(tmp_path, CALLS)


def _acted(database, rule: str) -> set[int]:
    return {s for (s,) in _rows(database, f"SELECT event_seq FROM rule_actions WHERE rule_id = '{rule}'")}


def _most_taken(database, taken: set[int], rule: str, share: float = 0.6) -> None:
    acted = _acted(database, rule)
    assert acted, rule
    assert len(acted & taken) > len(acted) * share, (rule, len(acted & taken), len(acted))


@pytest.mark.parametrize("per_client", [True, False], ids=["one-client-at-a-time", "in-groups"])
def test_rule_tasks_open_on_the_set_based_path(urls, backend, calls_dir, per_client):
    per_event, batched, database, taken = _both(urls, backend, trades_stream(), calls_dir, per_client=per_client)
    _assert_same(per_event, batched)
    for rule in ("big-loss-call", "winner-review"):
        _most_taken(database, taken, rule)
    notes = _rows(database, "SELECT count(*) FROM task_events WHERE action = 'triggered_again'")
    assert notes[0][0] > 0
    due = _rows(database, "SELECT due_at FROM tasks WHERE rule_id = 'big-loss-call'")
    assert due and all(d is not None for (d,) in due)
    sent = {
        s
        for (s,) in _rows(
            database, "SELECT event_seq FROM rule_actions WHERE action = 'notify' AND rule_id = 'big-loss-call'"
        )
    }
    assert sent == _acted(database, "big-loss-call")
    assert len(sent & taken) > len(sent) * 0.6


def test_a_template_reading_a_domains_values_renders_them_from_the_round(urls, backend, tmp_path):
    rules = _rules_dir(tmp_path, CALLS + DOCUMENTS)
    per_event, batched, database, taken = _both(urls, backend, trades_stream(), rules, per_client=False)
    _assert_same(per_event, batched)
    _most_taken(database, taken, "documents-nudge", share=0.5)
    bodies = _rows(database, "SELECT body FROM notifications WHERE template = 'trade-documents'")
    assert bodies and all(b.startswith("Still missing:") for (b,) in bodies)
    assert any("proof of address" in b for (b,) in bodies)  # (the values are really there)


def test_a_template_reading_values_no_round_holds_is_sent_per_event(urls, backend, tmp_path, monkeypatch):
    """Values a domain gives templates only from the database (no state_template_values):
    the notify goes per event."""
    from engine.notifications import service as notifications_service

    monkeypatch.setitem(notifications_service.TEMPLATE_VALUES, "desk", lambda session, client: {"phone": "+44 20"})
    rules = _rules_dir(tmp_path, CALLS + DOCUMENTS)
    (tmp_path / "rules" / "templates" / "trade-documents.yaml").write_text("body: Call the desk on {{ desk.phone }}\n")
    per_event, batched, database, taken = _both(urls, backend, trades_stream(), rules, per_client=False)
    _assert_same(per_event, batched)
    nudged = _acted(database, "documents-nudge")
    assert nudged and not nudged & taken
    # (each nudge counts as a refusal of its client: fewer of its later trades set-based)
    assert _acted(database, "big-loss-call") & taken


def test_a_task_an_event_of_the_round_closes_sends_the_clients_next_events_per_event(urls, backend, tmp_path):
    """The watch's task is closed by the client's next closed trade (the close_tasks hook,
    per event): the trade that opened it went set-based, the events after it in the round
    per event, and the task is closed as on the per-event path."""
    rules = _rules_dir(tmp_path, CALLS + WATCH)
    per_event, batched, database, taken = _both(urls, backend, trades_stream(), rules, per_client=False)
    _assert_same(per_event, batched)
    # A watch opened in the round sends its client's next events per event (the close_tasks
    # hook may close it); one opened in an earlier round the hook's form closes
    # (engine.tasks.close_batch); most watches' trades are set-based.
    _most_taken(database, taken, "big-position-watch", share=0.5)
    closed = _rows(database, "SELECT count(*) FROM tasks WHERE rule_id = 'big-position-watch' AND status = 'done'")
    assert closed[0][0] > 0


def test_shuffled_and_repeated_deliveries(urls, backend, calls_dir):
    events = shuffled_with_duplicates(trades_stream())
    per_event, batched, database, taken = _both(urls, backend, events, calls_dir, per_client=False)
    _assert_same(per_event, batched)
    _most_taken(database, taken, "big-loss-call")


def _in_two_parts(url: str, backend: str, events: list[dict], rules: str, *, batch: bool):
    """Process the first half of the events, then store and process the rest (the open
    tasks of the first transaction are found by the second's bulk read)."""
    half = sorted(events, key=lambda e: e["occurred_at"])
    first, rest = half[: len(half) // 2], half[len(half) // 2 :]
    database = run(url, backend, first, batch=batch, per_client=False, rules=rules)
    with unit_of_work(database) as session:
        record_many(session, [parse_line(json.dumps(e)) for e in rest], via="file")
    process_all_pending(database)
    return database


def test_an_open_task_of_an_earlier_transaction_is_noted_again(urls, backend, calls_dir):
    events = trades_stream()
    clock.freeze(NOW)
    per_event = snapshot(_in_two_parts(urls[0], backend, events, calls_dir, batch=False), ids=False)
    with taken_events() as taken:
        database = _in_two_parts(urls[1], backend, events, calls_dir, batch=True)
    _assert_same(per_event, snapshot(database, ids=False))
    # A winner noted on the task a winner of the first transaction opened, set-based:
    first = len(events) // 2  # the first part's events were stored first (seq 1..first)
    created_by = {k: seq for k, seq in _rows(database, "SELECT key, event_seq FROM rule_actions")}
    opened_by = {tid: created_by[key] for tid, key in _rows(database, "SELECT id, trigger_key FROM tasks")}
    noted = [
        (seq, opened_by[int(result.split()[1])])
        for seq, result in _rows(database, "SELECT event_seq, result FROM rule_actions WHERE rule_id = 'winner-review'")
        if "already open" in result
    ]
    across = [seq for seq, opener in noted if opener <= first < seq]
    assert across and set(across) & taken, (len(across), len(set(across) & taken))


RISK = """\
ruleset: trading-risk
description: Big losses make the client high risk; the desk watches high-risk clients' positions.
rules:
  - id: loss-risk
    description: A big loss makes the client high risk.
    when: trade.closed
    if:
      - event.profit < -46
    then:
      - set_risk: {category: high, reason: "lost {event.profit} on {event.ticket}"}

  - id: high-risk-watch
    description: A high-risk client's new positions are watched.
    when: trade.opened
    if:
      - client.risk_category == high
    then:
      - task: {queue: compliance, title: "High-risk client opened {event.ticket}"}
"""

RISK_READ = """
  - id: loss-call
    description: The desk calls about the loss, naming the client's risk as it is now.
    when: trade.closed
    if:
      - event.profit < -46
    then:
      - task: {queue: support, title: "Call the {client.risk_category} risk client about {event.ticket}"}
"""


def test_set_risk_changes_the_client_its_later_events_read(urls, backend, tmp_path):
    """`set_risk` has a set-based form: the client's risk changes in memory, and its later
    trades in the round match `high-risk-watch` on the new value, as per event."""
    rules = _rules_dir(tmp_path, RISK)
    per_event, batched, database, taken = _both(urls, backend, trades_stream(), rules, per_client=False)
    _assert_same(per_event, batched)
    _most_taken(database, taken, "loss-risk")
    _most_taken(database, taken, "high-risk-watch", share=0.5)


def test_a_template_reading_what_an_earlier_action_changed_goes_per_event(urls, backend, tmp_path):
    """The call's title reads the risk `loss-risk` has just set on the same trade: per
    event the value is loaded after that action, so such a trade goes per event."""
    rules = _rules_dir(tmp_path, RISK + RISK_READ)
    per_event, batched, database, taken = _both(urls, backend, trades_stream(), rules, per_client=False)
    _assert_same(per_event, batched)
    titles = _rows(database, "SELECT title FROM tasks WHERE rule_id = 'loss-call'")
    assert titles and all(t.startswith("Call the high risk") for (t,) in titles), titles[:3]
    assert not _acted(database, "loss-call") & taken


def test_a_notification_taken_set_based_is_rendered_once(urls, backend, calls_dir, monkeypatch):
    """The notify form renders the template when it decides (to know it renders) and adds
    that notification when it applies: one rendering per notification sent set-based."""
    from engine.notifications import service as notifications_service

    rendered: list[str] = []
    render = notifications_service.new_notification
    monkeypatch.setattr(
        notifications_service, "new_notification", lambda *a, **k: rendered.append(k["dedup_key"]) or render(*a, **k)
    )
    clock.freeze(NOW)
    with taken_events() as taken:
        database = run(urls[1], backend, trades_stream(), batch=True, per_client=False, rules=calls_dir)
    sent = _rows(database, "SELECT dedup_key FROM notifications")
    notified = {seq for (seq,) in _rows(database, "SELECT event_seq FROM rule_actions WHERE action = 'notify'")}
    assert notified & taken, "some notifications were sent set-based"
    assert len(rendered) == len(sent), "each notification rendered once, on either path"
