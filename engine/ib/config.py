"""The IB configuration: commission profiles, qualification policies and attribution policy.

Three YAML files in `<rules dir>/policy/ib/` (profiles.yaml, qualification.yaml,
attribution.yaml) are validated together; any problem raises IbConfigError naming
file, line and what is wrong, and nothing of an invalid configuration is used.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from engine.ib.yamlconf import Doc, IbConfigError, Problem, check_keys, decimal, duration, money, percent
from engine.rules import api as rules_api
from engine.values import Money, ValueError_

log = logging.getLogger(__name__)
FILES = ("profiles.yaml", "qualification.yaml", "attribution.yaml")
IB_FOLDER = "policy/ib"
CONFLICT_POLICIES = ("first_touch", "last_touch")
TRIGGERS = ("auto", "policy", "rules")


@dataclass(frozen=True)
class Policy:
    """A qualification policy with its includes resolved."""

    name: str
    description: str = ""
    first_deposit_at_least: Money | None = None
    total_deposits_at_least: Money | None = None
    total_lots_at_least: Decimal | None = None
    within: timedelta | None = None  # of registration
    min_holding_time: timedelta | None = None
    kyc_approved: bool = False
    no_chargeback: bool = False


@dataclass(frozen=True)
class PerLot:
    """An amount per lot: a default, per symbol, and per symbol group."""

    default: Decimal | None = None
    symbols: dict[str, Decimal] = field(default_factory=dict)
    groups: dict[str, Decimal] = field(default_factory=dict)  # symbol -> amount via group

    def for_symbol(self, symbol: str) -> tuple[Decimal | None, str]:
        """Return the amount per lot for `symbol` and where it came from."""
        if symbol in self.symbols:
            return self.symbols[symbol], f"symbol {symbol}"
        if symbol in self.groups:
            return self.groups[symbol], f"symbol group of {symbol}"
        return self.default, "default"


@dataclass(frozen=True)
class Profile:
    """A commission profile: what an IB earns, in one currency."""

    name: str
    currency: str
    cpa: Decimal | None = None
    cpa_policy: str | None = None
    clawback: timedelta | None = None
    rebate: PerLot | None = None
    trade_policy: str | None = None  # which trades earn per-trade commissions
    spread_share: Decimal | None = None  # percent of the broker's spread revenue
    revshare: Decimal | None = None  # percent of the broker's revenue
    cap_per_client: Decimal | None = None
    cap_per_month: Decimal | None = None
    overrides: dict[int, Decimal] = field(default_factory=dict)  # depth -> percent


@dataclass(frozen=True)
class IbConfig:
    version: str
    profiles: dict[str, Profile]
    default_profile: str
    assignments: dict[str, str]
    policies: dict[str, Policy]
    spread: PerLot
    conflicts: str = "first_touch"
    self_referral: bool = False
    triggered_by: str = "auto"
    referral_link: str = "{code}"
    show_deposit_amounts: bool = False  # in the partner view

    def profile_for(self, ib_id: str) -> Profile:
        """Return the profile assigned to `ib_id`, or the default profile."""
        return self.profiles[self.assignments.get(ib_id, self.default_profile)]


def _guard(doc: Doc, path: tuple, read_value, *args):
    """Return `read_value(*args)`, or record its error at `path` and return None."""
    try:
        return read_value(*args)
    except ValueError_ as exc:
        doc.error(path, str(exc))
        return None


def _per_lot(doc: Doc, path: tuple, data) -> PerLot:
    if not check_keys(doc, path, data, ("per_lot", "symbols", "groups")):
        return PerLot()
    default = _guard(doc, path + ("per_lot",), decimal, data.get("per_lot", 0), "per_lot")
    symbols = {
        str(s): _guard(doc, path + ("symbols", s), decimal, v, f"symbols.{s}")
        for s, v in (data.get("symbols") or {}).items()
    }
    groups: dict[str, Decimal] = {}
    for name, group in (data.get("groups") or {}).items():
        gpath = path + ("groups", name)
        if check_keys(doc, gpath, group, ("symbols", "per_lot"), ("symbols", "per_lot")):
            amount = _guard(doc, gpath + ("per_lot",), decimal, group["per_lot"], "per_lot")
            groups.update({str(s): amount for s in group["symbols"] or ()})
    return PerLot(default if "per_lot" in data else None, symbols, groups)


_PROFILE_KEYS = ("currency", "cpa", "lot_rebate", "spread_share", "revshare", "caps", "overrides", "trades_count_when")


def _amount(doc, path, data, key):
    return _guard(doc, path + (key,), decimal, data[key], key) if key in data else None


def _pct(doc, path, data, key):
    return _guard(doc, path + (key,), percent, data[key], key) if key in data else None


def _profile(doc: Doc, name: str, data) -> Profile | None:
    path = ("commission_profiles", "profiles", name)
    if not check_keys(doc, path, data, _PROFILE_KEYS, ("currency",)):
        return None
    cpa, caps = data.get("cpa") or {}, data.get("caps") or {}
    check_keys(
        doc,
        path + ("cpa",),
        cpa,
        ("amount", "qualification", "clawback_window"),
        ("amount", "qualification") if cpa else (),
    )
    check_keys(doc, path + ("caps",), caps, ("per_client", "per_month"))
    overrides = {}
    for depth, pct in (data.get("overrides") or {}).items():
        if not isinstance(depth, int) or depth < 1:
            doc.error(path + ("overrides", depth), "a depth is a whole number from 1 (1: the IB's direct sub-IBs)")
        overrides[depth] = _guard(doc, path + ("overrides", depth), percent, pct, "override")
    return Profile(
        name=name,
        currency=str(data.get("currency")),
        cpa=_amount(doc, path + ("cpa",), cpa, "amount"),
        cpa_policy=cpa.get("qualification"),
        clawback=_guard(doc, path + ("cpa", "clawback_window"), duration, cpa["clawback_window"], "clawback_window")
        if "clawback_window" in cpa
        else None,
        rebate=_per_lot(doc, path + ("lot_rebate",), data["lot_rebate"]) if "lot_rebate" in data else None,
        trade_policy=data.get("trades_count_when"),
        spread_share=_pct(doc, path, data, "spread_share"),
        revshare=_pct(doc, path, data, "revshare"),
        cap_per_client=_amount(doc, path + ("caps",), caps, "per_client"),
        cap_per_month=_amount(doc, path + ("caps",), caps, "per_month"),
        overrides=overrides,
    )


_POLICY_KEYS = (
    "description",
    "include",
    "first_deposit_at_least",
    "total_deposits_at_least",
    "total_lots_at_least",
    "within",
    "min_holding_time",
    "kyc_approved",
    "no_chargeback",
)
_READERS = {
    "first_deposit_at_least": money,
    "total_deposits_at_least": money,
    "total_lots_at_least": decimal,
    "within": duration,
    "min_holding_time": duration,
}


def _raw_policies(doc: Doc) -> dict[str, dict]:
    root = doc.data.get("qualification_policies")
    if not check_keys(doc, (), doc.data, ("qualification_policies",), ("qualification_policies",)):
        return {}
    if not isinstance(root, dict):
        doc.error(("qualification_policies",), "must map policy names to their criteria")
        return {}
    return {
        name: body
        for name, body in root.items()
        if check_keys(doc, ("qualification_policies", name), body, _POLICY_KEYS)
    }


def _own_criteria(doc: Doc, name: str, body: dict) -> dict:
    """Read the criteria a policy states itself (each problem reported once, where it is)."""
    path, values = ("qualification_policies", name), {}
    for key, reader in _READERS.items():
        if key in body:
            values[key] = _guard(doc, path + (key,), reader, body[key], key)
    for key in ("kyc_approved", "no_chargeback"):
        if key in body:
            if not isinstance(body[key], bool):
                doc.error(path + (key,), "must be true or false")
            values[key] = body[key] is True
    return values


def _resolve(doc: Doc, name: str, raw: dict, own: dict, seen: tuple = ()) -> dict:
    """Merge a policy's includes under its own criteria (its own win)."""
    path = ("qualification_policies", name)
    if name in seen:
        doc.error(path, f"includes itself through {' -> '.join(seen + (name,))}")
        return {}
    merged: dict = {}
    for inc in raw[name].get("include") or ():
        if inc not in raw:
            doc.error(path + ("include",), f"includes unknown policy {inc!r}")
            continue
        merged.update(_resolve(doc, inc, raw, own, seen + (name,)))
    merged.update(own[name])
    return merged


