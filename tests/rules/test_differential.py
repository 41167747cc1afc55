"""Property: the durable-rules evaluator matches exactly the rules the reference evaluator does."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.rules import ir, py_evaluator
from engine.rules.durable_evaluator import DurableEvaluator

EVENT = "payment.deposit_failed"
NUMBERS = st.sampled_from([-(10**17), -150_000_000, -1, 0, 1, 99, 100, 150_000_000, 10**17, 2**62])
TEXT_POOL = [
    "",
    "a",
    "A",
    "ab",
    "a b",
    "é",
    "日本",
    "%",
    "50%",
    '"q"',
    "\\",
    "a.*",
    "[x]",
    "line\nbreak",
    "card_declined",
]
TEXTS = st.sampled_from(TEXT_POOL)
VALUES = {  # key -> (Value, strategy of comparable values)
    "event.amount": (ir.Value("event.amount", "event", "amount", "number", unit="amount"), NUMBERS),
    "event.volume_lots": (ir.Value("event.volume_lots", "event", "volume_lots", "number", unit="decimal"), NUMBERS),
    "client.status": (ir.Value("client.status", "client", "status", "text", unit="enum"), TEXTS),
    "event.reason": (ir.Value("event.reason", "event", "reason", "text", unit="string"), TEXTS),
    "client.flag": (ir.Value("client.flag", "client", "flag", "bool", unit="boolean"), st.booleans()),
    "event.reason:contains:a": (
        ir.Value("event.reason:contains:a", "event", "reason", "bool", "contains", "a"),
        st.booleans(),
    ),
}
CURRENCY = ir.Value("event.amount:currency", "event", "amount", "text", "currency", unit="amount")
CURRENCIES = st.sampled_from(["USD", "EUR"])


@st.composite
def leaves(draw):
    key = draw(st.sampled_from(sorted(VALUES)))
    value, operands = VALUES[key]
    shape = draw(st.sampled_from(["cmp", "oneof", "exists", "money"]))
    if shape == "exists":
        return ir.Exists(value)
    if shape == "money" and key == "event.amount":
        return ir.MoneyCompare(value, CURRENCY, draw(st.sampled_from(ir.OPS)), draw(NUMBERS), draw(CURRENCIES))
    if shape == "oneof":
        return ir.OneOf(value, tuple(draw(st.lists(operands, min_size=1, max_size=3))))
    ops = ir.OPS if value.kind == "number" else ("==", "!=")
    return ir.Compare(value, draw(st.sampled_from(ops)), draw(operands))


conditions = st.recursive(
    leaves(),
    lambda inner: st.one_of(
        st.builds(ir.Not, inner),
        st.builds(lambda xs: ir.All(tuple(xs)), st.lists(inner, max_size=3)),
        st.builds(lambda xs: ir.Any(tuple(xs)), st.lists(inner, max_size=3)),
    ),
    max_leaves=8,
)


@st.composite
def fact_values(draw):
    out = {}
    for key, (_, strategy) in VALUES.items():
        if draw(st.booleans()):
            out[key] = draw(strategy)
    if draw(st.booleans()):
        out[CURRENCY.key] = draw(CURRENCIES)
    return out


def _ruleset(conds) -> ir.Ruleset:
    rules = tuple(ir.Rule(f"r{i}", "", "prop", "prop.yaml", 1, (EVENT,), cond, ()) for i, cond in enumerate(conds))
    return ir.Ruleset("v", ("prop.yaml",), rules, by_event={EVENT: rules})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(conditions, min_size=1, max_size=6), st.lists(fact_values(), min_size=1, max_size=4))
def test_durable_matches_the_reference_evaluator(conds, events):
    ruleset = _ruleset(conds)
    durable = DurableEvaluator(ruleset)
    try:
        for values in events:
            assert durable.matching_rules(EVENT, values) == py_evaluator.matching_rules(ruleset, EVENT, values)
    finally:
        durable.close()


@pytest.mark.parametrize("text", TEXT_POOL)
def test_every_text_compares_equal_to_itself_only(text):
    value = VALUES["event.reason"][0]
    ruleset = _ruleset([ir.Compare(value, "==", text), ir.Compare(value, "!=", text)])
    durable = DurableEvaluator(ruleset)
    try:
        assert durable.matching_rules(EVENT, {"event.reason": text}) == ["r0"]
        assert durable.matching_rules(EVENT, {"event.reason": text + "x"}) == ["r1"]
    finally:
        durable.close()
