"""Decision tables: first-hit and collect, in conditions and action parameters, and their errors."""

from __future__ import annotations

import textwrap

import pytest

from engine.rules import ruletests_run
from engine.rules.compiler import compile_ruleset
from engine.rules.errors import RulesetInvalid
from engine.values import Money
from tests.rules.conftest import compile_text


TABLE = """
definitions:
  queues: [compliance, finance, sales]
  tables:
    limits:
      hit: {hit}
      inputs: {{country: client.country, type: client.client_type}}
      outputs: [threshold, queue, label]
      rows:
        - {{country: [GB, IE], type: corporate, threshold: 50000 USD, queue: compliance, label: uk_corporate}}
        - {{country: GB, threshold: 10000 USD, queue: compliance, label: uk}}
        - {{type: corporate, threshold: "20000 USD", queue: compliance, label: corporate}}
        {last}
"""
DEFAULT = "- {threshold: 5000 USD, queue: finance, label: default}"


def ruleset(rules: str, hit: str = "first", last: str = DEFAULT, **more):
    head = TABLE.format(hit=hit, last=last)
    return compile_text(
        head + "---\nruleset: t\ndescription: d\nrules:\n" + textwrap.indent(textwrap.dedent(rules), "  "), **more
    )


RULE = """
- id: big
  description: d
  when: payment.deposit_completed
  if: [event.amount > table.limits.threshold]
  then:
    - task: {queue: table.limits.queue, title: "over {table.limits.threshold}"}
"""


def test_a_table_output_compiles_to_a_value_with_its_inputs():
    rule = ruleset(RULE).rule("big")
    keys = {v.key for v in rule.reads}
    assert {"event.amount", "table.limits.threshold", "client.country", "client.client_type"} <= keys
    table = next(v.table for v in rule.reads if v.key == "table.limits.threshold")
    assert table.hit == "first" and table.default and len(table.rows) == 4
    assert dict(table.rows[0].outputs)["threshold"] == Money(50000, "USD")
    assert rule.actions[0].tables == (("queue", "table.limits.queue"),)


def _run(text: str, test: str) -> list[str]:
    files = {"t.yaml": textwrap.dedent(text) + textwrap.dedent(test)}
    compiled = compile_ruleset(files)
    results = [ruletests_run.run_one(t, files, "rules", compiled) for t in compiled.tests]
    return [line for r in results for line in ruletests_run.describe(r)]


COLLECT = """
ruleset: c
description: d
definitions:
  tables:
    flags:
      hit: collect
      inputs: {country: client.country, status: client.kyc.status}
      outputs: [flag]
      rows:
        - {country: [GB, IE], flag: uk_or_ie}
        - {status: "!= approved", flag: unverified}
        - {country: DE, status: approved, flag: de_verified}
      no_match: missing
rules:
  - id: unverified-uk
    description: d
    when: payment.deposit_completed
    if: [table.flags.flag has unverified, table.flags.flag has uk_or_ie]
    then: [{task: {queue: compliance, title: "flags {table.flags.flag}"}}]
"""


def test_collect_gives_every_matching_row():
    test = """
    tests:
      - name: a British client with KYC pending has both flags
        given: {client: {country: GB, kyc.status: pending}}
        events:
          - {type: payment.deposit_completed, at: 1h, payment_id: p1, amount: "10", currency: USD, method: card, provider: stripe}
        expect:
          tasks: [{queue: compliance, title: "flags uk_or_ie, unverified"}]
      - name: a German client with KYC approved has one, not these
        given: {client: {country: DE, kyc.status: approved}}
        events:
          - {type: payment.deposit_completed, at: 1h, payment_id: p1, amount: "10", currency: USD, method: card, provider: stripe}
        expect:
          tasks: []
    """
    assert _run(COLLECT, test) == [
        "t.yaml:23: a British client with KYC pending has both flags: ok",
        "t.yaml:29: a German client with KYC approved has one, not these: ok",
    ]


