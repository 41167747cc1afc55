"""Who decides a commission: the active ruleset's `commission` actions, else the YAML policies."""

from __future__ import annotations

import pytest

from engine.db import unit_of_work
from engine.rules import activation
from tests.ib.builders import client, deposit, ib, trade
from tests.helpers import rules_active

CPA_RULE = """
ruleset: ib-cpa-test
description: The rules pay the CPA.
rules:
  - id: cpa-by-rule
    description: A rule that pays a CPA when a trade closes.
    when: trade.closed
    if:
      - client.ib exists
      - client.ib.lots(held_at_least=60s) >= 1000
    then:
      - commission: {type: cpa, review: true}
"""


@pytest.fixture
def cpa_rules_active(database):
    yield from rules_active(database, {"ib/cpa.yaml": CPA_RULE})


def test_the_policy_stands_back_for_types_an_active_rule_pays(feed, earned, cpa_rules_active):
    feed(ib("P-A", "IB-A", "A"))
    feed(client("C1", "A") + [deposit("C1", "500.00", 1), trade("C1", "3", 2, held=600)])
    # The rule's condition (1000 lots) is not met and the policy does not pay the CPA;
    # the per-lot rebate, which no rule pays, still comes from the profile.
    assert [row[2] for row in earned()] == ["lot_rebate"]


def test_forced_policy_mode_ignores_the_rules(feed, earned, cpa_rules_active, ib_rules):
    ib_rules("profiles.yaml", "triggered_by: auto", "triggered_by: policy")
    feed(ib("P-A", "IB-A", "A"))
    feed(client("C1", "A") + [deposit("C1", "500.00", 1), trade("C1", "3", 2, held=600)])
    assert [row[2] for row in earned()] == ["lot_rebate", "cpa"]
