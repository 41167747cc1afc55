"""The IB service: record commissions for a referred client (from rules or policies), clawbacks.

`record_commission` is the one entry point that creates earned commissions; the
rules engine's `commission` action and the policy evaluation of the projections
both call it, and its per-purpose keys make a second call a no-op.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import config as config_mod
from engine.clients.models import Client
from engine.events.models import Event
from engine.ib import commissions, qualification, tree
from engine.ib.config import IbConfig, Profile, from_files, load
from engine.ib.errors import IbError
from engine.ib.models import IbClientStats, IbCommission, IbTrade
from engine.ib.qualification import plain
from engine.values import Money, iso, utcnow

PER_TRADE = ("lot_rebate", "spread_share", "revshare")
EARNED_TYPES = ("cpa",) + PER_TRADE


def config_for(session: Session) -> IbConfig:
    """Return the IB configuration of the active ruleset version (or of the rules directory)."""
    from engine.rules.api import configured_rules_dir, version_files

    if session.info.get("database") is None:
        return load(config_mod.load().rules_dir)
    files = version_files(session)  # None: the active version carries no policy/
    return load(configured_rules_dir(session)) if files is None else from_files(files)


def types_paid_by_rules(session: Session, config: IbConfig) -> frozenset[str]:
    """Return the commission types the rules decide (the policies decide the others).

    `triggered_by: auto` (the default) asks the active ruleset: a type is the rules'
    when one of its rules has a `commission` action of that type.
    """
    if config.triggered_by != "auto":
        return frozenset(EARNED_TYPES) if config.triggered_by == "rules" else frozenset()
    if "ib_rule_types" not in session.info:  # the active ruleset is fixed for a transaction
        from engine.rules.api import active_ruleset

        ruleset = active_ruleset(session)
        found = {
            action.param("type")
            for rule in (ruleset.rules if ruleset else ())
            for action in rule.actions
            if action.name == "commission"
        }
        session.info["ib_rule_types"] = frozenset(EARNED_TYPES if "hybrid" in found else found)
    return session.info["ib_rule_types"]


def _given(name: str):
    """Return the value a rule test states for fact `name` (`given: {client: {ib: IB-7}}`)."""
    from engine.rules.api import given_fact

    return given_fact(name)


def introducing_ib(session: Session, client_ref: str) -> str | None:
    """Return the id of the IB the client is attributed to (in a rule test: as given)."""
    stats = tree.stats_for(session, client_ref)
    return stats.ib_id if stats is not None and stats.ib_id else _given("ib")


def chain_ids(session: Session, ib_id: str) -> list[str]:
    """Return `ib_id` and its ancestors' ids, nearest first (in a rule test: as given)."""
    given = _given("ib.chain")
    if given and given[0] == ib_id:
        return [str(i) for i in given]
    return [i.ib_id for i in tree.chain(session, ib_id)] or [ib_id]


def _ref(client: Client | str) -> str:
    return client if isinstance(client, str) else client.ref


def _trade_for(session: Session, client_ref: str, event: Event | None) -> IbTrade:
    if event is None or event.type != "trade.closed":
        raise IbError("a per-trade commission needs the trade.closed event that earned it")
    trade = session.scalar(
        select(IbTrade).where(
            IbTrade.client_ref == client_ref,
            IbTrade.account_id == event.data["account_id"],
            IbTrade.ticket == event.data["ticket"],
        )
    )
    if trade is None:
        raise IbError(f"trade {event.data['ticket']} of {client_ref} is not projected")
    return trade


def trade_amount(config: IbConfig, profile: Profile, type: str, trade: IbTrade) -> tuple[Decimal | None, str]:
    """Return what `trade` earns under `profile` for `type`, and how it was computed."""
    if type == "lot_rebate":
        per_lot, source = profile.rebate.for_symbol(trade.symbol) if profile.rebate else (None, "")
        if per_lot is None:
            return None, f"profile {profile.name} has no lot rebate for {trade.symbol}"
        return per_lot * trade.lots, f"{plain(trade.lots)} lots x {per_lot} {profile.currency} ({source})"
    spread, source = config.spread.for_symbol(trade.symbol)
    revenue = (spread or Decimal(0)) * trade.lots
    percent, what = profile.spread_share, "spread revenue"
    if type == "revshare":
        revenue, percent, what = revenue + abs(trade.fee or 0), profile.revshare, "spread revenue + fees"
    if percent is None:
        return None, f"profile {profile.name} has no {type}"
    return revenue * percent / 100, f"{percent}% of {what} {plain(revenue)} {profile.currency}"


def trade_counts(config: IbConfig, profile: Profile, stats: IbClientStats | None, trade: IbTrade) -> tuple[bool, str]:
    """Return whether the profile's trade policy lets `trade` earn, and why (`stats`: the
    client's IB row, needed when the profile has a trade policy)."""
    if profile.trade_policy is None:
        return True, "the profile counts every trade"
    assert stats is not None, "a trade policy reads the client's IB row"
    policy = config.policies[profile.trade_policy]
    result = qualification.evaluate(policy, stats, stats.registered_at, [], [trade])
    failed = [c["detail"] for c in result.checks if not c["ok"] and c["criterion"] != "total_lots_at_least"]
    counted, why = qualification.trade_verdict(policy, trade, stats.registered_at)
    return counted and not failed, "; ".join(failed + [why])