def test_no_match_missing_makes_comparisons_false():
    text = COLLECT.replace("hit: collect", "hit: first").replace(
        "if: [table.flags.flag has unverified, table.flags.flag has uk_or_ie]", "if: [table.flags.flag != uk_or_ie]"
    )
    test = """
    tests:
      - name: no row for a French approved client, so the flag is missing and != holds
        given: {client: {country: FR, kyc.status: approved}}
        events:
          - {type: payment.deposit_completed, at: 1h, payment_id: p1, amount: "10", currency: USD, method: card, provider: stripe}
        expect:
          tasks: [{queue: compliance, title: "flags"}]
    """
    assert _run(text, test)[0].endswith(": ok")


@pytest.mark.parametrize(
    "change,message",
    [
        (
            {"last": "- {threshold: 5000 USD, queue: finance, labl: default}"},
            "rules.yaml:13: limits: row 4: unknown column 'labl' (did you mean label?)",
        ),
        (
            {"last": ""},
            "rules.yaml:9: limits: say what happens when no row matches: end with a row that gives no inputs (the "
            "default), or write `no_match: missing` (the outputs are then missing and every comparison on them is false)",
        ),
        ({"hit": "any"}, "rules.yaml:6: limits: hit: must be one of: first, collect"),
        (
            {"last": "- {threshold: 5000, queue: finance, label: default}"},
            "rules.yaml:13: limits: row 4: threshold is a plain number here but money in the rows above",
        ),
        (
            {"last": DEFAULT + "\n        - {country: DE, threshold: 1 USD, queue: finance, label: de}"},
            "rules.yaml:13: limits: a row without inputs matches every client: with hit: first the rows below it "
            "are never used (put the default last)",
        ),
        (
            {"last": "- {type: company, threshold: 5000 USD, queue: finance, label: default}"},
            "rules.yaml:13: limits: row 4: 'company' is not a value of client.client_type (one of: individual, corporate)",
        ),
    ],
)
def test_table_errors(change, message):
    with pytest.raises(RulesetInvalid) as info:
        ruleset(RULE, **change)
    assert [str(e) for e in info.value.errors][0] == message


@pytest.mark.parametrize(
    "rules,message",
    [
        (
            RULE.replace("table.limits.threshold]", "table.limits.treshold]"),
            "rules.yaml:22: big: table.limits.treshold: 'treshold' is not an output of table limits "
            "(outputs: threshold, queue, label)",
        ),
        (
            RULE.replace("table.limits.threshold]", "table.limit.threshold]"),
            "rules.yaml:22: big: table.limit: unknown decision table 'limit' (did you mean limits?)",
        ),
        (
            RULE.replace("event.amount > table.limits.threshold", "event.volume_lots > table.limits.threshold"),
            "rules.yaml:22: big: event.volume_lots is not a field of payment.deposit_completed",
        ),
        (
            RULE.replace(
                "event.amount > table.limits.threshold", "client.deposits.completed.count > table.limits.threshold"
            ),
            "rules.yaml:22: big: client.deposits.completed.count is a number, compared with table.limits.threshold, "
            "which is money (money compares with money only)",
        ),
    ],
)
def test_errors_where_a_rule_uses_a_table(rules, message):
    with pytest.raises(RulesetInvalid) as info:
        ruleset(rules)
    assert [str(e) for e in info.value.errors] == [message]


def test_an_action_parameter_needs_one_value_for_every_client():
    with pytest.raises(RulesetInvalid) as info:
        ruleset(RULE, hit="collect")
    assert "task: queue: table.limits.queue collects a list (hit: collect): a parameter takes one value" in str(
        info.value
    )
    with pytest.raises(RulesetInvalid) as info:
        ruleset(RULE, last="\n      no_match: missing")
    assert "task: queue: table limits has no default row: a parameter needs a value for every client" in str(info.value)