def _policies(doc: Doc) -> dict[str, Policy]:
    raw = _raw_policies(doc)
    own = {name: _own_criteria(doc, name, body) for name, body in raw.items()}
    return {
        name: Policy(name, str(body.get("description", "")), **_resolve(doc, name, raw, own))
        for name, body in raw.items()
    }


_ROOT_KEYS = ("default", "assignments", "profiles", "spread_per_lot", "triggered_by")


def _profiles(doc: Doc) -> tuple[dict[str, Profile], dict, PerLot]:
    if (
        not check_keys(doc, (), doc.data, ("commission_profiles",), ("commission_profiles",))
        or "commission_profiles" not in doc.data
    ):  # reported as missing
        return {}, {}, PerLot()
    root = doc.data["commission_profiles"]
    if not check_keys(doc, ("commission_profiles",), root, _ROOT_KEYS, ("default", "profiles")):
        return {}, {}, PerLot()
    found = {name: _profile(doc, str(name), body) for name, body in (root.get("profiles") or {}).items()}
    spread = _per_lot(doc, ("commission_profiles", "spread_per_lot"), root.get("spread_per_lot") or {})
    return {k: v for k, v in found.items() if v}, root, spread


def _cross_check(doc: Doc, root: dict, profiles: dict[str, Profile], policies: dict) -> None:
    base = ("commission_profiles",)
    if root.get("default") not in profiles:
        doc.error(base + ("default",), f"default profile {root.get('default')!r} is not defined")
    for ib_id, name in (root.get("assignments") or {}).items():
        if name not in profiles:
            doc.error(base + ("assignments", ib_id), f"profile {name!r} is not defined")
    if root.get("triggered_by", "auto") not in TRIGGERS:
        doc.error(base + ("triggered_by",), f"must be one of {', '.join(TRIGGERS)}")
    for p in profiles.values():
        path = base + ("profiles", p.name)
        if len(p.currency) != 3 or not p.currency.isupper():
            doc.error(path + ("currency",), "must be an ISO 4217 code like USD")
        for key, ref in ((("cpa", "qualification"), p.cpa_policy), (("trades_count_when",), p.trade_policy)):
            if ref is not None and ref not in policies:
                doc.error(path + key, f"qualification policy {ref!r} is not defined")