def _amount(config, profile, type, client_ref, trade, stats, amount):
    """Return (Money or None, computation text, detail dict, purpose key)."""
    if type == "cpa":
        value = amount or (Money(profile.cpa, profile.currency) if profile.cpa is not None else None)
        why = f"CPA of {value} from profile {profile.name}" if value else f"profile {profile.name} has no CPA"
        return value, why, {}, f"cpa:{client_ref}"
    detail = qualification.trade_dict(trade, True, "")
    key = f"{type}:{client_ref}:{trade.account_id}:{trade.ticket}"
    counted, reason = trade_counts(config, profile, stats, trade)
    detail.update(counted=counted, reason=reason)
    if not counted:
        return None, f"trade {trade.ticket} does not count: {reason}", {"trade": detail}, key
    value, why = trade_amount(config, profile, type, trade)
    return (Money(value, profile.currency) if value is not None else None), why, {"trade": detail}, key


def _deposits_before(ledger: commissions.Ledger, client_ref: str, at: datetime) -> list[dict]:
    return [
        {"payment_id": m.payment_id, "amount": plain(m.amount), "currency": m.currency, "at": iso(m.at)}
        for m in ledger.deposits(client_ref, at)
        if qualification.live_at(m, at)
    ]


def decide_commission(
    ledger: commissions.Ledger,
    config: IbConfig,
    prof: Profile,
    *,
    ib_id: str,
    client_ref: str,
    type: str,
    explanation: dict,
    trade: IbTrade | None = None,
    stats: IbClientStats | None = None,
    event: Event | None = None,
    once_per: str = "client",
    amount: Money | None = None,
    review: bool = True,
    actor: str = "rules",
) -> list[commissions.NewCommission]:
    """Decide what `client_ref`'s IB `ib_id` (and its parents, as overrides) earn: the base
    commission first, then its overrides; [] when nothing is due. Reads only `ledger`, so
    the per-event path (SQL) and the set-based path (group state) decide alike.
    `trade` is the closed trade a per-trade type pays for; `stats` the client's IB row."""
    value, why, detail, key = _amount(config, prof, type, client_ref, trade, stats, amount)
    if once_per == "event" and event is not None:
        key = f"{type}:{client_ref}:event:{event.source}:{event.event_id}"
    if value is None or ledger.exists(key):
        return []
    earned_at = event.occurred_at if event is not None else utcnow()
    raw = commissions.cents(value.amount)
    capped, notes = raw, [f"no caps: {value.currency} is not the profile's {prof.currency}"]
    if value.currency == prof.currency:  # caps are sums in the profile currency
        capped, notes = commissions.cap(ledger, prof, ib_id, client_ref, raw, earned_at)
    if capped <= 0:
        return []
    chain = ledger.chain(ib_id)
    full = {
        **explanation,
        **detail,
        "computation": why,
        "caps": notes,
        "profile": prof.name,
        "config_version": config.version,
        "ib_chain": chain,
        "deposits": _deposits_before(ledger, client_ref, earned_at),
        "event": event.envelope() if event is not None else None,
    }
    base = commissions.NewCommission(
        key=key,
        ib_id=ib_id,
        client_ref=client_ref,
        type=type,
        amount=capped,
        currency=value.currency,
        explanation=full,
        earned_at=earned_at,
        actor=actor,
        profile=prof.name,
        review=review,
    )
    return [base] + commissions.plan_overrides(ledger, config, base, chain[1:], actor=actor, review=review)


class _Ledger(commissions.SqlLedger):
    """The per-event ledger; in a rule test the IB chain is as given."""

    def chain(self, ib_id: str) -> list[str]:
        return chain_ids(self.session, ib_id)


def record_commission(
    session: Session,
    *,
    client: Client | str,
    type: str,
    explanation: dict,
    event: Event | None = None,
    once_per: str = "client",
    review: bool = True,
    profile: str | None = None,
    amount: Money | None = None,
    actor: str = "rules",
) -> list[IbCommission]:
    """Record what the client's IB (and its parents, as overrides) earn; return new records.

    `type` is cpa, lot_rebate, spread_share or revshare; per-trade types need the
    trade.closed `event`. `once_per` (client, trade or event) decides what one
    record pays for; a second call for the same thing returns []. A client with
    no IB, or a trade the profile does not count, records nothing.
    """
    client_ref = _ref(client)
    if isinstance(amount, dict):  # the rules action passes money as {"amount", "currency"}
        amount = Money(Decimal(amount["amount"]), amount["currency"])
    ib_id = introducing_ib(session, client_ref)
    if ib_id is None:
        return []
    config = config_for(session)
    if profile is not None and profile not in config.profiles:
        raise IbError(f"no commission profile {profile!r}")
    prof = config.profiles[profile] if profile else config.profile_for(ib_id)
    trade, stats = None, None
    if type in PER_TRADE:
        trade = _trade_for(session, client_ref, event)
        stats = tree.ensure_stats(session, client_ref) if prof.trade_policy is not None else None
    elif type != "cpa":
        raise IbError(f"unknown commission type {type!r} (types: {', '.join(EARNED_TYPES)})")
    decided = decide_commission(
        _Ledger(session),
        config,
        prof,
        ib_id=ib_id,
        client_ref=client_ref,
        type=type,
        explanation=explanation,
        trade=trade,
        stats=stats,
        event=event,
        once_per=once_per,
        amount=amount,
        review=review,
        actor=actor,
    )
    if not decided:
        return []
    base, made = commissions.write(session, decided[0])
    if not made:
        return []
    return [base] + [record for record, new in (commissions.write(session, o) for o in decided[1:]) if new]
