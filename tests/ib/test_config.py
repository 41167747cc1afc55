"""The IB YAML configuration: the shipped files load; broken files name file, line and problem."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from engine.ib import config
from engine.ib.yamlconf import IbConfigError

SHIPPED = Path("rules")


@pytest.fixture
def rules(tmp_path) -> Path:
    """A copy of the shipped rules directory to break."""
    shutil.copytree(SHIPPED / "policy" / "ib", tmp_path / "policy" / "ib")
    return tmp_path


def edit(rules: Path, name: str, old: str, new: str) -> None:
    path = rules / "policy" / "ib" / name
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def problems(rules: Path) -> list[str]:
    with pytest.raises(IbConfigError) as exc:
        config.parse(rules / "policy" / "ib")
    return [str(p) for p in exc.value.problems]


def test_shipped_configuration_loads():
    cfg = config.load(SHIPPED)
    standard = cfg.profile_for("IB-ANY")
    assert standard.name == "standard" and cfg.profile_for("IB-MASTER").name == "master"
    assert standard.rebate.for_symbol("XAGUSD") == (Decimal("12"), "symbol group of XAGUSD")
    policy = cfg.policies["cpa-standard"]
    # Included from clean-client and trade-counts.
    assert policy.kyc_approved and policy.no_chargeback and policy.min_holding_time.total_seconds() == 60


@pytest.mark.parametrize(
    "name, old, new, expected",
    [
        (
            "profiles.yaml",
            'amount: "200"',
            'amount: "two hundred"',
            "profiles.yaml:24: commission_profiles.profiles.standard.cpa.amount: amount is not a decimal number",
        ),
        (
            "profiles.yaml",
            "qualification: cpa-standard",
            "qualification: cpa-gold",
            "profiles.yaml:25: commission_profiles.profiles.standard.cpa.qualification: qualification policy 'cpa-gold' is not defined",
        ),
        (
            "profiles.yaml",
            "  default: standard",
            "  default: gold",
            "profiles.yaml:5: commission_profiles.default: default profile 'gold' is not defined",
        ),
        (
            "profiles.yaml",
            '      revshare: "25"',
            '      revshare: "125"',
            "revshare: revshare is a percentage and must be at most 100",
        ),
        (
            "profiles.yaml",
            "      caps:",
            "      limits:",
            "commission_profiles.profiles.standard.limits: unknown key 'limits'",
        ),
        (
            "qualification.yaml",
            "first_deposit_at_least: 200 USD",
            "first_deposit_at_least: 200",
            "first_deposit_at_least: first_deposit_at_least must be money like 200 USD, not 200",
        ),
        (
            "qualification.yaml",
            "min_holding_time: 60s",
            "min_holding_time: a minute",
            "qualification_policies.trade-counts.min_holding_time: min_holding_time: not a duration",
        ),
        (
            "qualification.yaml",
            "include: [clean-client, trade-counts]",
            "include: [cpa-standard]",
            "qualification_policies.cpa-standard: includes itself through cpa-standard -> cpa-standard",
        ),
        (
            "attribution.yaml",
            "conflicts: first_touch",
            "conflicts: loudest",
            "attribution.yaml:3: attribution.conflicts: must be one of first_touch, last_touch",
        ),
        ("qualification.yaml", "  trade-counts:", "  trade-counts: [", "qualification.yaml:"),
    ],
)
def test_a_broken_file_names_file_line_and_problem(rules, name, old, new, expected):
    edit(rules, name, old, new)
    found = problems(rules)
    assert any(expected in p for p in found), found
    assert all(p.startswith(str(rules / "policy" / "ib")) for p in found)


def test_every_problem_is_reported_at_once(rules):
    edit(rules, "profiles.yaml", "currency: USD", "currency: dollars")
    edit(rules, "qualification.yaml", "kyc_approved: true", "kyc_approved: yes please")
    assert len(problems(rules)) == 2


def test_ib_check_command_exits_1_with_the_problem(rules, runner):
    edit(rules, "profiles.yaml", 'per_lot: "5"', "per_lot: -5")
    result = runner.invoke(["ib", "check", str(rules)])
    assert result.exit_code == 1
    assert "lot_rebate.per_lot: per_lot must not be negative" in result.output
    assert runner.invoke(["ib", "check", "rules"]).output.startswith("ok: 3 profiles, 3 policies")


def test_a_broken_edit_keeps_the_last_valid_configuration(rules, caplog):
    first = config.load(rules)
    edit(rules, "profiles.yaml", 'amount: "200"', 'amount: "lots"')
    assert config.load(rules) is first
    assert "still using version " + first.version in caplog.text
    edit(rules, "profiles.yaml", 'amount: "lots"', 'amount: "300"')
    assert config.load(rules).profile_for("IB-X").cpa == Decimal("300")


def test_a_broken_configuration_is_refused_when_there_is_no_valid_one(rules):
    edit(rules, "profiles.yaml", 'amount: "200"', 'amount: "lots"')
    with pytest.raises(IbConfigError):
        config.load(rules)
