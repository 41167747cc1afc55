"""The YAML rule-test format: parsing and validation (the runner comes with the runtime)."""

import pytest

from engine.rules.errors import RulesetInvalid
from tests.rules.conftest import compile_text

RULES = """
ruleset: kyc
description: d
rules:
  - id: reminder
    description: d
    when: client.registered
    after: 48h
    unless: ["client.kyc.status in [pending, approved]"]
    then:
      - notify: {template: kyc-reminder, channel: email}
"""

TESTS = """
ruleset: kyc
tests:
  - name: a client who never starts KYC gets one reminder
    start: 2024-03-01T09:00:00Z
    given:
      client: {kyc.status: not_started, registered_at: 2024-03-01T09:00:00Z, deposits.completed.sum: 10 USD}
    events:
      - {type: client.registered, at: 0h, email: a@example.com, country: GB, client_type: individual}
      - {at: 49h}
    expect:
      notifications: [{template: kyc-reminder, channel: email}]
      tasks: []
    ignore: [timers]
"""


def test_test_file_beside_rules_is_parsed():
    rs = compile_text(RULES, **{"kyc.test": TESTS})
    (test,) = rs.tests
    assert test.name == "a client who never starts KYC gets one reminder"
    assert test.file == "kyc.test.yaml" and test.line == 4
    assert test.start == "2024-03-01T09:00:00Z"
    assert dict(test.given)["kyc.status"] == "not_started"
    assert [dict(s).get("type") for s in test.steps] == ["client.registered", None]
    assert dict(dict(test.expect)["notifications"][0]) == {"template": "kyc-reminder", "channel": "email"}
    assert dict(test.expect)["tasks"] == () and test.ignore == ("timers",)


NAME = "a client who never starts KYC gets one reminder"


@pytest.mark.parametrize(
    "change, broken, line, message",
    [
        (
            "client_type: individual}",
            "client_type: robot}",
            9,
            'event 1: field client_type: expected one of individual, corporate, got "robot"',
        ),
        (
            "at: 49h}",
            "at: two days}",
            10,
            'event 2: at: expected a duration from the start like 30s, 15m, 48h, 7d, got "two days"',
        ),
        ("10 USD}", "10}", 7, "given client.deposits.completed.sum: expected money like 200 USD, got 10"),
        (
            "tasks: []",
            "tasks: [{queue: finance, colour: red}]",
            13,
            "expect tasks: unknown key 'colour' (allowed: queue, rule, title, priority, status, at)",
        ),
    ],
)
def test_invalid_tests_are_reported_with_their_line(change, broken, line, message):
    with pytest.raises(RulesetInvalid) as info:
        compile_text(RULES, **{"kyc.test": TESTS.replace(change, broken)})
    assert [str(e) for e in info.value.errors] == [f"kyc.test.yaml:{line}: {NAME}: {message}"]
