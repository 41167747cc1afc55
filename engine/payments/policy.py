"""Policy files in `<rules dir>/policy/`: the withdrawal approval chain and account inactivity.

They are YAML written by compliance, like the rules; an error names the file, the
line and what is wrong, and a bad file is never half-used.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy.orm import Session

from engine.payments.models import WAITING_FOR
from engine.rules.problems import Problem, joined
from engine.rules.yaml_lines import line_of, load_documents
from engine.users.models import ROLES
from engine.values import ValueError_, parse_decimal, parse_duration

REPO_RULES = Path(__file__).resolve().parents[2] / "rules"
CONDITIONS = ("kyc_not_approved", "amount_above")


class PolicyError(ValueError):
    """A policy file is invalid: `problems`, printed `file:line: message`."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__(joined(problems))


@dataclass(frozen=True)
class Step:
    id: str
    waits_for: str
    approvers: tuple[str, ...] = ()        # roles that may approve or reject (approval steps)
    documents: tuple[str, ...] = ()        # document types the client must submit
    kyc_not_approved: bool = False         # conditions: the step applies if any holds
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


def rules_dir(session: Session) -> Path:
    """Return the configured rules directory whose policy/ applies (the repository's when it
    has no policy/ folder); used when the active version carries no policy/ files."""
    from engine.rules.api import configured_rules_dir
    configured = Path(configured_rules_dir(session))
    return configured if (configured / "policy").is_dir() else REPO_RULES


def _version_policy(session: Session):
    """Return the active version's files when they include policy/ files, else None."""
    from engine.rules.api import rule_files
    files = rule_files(session)
    return files if files is not None and files.under("policy") else None


def _load(path: Path | str, text: str | None) -> dict:
    """Read the mapping in `text` (None: read the file `path`; else `path` only names it)."""
    if text is None:
        if not Path(path).is_file():
            raise PolicyError([Problem(str(path), 1, "", "policy file is missing")])
        text = Path(path).read_text(encoding="utf-8")
    docs, errors = load_documents(str(path), text)
    if errors:
        first = errors[0]
        raise PolicyError([Problem(first.file, first.line, first.rule_id, first.message)])
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise PolicyError([Problem(str(path), 1, "", "expected one YAML mapping")])
    return docs[0]


def _fail(path: Path | str, container, key, message: str):
    raise PolicyError([Problem(str(path), line_of(container, key, 1), "", message)])


def _amounts(path: Path | str, raw, where) -> tuple[tuple[str, Decimal], ...]:
    if not isinstance(raw, dict) or not raw:
        _fail(path, where, "amount_above", "amount_above maps currencies to amounts, like {USD: \"5000\"}")
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


def parse_chain(path: Path | str, text: str | None = None) -> tuple[Step, ...]:
    """Load and check a withdrawal approval chain file (or its `text`, named `path`)."""
    data = _load(path, text)
    chain = data.get("chain")
    if not isinstance(chain, list) or not chain:
        _fail(path, data, "chain", "the policy needs a `chain:` list of steps")
    steps = tuple(_step(path, raw, i, chain) for i, raw in enumerate(chain))
    ids = [s.id for s in steps]
    if len(set(ids)) != len(ids):
        _fail(path, data, "chain", "step names must be unique")
    if steps[-1].waits_for != "payment_provider" or \
            [s.waits_for for s in steps].count("payment_provider") != 1:
        _fail(path, data, "chain", "the last step, and only it, waits_for payment_provider")
    return steps


_cache: dict[tuple, object] = {}  # (file, mtime) of a folder's, (version, name) of a version's


def _cached(path: Path, parse):
    key = (path, path.stat().st_mtime if path.exists() else 0.0)
    if key not in _cache:
        _cache[key] = parse(path)
    return _cache[key]


def _policy(session: Session, name: str, parse):
    """Parse `policy/<name>` of the active version (once per version) or of the rules folder."""
    files = _version_policy(session)
    if files is None:
        return _cached(rules_dir(session) / "policy" / name, parse)
    key = (files.version, name)
    if key not in _cache:
        relative = f"policy/{name}"
        text = files.text(relative)
        if text is None:
            raise PolicyError([Problem(relative, 1, "", "policy file is missing")])
        _cache[key] = parse(relative, text)
    return _cache[key]


def withdrawal_chain(session: Session) -> tuple[Step, ...]:
    """Return the withdrawal approval chain from `policy/withdrawals.yaml`."""
    return _policy(session, "withdrawals.yaml", parse_chain)


def parse_accounts(path: Path | str, text: str | None = None) -> timedelta:
    """Load the trading-account policy: after how long without a trade an account is inactive."""
    data = _load(path, text)
    try:
        return parse_duration(data.get("inactive_after", ""))
    except ValueError_ as exc:
        _fail(path, data, "inactive_after", f"inactive_after: {exc}")


def inactive_after(session: Session) -> timedelta:
    """Return how long without a trade makes a trading account inactive."""
    return _policy(session, "accounts.yaml", parse_accounts)


def check_config(files) -> list[Problem]:
    """Return the problems of the withdrawal and account policies among `files` (a RuleFiles)."""
    problems = []
    for name, parse in (("withdrawals.yaml", parse_chain), ("accounts.yaml", parse_accounts)):
        text = files.text(f"policy/{name}")
        if text is not None:
            try:
                parse(f"policy/{name}", text)
            except PolicyError as exc:
                problems.extend(exc.problems)
    return problems