def test_a_parameter_needs_its_column_in_every_row():
    with pytest.raises(RulesetInvalid) as info:
        ruleset(RULE, last="- {threshold: 5000 USD, label: default}")
    assert "task: queue: table limits: the row at line 13 gives no queue: a parameter needs it in every row" in str(
        info.value
    )


def test_every_rows_value_of_a_parameter_is_checked():
    with pytest.raises(RulesetInvalid) as info:
        ruleset(RULE, last="- {threshold: 5000 USD, queue: finanse, label: default}")
    assert "task: queue: unknown queue 'finanse' (did you mean finance? queues: compliance, finance, sales)" in str(
        info.value
    )


ACCOUNTS = """
ruleset: a
description: d
definitions:
  tables:
    by_account:
      hit: first
      inputs: {accounts: client.accounts.types, country: client.country}
      outputs: [threshold, priority]
      rows:
        - {accounts: has pro, threshold: 100000 USD, priority: normal}
        - {country: "!= GB", threshold: 1000 USD, priority: high}
        - {threshold: 5000 USD, priority: normal}
rules:
  - id: big-for-the-account
    description: d
    when: payment.deposit_completed
    if: [event.amount >= table.by_account.threshold]
    then: [{task: {queue: compliance, title: big, priority: table.by_account.priority}}]
tests:
  - name: a pro account's client has the pro threshold
    given: {client: {accounts.types: [standard, pro], country: DE}}
    events:
      - {type: payment.deposit_completed, at: 1h, payment_id: p1, amount: "50000", currency: USD, method: card, provider: stripe}
    expect:
      tasks: []
  - name: a standard account outside GB has the low threshold and a high priority
    given: {client: {accounts.types: [standard], country: DE}}
    events:
      - {type: payment.deposit_completed, at: 1h, payment_id: p1, amount: "1000", currency: USD, method: card, provider: stripe}
    expect:
      tasks: [{title: big, priority: high}]
  - name: a client without a country matches "!= GB" (a missing value is not GB)
    given: {client: {accounts.types: []}}
    events:
      - {type: payment.deposit_completed, at: 1h, payment_id: p1, amount: "1000", currency: USD, method: card, provider: stripe}
    expect:
      tasks: [{title: big, priority: high}]
"""


def test_a_table_by_account_type():
    assert all(line.endswith(": ok") for line in _run(ACCOUNTS, ""))
    assert len(_run(ACCOUNTS, "")) == 3


def test_the_explanation_shows_the_tables_inputs_and_outputs(database):
    from pathlib import Path

    from sqlalchemy import select

    from engine.db import unit_of_work
    from engine.processing.ingest import ingest_lines
    from engine.rules import activation
    from engine.tasks.models import Task
    from tests.helpers import event, jsonl, registered

    example = Path(__file__).parent / "examples" / "worked_kyc_deposit.yaml"
    activation.forget()
    with unit_of_work(database) as s:
        activation.activate_files(s, {"kyc.yaml": example.read_text()}, actor="test")
    try:
        ingest_lines(
            database,
            jsonl(
                [
                    registered("C1", at="2026-11-01T09:00:00Z", country="GB"),
                    event(
                        "payment.deposit_completed",
                        "C1",
                        "2026-11-01T10:00:00Z",
                        payment_id="p1",
                        amount="12000.00",
                        currency="USD",
                        method="card",
                        provider="stripe",
                    ),
                ]
            ).splitlines(),
        )
        with unit_of_work(database) as s:
            task = s.scalar(select(Task))
            assert (task.queue, task.priority) == ("compliance", "normal")
            assert task.title == "Deposit of 12000.00 USD over 10000 USD before KYC approval"
            facts = task.explanation["facts"]
            assert facts["client.country"] == "GB" and facts["client.client_type"] == "individual"
            assert facts["table.large_deposit.threshold"] == "10000 USD"
            assert facts["event.amount"] == "12000.00 USD"
    finally:
        activation.forget()
