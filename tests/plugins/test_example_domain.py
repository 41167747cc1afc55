"""A new domain plugs in without editing a core file: the example in tests/plugins/loyalty
adds a model, a projection, a fact and an action, and a ruleset uses them end to end.

It runs in a subprocess: the domain is named by FXCRM_DOMAINS there, so this test
process's registries stay as the other tests expect.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent('''
    import json, sys
    from sqlalchemy import select
    from engine import config as config_mod
    from engine.db import Base, get_database, unit_of_work
    from engine.processing.ingest import ingest_lines
    from engine.migrate import upgrade
    from engine.rules import activation
    from engine.rules.actions import load_domain_actions
    from engine.facts import load_domain_facts
    from tests.helpers import event, jsonl, registered

    url = sys.argv[1]
    upgrade(url)
    import engine.models  # every domain's models, the plug-in's included
    from tests.plugins.loyalty.models import LoyaltyPoints
    database = get_database(config_mod.load().with_overrides(database_url=url))
    Base.metadata.create_all(database.engine, tables=[LoyaltyPoints.__table__])
    rules = """
    ruleset: loyalty
    description: Gold badge at 100 points.
    rules:
      - id: gold
        description: A client with 100 points or more gets the gold badge.
        when: payment.deposit_completed
        if: [client.loyalty.points >= 100]
        then:
          - loyalty_badge: gold
    """
    with unit_of_work(database) as s:
        activation.activate_files(s, {"loyalty.yaml": textwrap.dedent(rules)}, actor="test")
    deposit = lambda at, amount, pid: event("payment.deposit_completed", "C1", at, payment_id=pid,
        amount=amount, currency="USD", method="card", provider="stripe")
    report = ingest_lines(database, jsonl([registered("C1", at="2026-11-01T09:00:00Z"),
        deposit("2026-11-01T10:00:00Z", "60", "p1"), deposit("2026-11-01T11:00:00Z", "50.75", "p2")]).splitlines())
    assert report.ok, report.rejected
    with unit_of_work(database) as s:
        rows = [(r.kind, r.points) for r in s.scalars(select(LoyaltyPoints).order_by(LoyaltyPoints.id))]
    print(json.dumps({"rows": rows, "table": "loyalty_points" in Base.metadata.tables,
                      "fact": "loyalty.points" in load_domain_facts(),
                      "action": "loyalty_badge" in load_domain_actions()}))
''')


def run_example(tmp_path, domains: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "FXCRM_DOMAINS": domains,
        "FXCRM_DATABASE_URL": f"sqlite:///{tmp_path}/unused.db",
    }
    return subprocess.run(
        [sys.executable, "-c", "import textwrap\n" + SCRIPT, f"sqlite:///{tmp_path}/fxcrm.db"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_the_example_domain_adds_a_model_projection_fact_and_action(tmp_path):
    result = run_example(tmp_path, "tests.plugins.loyalty")
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out == {
        "rows": [["deposit", 60], ["deposit", 50], ["badge:gold", 0]],
        "table": True,
        "fact": True,
        "action": True,
    }


def test_without_the_domain_named_its_rules_do_not_compile(tmp_path):
    result = run_example(tmp_path, "")
    assert result.returncode != 0
    assert "loyalty" in result.stderr
