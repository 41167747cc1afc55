"""The compiler: IR shape, versions, definitions, reads and priorities."""

from pathlib import Path

import pytest

from engine.rules import ir
from engine.rules.compiler import compile_ruleset, ruleset_version
from engine.rules.errors import RuleError, RulesetInvalid
from engine.rules.loader import compile_dir, load_dir
from tests.rules.conftest import all_facts, compile_text

EXAMPLES = Path(__file__).parent / "examples"


def test_example_compiles_with_version_reads_and_actions():
    rs = compile_dir(EXAMPLES, facts=all_facts())
    assert rs.version == ruleset_version(load_dir(EXAMPLES))
    assert rs.names[:3] == ("payments-follow-up", "ib-cpa", "worked-examples")
    cpa = rs.rule("cpa-qualification")
    assert cpa.events == ("payment.deposit_completed", "trade.closed")
    assert {v.key for v in cpa.reads} == {
        "client.ib",
        "client.kyc.status",
        "client.deposits.completed.sum",
        "client.deposits.completed.sum:currency",
        "client.trades.lots(held_at_least=60s)",
        "client.registered_at:age",
    }
    assert cpa.actions[0] == ir.Action(
        "commission", (("once_per", "client"), ("review", True), ("type", "cpa")), cpa.actions[0].line
    )
    task = rs.rule("failed-deposit-task").actions[0]
    assert task.param("title") == "Failed deposit of {event.amount} {event.currency}: {event.reason}"
    assert task.param("due_in") == 4 * 3600
    assert {v.key for v in rs.rule("failed-deposit-task").template_reads} >= {"event.amount", "event.reason"}
    escalation = rs.rule("failed-deposit-escalation")
    assert [v.window for v in escalation.aggregates] == [3600]
    funded = rs.rule("funded-no-account")
    assert funded.after == 86400 and funded.unless is not None
    assert "client.accounts.count" in {v.key for v in funded.reads}
    own = [t for t in rs.tests if t.file == "payments.yaml"]
    assert len(own) == 1 and own[0].name == "a quick scalper does not qualify"


def test_version_depends_on_paths_and_contents():
    files = {"a.yaml": "x: 1\n", "b.yaml": "y: 2\n"}
    assert ruleset_version(files) == ruleset_version(dict(reversed(files.items())))
    assert ruleset_version(files) != ruleset_version({"a.yaml": "x: 1\n", "c.yaml": "y: 2\n"})
    assert ruleset_version(files) != ruleset_version({"a.yaml": "x: 1\n", "b.yaml": "y: 3\n"})


RULE = """
ruleset: demo
description: d
rules:
  - id: {id}
    description: d
    when: {when}
    priority: {priority}
    if: {cond}
    then:
      - notify: welcome
"""


def _rule(cond, when="payment.deposit_failed", id="r1", priority=0):
    return RULE.format(cond=cond, when=when, id=id, priority=priority)


def test_priority_orders_rules_for_an_event():
    rs = compile_text(
        _rule('"event.amount > 1 USD"', id="low") + "\n", other=_rule('"event.amount > 1 USD"', id="high", priority=5)
    )
    assert [r.id for r in rs.rules_for("payment.deposit_failed")] == ["high", "low"]
    assert rs.rules_for("trade.closed") == ()


@pytest.mark.parametrize(
    "cond, expected",
    [
        (
            '"event.amount between 10 USD and 20 USD"',
            "All(MoneyCompare >= 1000000000 USD, MoneyCompare <= 2000000000 USD)",
        ),
        ('"client.status not in [pending, blocked]"', "Not(OneOf ('pending', 'blocked'))"),
        ('"client.registered_at older_than 7d"', "Compare client.registered_at:age > 604800"),
        ("\"event.reason contains 'Stolen Card'\"", "Compare event.reason:contains:x"),
        ('"client.email ends_with example.com"', "Compare client.email:ends_with:example.com == True"),
        ('"client.tags has vip"', "Compare client.tags:has:vip == True"),
        ('"event.occurred_at >= 2024-03-01"', "Compare event.occurred_at >= 1709251200"),
        ('"client.ib missing"', "Not(Exists client.ib)"),
        (
            '{any: ["client.status == approved", {not: "client.ib exists"}]}',
            "Any(Compare client.status == approved, Not(Exists client.ib))",
        ),
    ],
)
def test_condition_forms_compile_to_ir(cond, expected):
    rs = compile_text(_rule(cond))
    assert _describe(rs.rules[0].condition).startswith(expected)


