"""IB facts for rule conditions, read from the IB projections (kept for every client).

Example: `client.ib exists`, `client.trades.lots(held_at_least=60s) >= 2`,
`client.ib.first_deposit >= 200 USD`, `client.ib.chargebacks.count == 0`,
`client.ib.qualified == true` (the IB profile's CPA policy is met).
"""

from __future__ import annotations

from decimal import Decimal

from engine.facts import as_of, batch_fact, fact
from engine.ib import commissions, qualification, tree
from engine.ib.models import REJECTED
from engine.ib.service import config_for
from engine.ib.qualification import chargebacks_now, first_deposit, lots_policy
from engine.values import Money


def _stats(session, client):
    return tree.stats_for(session, client.ref)


def _referred(session, client):
    stats = tree.stats_for(session, client.ref)
    return stats if stats is not None and stats.ib_id is not None else None


@fact("ib", "string")
def ib(session, client):
    """The id of the IB the client is attributed to (missing when none)."""
    stats = _referred(session, client)
    return stats.ib_id if stats else None


@batch_fact("ib")
def ib_of_clients(session, refs: list[str]) -> dict:
    """`ib` for many clients in one query (no batched event type attributes a client)."""
    from sqlalchemy import select
    from engine.ib.models import IbClientStats

    found = {
        ref: ib_id
        for ref, ib_id in session.execute(
            select(IbClientStats.client_ref, IbClientStats.ib_id).where(IbClientStats.client_ref.in_(refs))
        )
    }
    return {ref: found.get(ref) for ref in refs}


@fact("ib.chain", "list")
def ib_chain(session, client):
    """The client's IB and its ancestors, nearest first."""
    stats = _referred(session, client)
    return [i.ib_id for i in tree.chain(session, stats.ib_id)] if stats else []


@fact("ib.parent", "string")
def ib_parent(session, client):
    """The id of the parent of the client's IB, if any."""
    stats = _referred(session, client)
    found = tree.get(session, stats.ib_id) if stats else None
    return found.parent_ib_id if found else None


@fact("ib.profile", "string")
def ib_profile(session, client):
    """The commission profile of the client's IB."""
    stats = _referred(session, client)
    return config_for(session).profile_for(stats.ib_id).name if stats else None


LOTS_PARAMS = {"held_at_least": "duration", "within": "duration"}


@fact("trades.lots", "decimal", params=LOTS_PARAMS, cost="reads the client's closed trades")
@fact("ib.lots", "decimal", params=LOTS_PARAMS, cost="reads the client's closed trades")
def ib_lots(session, client, held_at_least=None, within=None):
    """Lots the client traded in closed trades; trades held less than `held_at_least`, or
    closed later than `within` after registration, do not count."""
    stats = _stats(session, client)
    if stats is None:
        return Decimal(0)
    policy = lots_policy(held_at_least, within)
    return qualification.counted_lots(session, client.ref, policy, stats.registered_at, closed_by=as_of())


@fact("ib.first_deposit", "money", cost="reads the client's deposits")
def ib_first_deposit(session, client):
    """The referred client's first completed deposit."""
    return first_deposit(qualification.deposits(session, client.ref, as_of=as_of()))


@fact("ib.deposits.sum", "money", params={"currency": "currency"}, cost="reads the client's deposits")
def ib_deposits_sum(session, client, currency=None):
    """Completed deposits not refunded or charged back (default currency: the first deposit's)."""
    moment = as_of()
    moves = qualification.deposits(session, client.ref, as_of=moment)
    code = str(currency).upper() if currency else (moves[0].currency if moves else None)
    if code is None:
        return None
    return Money(
        sum((m.amount for m in moves if qualification.live_at(m, moment) and m.currency == code), Decimal(0)), code
    )


@fact("ib.chargebacks.count", "integer")
def ib_chargebacks(session, client):
    """How many of the referred client's deposits were charged back."""
    moment = as_of()
    if moment is not None:
        return qualification.chargebacks_by(session, client.ref, moment)
    return chargebacks_now(_stats(session, client))


@fact("ib.kyc_approved", "boolean")
def ib_kyc_approved(session, client):
    """Whether the referred client's KYC is approved."""
    stats = _stats(session, client)
    moment = as_of()
    return bool(stats and stats.kyc_approved_at and (moment is None or stats.kyc_approved_at <= moment))


@fact("ib.qualified", "boolean", cost="reads the client's deposits and closed trades")
def ib_qualified(session, client):
    """Whether the client meets the CPA qualification policy of its IB's profile."""
    stats = _referred(session, client)
    config = config_for(session)
    profile = config.profile_for(stats.ib_id) if stats else None
    if profile is None or profile.cpa_policy is None:
        return False
    return qualification.qualifies(session, config.policies[profile.cpa_policy], stats)


@fact("ib.cpa.recorded", "boolean")
def ib_cpa_recorded(session, client):
    """Whether a CPA was recorded for the client (and not rejected)."""
    record = commissions.get_by_key(session, f"cpa:{client.ref}")
    return record is not None and record.status != REJECTED