def _attribution(doc: Doc | None) -> dict:
    if doc is None:
        return {}
    if not check_keys(doc, (), doc.data, ("attribution", "partner_view"), ("attribution",)):
        return {}
    view = doc.data.get("partner_view") or {}
    if check_keys(doc, ("partner_view",), view, ("show_deposit_amounts",)):
        if not isinstance(view.get("show_deposit_amounts", False), bool):
            doc.error(("partner_view", "show_deposit_amounts"), "must be true or false")
    body = doc.data["attribution"]
    if check_keys(doc, ("attribution",), body, ("conflicts", "self_referral", "referral_link")):
        if body.get("conflicts", "first_touch") not in CONFLICT_POLICIES:
            doc.error(("attribution", "conflicts"), f"must be one of {', '.join(CONFLICT_POLICIES)}")
        if body.get("self_referral", "refuse") not in ("refuse", "allow"):
            doc.error(("attribution", "self_referral"), "must be refuse or allow")
        if "{code}" not in str(body.get("referral_link", "{code}")):
            doc.error(("attribution", "referral_link"), "must contain {code}")
    out = dict(body) if isinstance(body, dict) else {}
    out["show_deposit_amounts"] = view.get("show_deposit_amounts") is True if isinstance(view, dict) else False
    return out


def _version(texts: list[tuple[str, str]]) -> str:
    digest = hashlib.sha256()
    for name, text in texts:
        digest.update(f"{name}\0{text}\0".encode())
    return digest.hexdigest()[:16]


