"""The withdrawal approval-chain and account policy files: shipped files load, errors point at lines."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from engine.accounts import policy as accounts_policy
from engine.payments import policy
from engine.payments.policy import PolicyError


def write(tmp_path, text):
    path = tmp_path / "withdrawals.yaml"
    path.write_text(text)
    return path


def test_the_shipped_chain_loads_and_decides_which_steps_apply():
    steps = policy.parse_chain(policy.REPO_RULES / "policy" / "withdrawals.yaml")
    assert [s.id for s in steps] == ["compliance", "source-of-funds", "finance", "provider"]
    compliance = steps[0]
    assert compliance.applies(kyc_status="pending", amount=Decimal("10"), currency="USD")
    assert not compliance.applies(kyc_status="approved", amount=Decimal("5000"), currency="USD")
    assert compliance.applies(kyc_status="approved", amount=Decimal("5000.01"), currency="USD")
    assert compliance.applies(kyc_status="approved", amount=Decimal("1"), currency="JPY")
    assert steps[2].applies(kyc_status="approved", amount=Decimal("1"), currency="USD")
    assert accounts_policy.parse_accounts(policy.REPO_RULES / "policy" / "accounts.yaml") == timedelta(days=30)


@pytest.mark.parametrize(
    "text, message",
    [
        ("chain: []\n", ":1: the policy needs a `chain:` list of steps"),
        ("chain:\n  - step: a\n    waits_for: boss\n", ":3: step a: waits_for must be one of"),
        ("chain:\n  - step: a\n    waits_for: finance\n", ":2: step a: an approval step needs approvers"),
        ("chain:\n  - step: a\n    waits_for: finance\n    approvers: [cfo]\n", ":4: step a: unknown role 'cfo'"),
        (
            "chain:\n  - step: a\n    waits_for: payment_provider\n    colour: red\n",
            ":4: unknown key 'colour' in chain[0]",
        ),
        (
            "chain:\n  - step: a\n    waits_for: finance\n    approvers: [finance]\n",
            ":1: the last step, and only it, waits_for payment_provider",
        ),
        (
            "chain:\n  - step: a\n    waits_for: compliance\n    approvers: [admin]\n    when:\n"
            "      amount_above: {usd: 5}\n  - step: p\n    waits_for: payment_provider\n",
            ":6: 'usd' is not a currency code like USD",
        ),
        (
            "chain:\n  - step: a\n    waits_for: compliance\n    approvers: [admin]\n    when:\n"
            "      amount_above: {USD: 5.5.5}\n  - step: p\n    waits_for: payment_provider\n",
            ":6: amount_above.USD is not a decimal number",
        ),
        (
            "chain:\n  - step: a\n    waits_for: client_documents\n  - step: p\n    waits_for: payment_provider\n",
            ":2: step a: a client_documents step needs documents",
        ),
        ("chain: [\n", ": YAML syntax"),
    ],
)
def test_errors_name_the_file_line_and_problem(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(PolicyError) as err:
        policy.parse_chain(path)
    assert str(err.value).startswith(str(path))
    assert message in str(err.value)


def test_a_bad_inactivity_period_is_refused(tmp_path):
    path = tmp_path / "accounts.yaml"
    path.write_text("# comment\ninactive_after: thirty days\n")
    with pytest.raises(PolicyError, match=r"accounts.yaml:2: inactive_after: not a duration"):
        accounts_policy.parse_accounts(path)
