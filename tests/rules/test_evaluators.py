"""Evaluation semantics shared by both evaluators: money, missing values, negation, errors."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import durable_rules_engine
import pytest

from engine.rules import durable_evaluator, py_evaluator
from engine.rules.durable_evaluator import DurableEvaluator
from engine.rules.errors import RuleEngineError, RuleRuntimeError
from engine.rules.reading import build_reader, to_units
from engine.values import Money
from tests.rules.conftest import compile_text

UTC = timezone.utc
NOW = datetime(2024, 5, 1, tzinfo=UTC)

CONDITIONS = {
    "big-usd": '"event.amount >= 10 USD"',
    "not-big-usd": '{not: "event.amount >= 10 USD"}',
    "no-reason": '"event.reason missing"',
    "not-card": '{not: "event.reason_code == card_declined"}',
    "fraudish": '"event.reason contains FRAUD"',
    "not-card-code": '"event.reason_code != card_declined"',
    "new-approved": '["client.registered_at within 7d", "client.kyc.status in [approved]"]',
}
RULES = "ruleset: demo\ndescription: d\nrules:\n" + "".join(
    f"  - id: {rid}\n    description: d\n    when: payment.deposit_failed\n    if: {cond}\n"
    f"    then: [{{notify: welcome}}]\n"
    for rid, cond in CONDITIONS.items()
)


@pytest.fixture(scope="module")
def setup():
    rs = compile_text(RULES)
    read = build_reader(set().union(*(r.reads for r in rs.rules)))
    return rs, read, DurableEvaluator(rs)


def _both(setup, data, facts=None):
    rs, read, durable = setup
    values = read({"type": "payment.deposit_failed", "data": data}, facts or {}, int(NOW.timestamp()))
    expected = py_evaluator.matching_rules(rs, "payment.deposit_failed", values)
    assert durable.matching_rules("payment.deposit_failed", values) == expected
    return set(expected), values


def test_money_compares_only_the_same_currency(setup):
    matched, _ = _both(setup, {"amount": "12.5", "currency": "USD", "reason": "x"})
    assert "big-usd" in matched and "not-big-usd" not in matched
    matched, values = _both(setup, {"amount": "1000", "currency": "EUR", "reason": "x"})
    assert "big-usd" not in matched and "not-big-usd" in matched
    rule = setup[0].rule("big-usd")
    assert py_evaluator.explain(rule.condition, values) == [
        {
            "text": "event.amount >= 10 USD",
            "result": "false (the amount is in EUR; this compares USD amounts only)",
            "read": "event.amount = 1000 EUR",
        }
    ]
    negated = setup[0].rule("not-big-usd")
    assert [(e["text"], e["result"]) for e in py_evaluator.explain(negated.condition, values)] == [
        ("not (event.amount >= 10 USD)", "true")
    ]


def test_missing_values_make_comparisons_false_and_negations_true(setup):
    matched, _ = _both(setup, {"amount": "5", "currency": "USD"})
    assert {"no-reason", "not-card", "not-card-code", "not-big-usd"} <= matched
    assert "fraudish" not in matched
    matched, _ = _both(
        setup, {"amount": "5", "currency": "USD", "reason_code": "card_declined", "reason": "suspected fraud"}
    )
    assert "not-card" not in matched and "fraudish" in matched and "no-reason" not in matched
    assert "not-card-code" not in matched


def test_times_and_facts(setup):
    facts = {"client.registered_at": NOW - timedelta(days=6), "client.kyc.status": "approved"}
    assert "new-approved" in _both(setup, {"amount": "1", "currency": "USD"}, facts)[0]
    facts["client.registered_at"] = NOW - timedelta(days=8)
    assert "new-approved" not in _both(setup, {"amount": "1", "currency": "USD"}, facts)[0]


def test_reader_converts_exactly_and_refuses_inexact_input():
    assert to_units("0.00000001") == 1
    assert to_units(Decimal("12.5")) == 1_250_000_000
    assert to_units(Money(Decimal("3"), "USD")) == 300_000_000
    assert to_units(7) == 700_000_000
    for bad in (1.5, "0.000000001", "abc", "1e30"):
        with pytest.raises(RuleRuntimeError):
            to_units(bad)


def test_reader_reports_the_value_it_could_not_convert(setup):
    with pytest.raises(RuleRuntimeError, match="event.amount"):
        setup[1]({"type": "payment.deposit_failed", "data": {"amount": 10.0, "currency": "USD"}}, {}, 0)


def test_engine_refusal_is_raised(monkeypatch, setup):
    monkeypatch.setattr(durable_evaluator, "ruleset_json", lambda rs: {"r": {"all": [{"m": {"x": {"$gte": 1}}}]}})
    with pytest.raises(RuleEngineError, match="refused"):
        DurableEvaluator(setup[0])


def test_engine_failure_during_matching_is_raised(monkeypatch, setup):
    def fail(handle, payload):
        raise durable_rules_engine.error("boom")

    monkeypatch.setattr(durable_evaluator.dre, "assert_fact", fail)
    with pytest.raises(RuleEngineError, match="boom"):
        setup[2].matching_rules("payment.deposit_failed", {"event.amount": 1})


def test_engine_errors_are_runtime_errors_not_compile_errors():
    from engine.rules.errors import RulesetInvalid

    assert issubclass(RuleEngineError, RuleRuntimeError)
    assert not issubclass(RuleRuntimeError, RulesetInvalid) and not issubclass(RulesetInvalid, RuleRuntimeError)


def test_a_fact_left_in_the_session_is_detected(monkeypatch, setup):
    rs, _, _ = setup
    durable = DurableEvaluator(rs)
    monkeypatch.setattr(durable_evaluator.dre, "retract_fact", lambda handle, payload: (0, 0))
    values = {"event.amount": 1_000_000_000_000, "event.amount:currency": "USD"}
    assert durable.matching_rules("payment.deposit_failed", dict(values))[0] == "big-usd"
    with pytest.raises(RuleEngineError, match="already seen"):
        durable.matching_rules("payment.deposit_failed", dict(values))


@pytest.mark.parametrize(
    "text", ["0", "-0.5", ".5", "-.5", "12.50", "+3.25", "1e3", "99999999.99999999", " 7.1 ", "-6000.50"]
)
def test_fast_decimal_path_equals_decimal(text):
    assert to_units(text) == int(Decimal(text.strip()) * 100_000_000)


@pytest.mark.parametrize("text", ["", ".", "-", "1_0.5", "1.2.3", "1.-5", "abc", "1.123456789", "nan"])
def test_malformed_decimal_text_is_refused(text):
    with pytest.raises(RuleRuntimeError):
        to_units(text)


def test_rule_matcher_reads_only_what_rules_read_and_matches_like_the_reference():
    from engine.rules.matcher import RuleMatcher

    rs = compile_text(RULES)
    durable, reference = RuleMatcher(rs), RuleMatcher(rs, engine="python")
    assert {v.key for v in durable.reads("payment.deposit_failed")} == {
        "event.amount",
        "event.amount:currency",
        "event.reason",
        "event.reason_code",
        "event.reason:contains:FRAUD",
        "client.registered_at:age",
        "client.kyc.status",
    }
    assert durable.reads("trade.closed") == frozenset() and durable.match("trade.closed", {}) == []
    event = {"type": "payment.deposit_failed", "data": {"amount": "20", "currency": "USD", "reason": "Fraud?"}}
    facts = {"client.kyc.status": "approved", "client.registered_at": NOW - timedelta(days=1)}
    now = int(NOW.timestamp())
    got = [r.id for r in durable.match("payment.deposit_failed", durable.read(event, facts, now))]
    want = [r.id for r in reference.match("payment.deposit_failed", reference.read(event, facts, now))]
    assert got == want == ["big-usd", "not-card", "fraudish", "not-card-code", "new-approved"]
    durable.close()