def parse(directory: Path) -> IbConfig:
    """Validate the IB files in `directory`; raise IbConfigError listing every problem."""
    return parse_texts(str(directory), {name: _text(directory / name) for name in FILES})


def _text(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.exists() else None


def parse_texts(folder: str, texts: dict[str, str | None]) -> IbConfig:
    """Validate the IB files' `texts` ({name: text or None}), naming them `folder/name`."""
    docs = {name: None if texts.get(name) is None else Doc(f"{folder}/{name}", texts[name]) for name in FILES}
    for name in FILES[:2]:
        if docs[name] is None:
            raise IbConfigError([Problem(f"{folder}/{name}", 0, "-", "file is missing")])
    prof_doc, pol_doc, att_doc = docs["profiles.yaml"], docs["qualification.yaml"], docs["attribution.yaml"]
    policies = _policies(pol_doc)
    profiles, root, spread = _profiles(prof_doc)
    _cross_check(prof_doc, root, profiles, policies)
    attribution = _attribution(att_doc)
    problems = [p for d in docs.values() if d for p in d.problems]
    if problems:
        raise IbConfigError(problems)
    return IbConfig(
        version=_version([(n, texts[n]) for n in FILES if docs[n]]),
        profiles=profiles,
        default_profile=root["default"],
        assignments={str(k): v for k, v in (root.get("assignments") or {}).items()},
        policies=policies,
        spread=spread,
        conflicts=attribution.get("conflicts", "first_touch"),
        self_referral=attribution.get("self_referral", "refuse") == "allow",
        triggered_by=root.get("triggered_by", "auto"),
        referral_link=str(attribution.get("referral_link", "{code}")),
        show_deposit_amounts=attribution.get("show_deposit_amounts", False),
    )


_cache: dict[str, tuple[tuple, IbConfig]] = {}


def locate(rules_dir: str | Path) -> Path:
    """Return `<rules_dir>/policy/ib`, or that of an enclosing rules directory.

    `fxcrm rules test rules/ib` runs with the sub-directory as its rules directory;
    its IB configuration is still the one in rules/policy/ib.
    """
    return rules_api.locate(rules_dir, f"{IB_FOLDER}/{FILES[0]}").parent


def load(rules_dir: str | Path) -> IbConfig:
    """Return the validated configuration in `<rules_dir>/policy/ib`, re-read when a file changes."""
    directory = locate(rules_dir)
    stamp = tuple(rules_api.stamp(directory / n) for n in FILES)
    cached = _cache.get(str(directory))
    if cached and cached[0] == stamp:
        return cached[1]
    try:
        result = parse(directory)
    except IbConfigError as exc:
        if cached is None:
            raise
        # A broken edit never half-applies: the last valid configuration keeps running.
        log.error("IB configuration invalid, still using version %s:\n%s", cached[1].version, exc)
        _cache[str(directory)] = (stamp, cached[1])
        return cached[1]
    _cache[str(directory)] = (stamp, result)
    return result


def from_files(files) -> IbConfig:
    """Return the configuration among a version's files (`engine.rules.files.RuleFiles`),
    parsed once per version (the rules API's cache)."""
    return rules_api.per_version(files, IB_FOLDER, lambda: parse_texts(IB_FOLDER, _texts_of(files)))


def _texts_of(files) -> dict[str, str | None]:
    return {name: files.text(f"{IB_FOLDER}/{name}") for name in FILES}


def check_config(files) -> list[Problem]:
    """Return the problems of the IB configuration among `files` (activation checks it)."""
    if not files.exists(f"{IB_FOLDER}/{FILES[0]}"):
        return []
    try:
        parse_texts(IB_FOLDER, _texts_of(files))
    except IbConfigError as exc:
        return exc.problems
    return []