def _describe(cond) -> str:
    if isinstance(cond, (ir.All, ir.Any)):
        return f"{type(cond).__name__}({', '.join(_describe(c) for c in cond.items)})"
    if isinstance(cond, ir.Not):
        return f"Not({_describe(cond.item)})"
    if isinstance(cond, ir.MoneyCompare):
        return f"MoneyCompare {cond.op} {cond.operand} {cond.code}"
    if isinstance(cond, ir.OneOf):
        return f"OneOf {cond.options}"
    if isinstance(cond, ir.Exists):
        return f"Exists {cond.value.key}"
    return f"Compare {cond.value.key} {cond.op} {cond.operand}"


def test_shared_definitions_file_serves_every_ruleset():
    rs = compile_text(
        _rule("approved") + "\n",
        **{
            "shared": "definitions:\n  conditions:\n    approved: client.kyc.status == approved\n"
            "  templates:\n    t: 'Deposit {event.amount}'\n"
        },
    )
    assert _describe(rs.rules[0].condition) == "Compare client.kyc.status == approved"
    assert dict(rs.conditions)["approved"] == rs.rules[0].condition


def test_named_condition_is_checked_against_the_using_rule():
    shared = "definitions:\n  conditions:\n    big: event.amount >= 1000 USD\n"
    with pytest.raises(RulesetInvalid) as info:
        compile_text(_rule("big", when="trade.closed"), shared=shared)
    assert info.value.errors == [
        RuleError("rules.yaml", 9, "r1", "in condition big: event.amount is not a field of trade.closed")
    ]


def test_action_shorthand_and_template_reference():
    text = """
    ruleset: demo
    description: d
    definitions:
      templates:
        failed: "Failed deposit {event.amount} {event.currency}"
    rules:
      - id: r1
        description: d
        when: payment.deposit_failed
        then:
          - task: {queue: finance, title: {template: failed}, priority: high}
          - cancel_timer: kyc-reminder
          - start_timer: {name: kyc-reminder, after: 48h}
          - set_status: {status: blocked, reason: "Deposit {event.payment_id} failed"}
          - emit: {type: account.status_changed, data: {account_id: "{event.account_id}", status: locked}}
    """
    actions = compile_text(text).rules[0].actions
    assert [a.name for a in actions] == ["task", "cancel_timer", "start_timer", "set_status", "emit"]
    assert actions[0].param("title") == "Failed deposit {event.amount} {event.currency}"
    assert actions[1].param("name") == "kyc-reminder"
    assert actions[2].param("after") == 48 * 3600
    assert dict(actions[4].param("data"))["status"] == "locked"


def test_compiler_does_no_io(monkeypatch):
    import builtins

    monkeypatch.setattr(builtins, "open", lambda *a, **k: (_ for _ in ()).throw(AssertionError("I/O")))
    files = {"a.yaml": _rule('"event.amount >= 1 USD"')}
    assert compile_ruleset(files, facts=all_facts()).rules[0].id == "r1"


def test_every_action_has_a_schema_and_a_runner_and_matches_its_domain():
    from engine.ib.service import EARNED_TYPES
    from engine.notifications.service import CHANNELS
    from engine.ib.actions import COMMISSION_TYPES
    from engine.notifications.actions import CHANNELS as RULE_CHANNELS
    from engine.rules.actions import load_domain_actions

    ACTIONS = load_domain_actions()
    assert set(ACTIONS) == {
        "task",
        "raise_priority",
        "set_status",
        "set_risk",
        "notify",
        "commission",
        "emit",
        "start_timer",
        "cancel_timer",
        "score",
    }
    assert all(spec.run is not None and spec.doc for spec in ACTIONS.values())
    assert set(COMMISSION_TYPES) == set(EARNED_TYPES) and set(RULE_CHANNELS) == set(CHANNELS)
