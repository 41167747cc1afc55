"""Policy mode: check the YAML qualification policies after each activity, and claw back CPAs.

After every deposit, trade and KYC result of a referred client the projections call
`after_activity`, which checks the YAML policies for each commission type the rules
do not decide (`triggered_by` in profiles.yaml: `auto` asks the active ruleset,
`policy` or `rules` force one side). Either way `record_commission` keys each record
by what it pays for, so nothing is paid twice even if both ran.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from engine.events.models import Event
from engine.ib import catchup, commissions, qualification, tree
from engine.ib.config import IbConfig, Profile
from engine.ib.models import REJECTED, IbClientStats
from engine.ib.service import PER_TRADE, config_for, record_commission, types_paid_by_rules


def policy_explanation(config: IbConfig, rule: str, event: Event | None, extra: dict) -> dict:
    return {
        "rule": rule,
        "ruleset_version": config.version,
        "event_ids": [event.event_id] if event is not None else [],
        "triggered_by": "policy",
        **extra,
    }


def check_cpa(session: Session, config: IbConfig, profile: Profile, stats: IbClientStats, event: Event | None) -> None:
    """Record the CPA once the client meets the profile's CPA policy."""
    if profile.cpa is None or commissions.get_by_key(session, f"cpa:{stats.client_ref}"):
        return
    policy = config.policies[profile.cpa_policy]
    if not qualification.qualifies(session, policy, stats):
        return  # the trade-by-trade explanation is built only once, when the CPA is earned
    result = qualification.evaluate(
        policy,
        stats,
        stats.registered_at,
        qualification.deposits(session, stats.client_ref),
        qualification.trades(session, stats.client_ref),
    )
    if result.qualified:
        record_commission(
            session,
            client=stats.client_ref,
            type="cpa",
            event=event,
            actor="policy",
            explanation=policy_explanation(
                config, f"policy:{policy.name}", event, {"qualification": result.explanation()}
            ),
        )


def earns_for_trade(stats: IbClientStats, event: Event) -> bool:
    """Whether a trade closed at the event's time earns the client's IB anything."""
    return not (stats.attributed_at and event.occurred_at < stats.attributed_at)  # before: nothing


def policy_trade_types(by_rules: frozenset[str]) -> list[str]:
    """The per-trade commission types the profiles' policies pay (the rules pay the others)."""
    return [t for t in PER_TRADE if t not in by_rules]


def trade_commissions(
    session: Session, config: IbConfig, profile: Profile, stats: IbClientStats, event: Event, types
) -> None:
    """Record the per-trade commissions the profile pays for a trade closed while attributed."""
    if not earns_for_trade(stats, event):
        return
    for type in types:
        record_commission(
            session,
            client=stats.client_ref,
            type=type,
            event=event,
            once_per="trade",
            actor="policy",
            explanation=policy_explanation(config, f"profile:{profile.name}", event, {}),
        )


def after_activity(session: Session, client_ref: str, event: Event) -> None:
    """In policy mode, check what a referred client's new activity earns its IB."""
    config = config_for(session)
    stats = tree.stats_for(session, client_ref)
    if stats is None or stats.ib_id is None:
        return
    profile, by_rules = config.profile_for(stats.ib_id), types_paid_by_rules(session, config)
    if event.type == "trade.closed":
        trade_commissions(session, config, profile, stats, event, policy_trade_types(by_rules))
    if "cpa" not in by_rules:
        check_cpa(session, config, profile, stats, event)


def clawback(session: Session, client_ref: str, payment_id: str, event: Event) -> None:
    """Reverse the CPA if a deposit it counted is refunded or charged back within the window."""
    cpa = commissions.get_by_key(session, f"cpa:{client_ref}")
    if cpa is None or cpa.status == REJECTED:
        return
    if payment_id not in {d["payment_id"] for d in cpa.explanation.get("deposits") or ()}:
        return
    config = config_for(session)
    profile = config.profiles.get(cpa.profile) or config.profiles[config.default_profile]
    if profile.clawback is None or event.occurred_at - cpa.earned_at > profile.clawback:
        return
    what = "charged back" if event.type.endswith("charged_back") else "refunded"
    window = qualification.seconds_text(profile.clawback.total_seconds())
    commissions.reverse(
        session,
        cpa,
        actor="system",
        at=event.occurred_at,
        reason=f"qualifying deposit {payment_id} {what} within the {window} clawback window",
        detail={"event_ids": [event.event_id], "rule": f"clawback:{profile.name}", "ruleset_version": config.version},
    )


def after_attribution(session: Session, client_ref: str, event: Event | None = None) -> None:
    """Catch up on what a newly attributed client's history earns its IB (rules and policies)."""
    config = config_for(session)
    stats = tree.stats_for(session, client_ref)
    catchup.rule_commissions(session, stats)
    profile, by_rules = config.profile_for(stats.ib_id), types_paid_by_rules(session, config)
    per_trade = policy_trade_types(by_rules)
    if per_trade and stats.attributed_at is not None:
        for trade_event in catchup.earlier_events(session, stats, {"trade.closed"}):
            trade_commissions(session, config, profile, stats, trade_event, per_trade)
    if "cpa" not in by_rules:
        check_cpa(session, config, profile, stats, event)
    # In order, a refund or chargeback processed before the attribution would have come
    # after the CPA it reverses: give it its clawback now (a reversal is made once).
    for reversal in catchup.reversals_since(session, stats):
        clawback(session, client_ref, reversal.data["payment_id"], reversal)
