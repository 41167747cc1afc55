"""Rules mode under late delivery: what a client's earlier events earn once its IB is known.

Events of different clients are processed independently, so a referred client's
trades (or the deposit that qualifies it for a CPA) may be processed before the
event that attributes it: its own late registration, an `ib.referral_attributed`, or
the IB's registration (another client's event). In-order processing would have run
the active ruleset's `commission` rules on those events with the IB known. When the
attribution arrives, `rule_commissions` runs exactly those rules on the client's
processed events since the attribution time, oldest first, each with the facts as of
that event (engine.facts.AS_OF: lots closed, deposits completed, chargebacks and KYC
approval by then), so the CPA is earned at the event that qualified the client, and a
later chargeback neither stops it nor goes unseen: `clawbacks` then replays the
client's refunds and chargebacks since the attribution, as in-order delivery would have
applied them after the CPA. Each rule action's key (trigger and rule) and each
commission's key make it once.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clients.models import Client
from engine.events.models import PROCESSED, Event
from engine.facts import AS_OF
from engine.ib.models import IbClientStats


def commission_rules(ruleset) -> list:
    """Return the immediate rules of `ruleset` that record a commission."""
    return [
        rule
        for rule in ruleset.rules
        if rule.after is None and any(action.name == "commission" for action in rule.actions)
    ]


def earlier_events(session: Session, stats: IbClientStats, types: set[str]) -> list[Event]:
    """Return the client's events of `types` applied since its attribution, oldest first.

    The processor marks each event processed as it applies it, so this includes events
    applied earlier in the same transaction.
    """
    return list(
        session.scalars(
            select(Event)
            .where(
                Event.client_ref == stats.client_ref,
                Event.type.in_(sorted(types)),
                Event.status == PROCESSED,
                Event.occurred_at >= stats.attributed_at,
            )
            .order_by(Event.occurred_at, Event.seq)
        )
    )


def rule_commissions(session: Session, stats: IbClientStats) -> int:
    """Run the commission rules on a newly attributed client's earlier events; return how many acted."""
    from engine.rules.api import active_ruleset, fact_loader, run_rule_for_past_event

    ruleset = active_ruleset(session)
    rules = commission_rules(ruleset) if ruleset is not None else []
    if not rules or stats.attributed_at is None:
        return 0
    client = session.scalar(select(Client).where(Client.ref == stats.client_ref))
    acted = 0
    for event in earlier_events(session, stats, {t for rule in rules for t in rule.events}):
        token = AS_OF.set(event.occurred_at)
        try:
            facts = fact_loader(session, client, event.occurred_at)
            for rule in (r for r in rules if event.type in r.events):
                acted += run_rule_for_past_event(
                    session,
                    ruleset,
                    rule,
                    client,
                    event,
                    facts,
                    caught_up=f"attributed to {stats.ib_id} after this event was processed",
                )
        finally:
            AS_OF.reset(token)
    return acted


REVERSALS = {"payment.deposit_refunded", "payment.deposit_charged_back"}


def reversals_since(session: Session, stats: IbClientStats) -> list[Event]:
    """Return the client's refunds and chargebacks processed since its attribution, oldest first."""
    return earlier_events(session, stats, REVERSALS) if stats.attributed_at is not None else []
