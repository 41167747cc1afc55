"""`<rules dir>/policy/withdrawals.yaml`: the withdrawal approval chain.

It is YAML written by compliance, like the rules; an error names the file, the line and
what is wrong, and a bad file is never half-used. The file is read through the rules
API's `PolicyFile` (the active version's, parsed once per version). The accounts'
inactivity setting is engine/accounts/policy.py's.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sqlalchemy.orm import Session

from engine.payments.models import WAITING_FOR
from engine.rules import api as rules_api
from engine.rules.api import PolicyError
from engine.rules.problems import Problem
from engine.users.models import ROLES
from engine.values import ValueError_, parse_decimal

REPO_RULES = Path(__file__).resolve().parents[2] / "rules"
CONDITIONS = ("kyc_not_approved", "amount_above")
RELATIVE = "policy/withdrawals.yaml"
__all__ = ["PolicyError", "Step", "check_config", "parse_chain", "withdrawal_chain"]


@dataclass(frozen=True)
class Step:
    id: str
    waits_for: str
    approvers: tuple[str, ...] = ()  # roles that may approve or reject (approval steps)
    documents: tuple[str, ...] = ()  # document types the client must submit
    kyc_not_approved: bool = False  # conditions: the step applies if any holds
    amount_above: tuple[tuple[str, Decimal], ...] | None = None

    @property
    def conditional(self) -> bool:
        return self.kyc_not_approved or self.amount_above is not None

    def reasons(self, *, kyc_status: str, amount: Decimal, currency: str) -> list[str]:
        """Say in words why this conditional step is part of such a withdrawal's chain."""
        out = []
        if self.kyc_not_approved and kyc_status != "approved":
            out.append(f"the client's KYC is {kyc_status.replace('_', ' ')}")
        if self.amount_above is not None:
            limits = dict(self.amount_above)
            if currency not in limits:
                out.append(f"the chain sets no threshold for {currency}")
            elif amount > limits[currency]:
                out.append(f"the amount is above {limits[currency]} {currency}")
        return out

    def applies(self, *, kyc_status: str, amount: Decimal, currency: str) -> bool:
        """Return whether this step is part of the chain for such a withdrawal."""
        if not self.conditional:
            return True
        if self.kyc_not_approved and kyc_status != "approved":
            return True
        if self.amount_above is not None:
            limits = dict(self.amount_above)
            # A currency without a threshold is not known to be small: it needs the step.
            return currency not in limits or amount > limits[currency]
        return False


def _fail(path: Path | str, container, key, message: str):
    rules_api.fail(str(path), container, (key,), message)


def _amounts(path: Path | str, raw, where) -> tuple[tuple[str, Decimal], ...]:
    if not isinstance(raw, dict) or not raw:
        _fail(path, where, "amount_above", 'amount_above maps currencies to amounts, like {USD: "5000"}')
    out = []
    for currency, amount in raw.items():
        if not (isinstance(currency, str) and len(currency) == 3 and currency.isupper()):
            _fail(path, raw, currency, f"{currency!r} is not a currency code like USD")
        try:
            out.append((currency, parse_decimal(amount, f"amount_above.{currency}")))
        except ValueError_ as exc:
            _fail(path, raw, currency, str(exc))
    return tuple(out)


def _step(path: Path | str, raw, index: int, chain) -> Step:
    if not isinstance(raw, dict):
        _fail(path, chain, index, f"chain[{index}] must be a mapping with step and waits_for")
    unknown = set(raw) - {"step", "waits_for", "approvers", "documents", "when"}
    if unknown:
        _fail(path, raw, sorted(unknown)[0], f"unknown key {sorted(unknown)[0]!r} in chain[{index}]")
    sid, waits = raw.get("step"), raw.get("waits_for")
    if not isinstance(sid, str) or not sid:
        _fail(path, raw, "step", f"chain[{index}] needs a step name")
    if waits not in WAITING_FOR:
        _fail(path, raw, "waits_for", f"step {sid}: waits_for must be one of {', '.join(WAITING_FOR)}")
    approvers = tuple(raw.get("approvers") or ())
    if waits in ("compliance", "finance") and not approvers:
        _fail(path, raw, "step", f"step {sid}: an approval step needs approvers (roles)")
    bad = [r for r in approvers if r not in ROLES]
    if bad:
        _fail(path, raw, "approvers", f"step {sid}: unknown role {bad[0]!r}")
    documents = tuple(raw.get("documents") or ())
    if waits == "client_documents" and not documents:
        _fail(path, raw, "step", f"step {sid}: a client_documents step needs documents")
    return Step(sid, waits, approvers, documents, **_conditions(path, raw, sid))


def _conditions(path: Path | str, raw, sid: str) -> dict:
    when = raw.get("when")
    if when is None:
        return {}
    if not isinstance(when, dict) or set(when) - set(CONDITIONS):
        _fail(path, raw, "when", f"step {sid}: when takes {' and/or '.join(CONDITIONS)}")
    out = {}
    if "kyc_not_approved" in when:
        if not isinstance(when["kyc_not_approved"], bool):
            _fail(path, when, "kyc_not_approved", f"step {sid}: kyc_not_approved is true or false")
        out["kyc_not_approved"] = when["kyc_not_approved"]
    if "amount_above" in when:
        out["amount_above"] = _amounts(path, when["amount_above"], when)
    return out


def _parse(text: str, file: str) -> tuple[Step, ...]:
    data = rules_api.read_mapping(file, text)
    chain = data.get("chain")
    if not isinstance(chain, list) or not chain:
        _fail(file, data, "chain", "the policy needs a `chain:` list of steps")
    steps = tuple(_step(file, raw, i, chain) for i, raw in enumerate(chain))
    ids = [s.id for s in steps]
    if len(set(ids)) != len(ids):
        _fail(file, data, "chain", "step names must be unique")
    if steps[-1].waits_for != "payment_provider" or [s.waits_for for s in steps].count("payment_provider") != 1:
        _fail(file, data, "chain", "the last step, and only it, waits_for payment_provider")
    return steps


POLICY = rules_api.PolicyFile(RELATIVE, _parse, fallback=REPO_RULES)


def parse_chain(path: Path | str, text: str | None = None) -> tuple[Step, ...]:
    """Load and check a withdrawal approval chain file (or its `text`, named `path`)."""
    return POLICY.read(Path(path)) if text is None else _parse(text, str(path))


def withdrawal_chain(session: Session) -> tuple[Step, ...]:
    """Return the withdrawal approval chain from `policy/withdrawals.yaml`."""
    return POLICY.for_session(session)


def check_config(files) -> list[Problem]:
    """Return the problems of the withdrawal chain among `files` (a RuleFiles)."""
    return POLICY.check(files)
