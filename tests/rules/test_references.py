"""Names a rule gives to its configuration (a notification template, a commission profile)
must exist, or the ruleset is refused before anything runs, with the nearest name."""

from __future__ import annotations

import pytest

from engine.db import unit_of_work
from engine.rules import activation
from engine.rules.compiler import compile_ruleset
from engine.rules.errors import RulesetInvalid
from engine.rules.loader import load_tree

RULES = """ruleset: probe
description: probe
rules:
  - id: welcome
    description: Tell the client.
    when: payment.deposit_completed
    then:
      - notify: {template}
      - commission: {{type: cpa, profile: {profile}}}
"""
TEMPLATE = "subject: Hello\nbody: Welcome {{ client.first_name }}\n"


def problems(files) -> list[str]:
    with pytest.raises(RulesetInvalid) as refused:
        compile_ruleset(files)
    return [str(e) for e in refused.value.errors]


def test_an_unknown_template_is_named_with_the_nearest_one():
    files = {"a.yaml": RULES.format(template="welcom", profile="standard"), "templates/welcome.yaml": TEMPLATE}
    assert problems(files) == [
        "a.yaml:8: welcome: notify: template: unknown notification template 'welcom' (did you mean welcome?)"
    ]


def test_rule_files_alone_leave_names_to_the_running_configuration():
    """Without templates/ or policy/ib/ the compiler cannot know the names (it reads no file)."""
    files = {"a.yaml": RULES.format(template="anything", profile="anything")}
    assert [r.id for r in compile_ruleset(files).rules] == ["welcome"]


def test_an_unknown_commission_profile_is_named():
    files = {
        "a.yaml": RULES.format(template="kyc-approved", profile="gold"),
        **{p: t for p, t in load_tree("rules").items() if p.startswith("policy/ib/")},
    }
    assert problems(files) == [
        "a.yaml:9: welcome: commission: profile: unknown commission "
        "profile 'gold' (known: master, revshare-partner, standard)"
    ]


def test_known_names_compile():
    files = {"a.yaml": RULES.format(template="welcome", profile="standard"), "templates/welcome.yaml": TEMPLATE}
    assert [r.id for r in compile_ruleset(files).rules] == ["welcome"]


def test_activation_refuses_a_ruleset_naming_a_missing_template(database):
    files = {**load_tree("rules"), "a.yaml": RULES.format(template="no-such", profile="standard")}
    with unit_of_work(database) as s, pytest.raises(RulesetInvalid, match="no-such"):
        activation.activate_files(s, files, actor="test")
    with unit_of_work(database) as s:
        assert activation.active(s) is None


BROKEN_TEMPLATE = """description: A deposit arrived.
subject: "Deposit {{ event.amount }"
body: |
  Dear {{ client.first_name }},

  Your deposit of {{ event.amount }} {% if event.currency %}arrived.

  Kind regards
"""


def test_broken_jinja_in_a_template_points_at_its_line_in_the_file():
    files = {
        "a.yaml": RULES.format(template="deposit", profile="standard").replace(
            "      - commission: {type: cpa, profile: standard}\n", ""
        ),
        "templates/deposit.yaml": BROKEN_TEMPLATE,
    }
    with pytest.raises(RulesetInvalid) as refused:
        activation.validate(files)
    assert [str(e) for e in refused.value.errors] == [
        "templates/deposit.yaml:2: -: subject: Jinja: unexpected '}'",
        "templates/deposit.yaml:6: -: body: Jinja: Unexpected end of template. Jinja was looking "
        "for the following tags: 'elif' or 'else' or 'endif'. The innermost block that needs to "
        "be closed is 'if'.",
    ]
