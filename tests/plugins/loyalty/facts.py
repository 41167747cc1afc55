"""The client's loyalty points, for rule conditions (`client.loyalty.points`)."""

from sqlalchemy import func, select

from engine.facts import fact
from tests.plugins.loyalty.models import LoyaltyPoints


@fact("loyalty.points", "integer")
def points(session, client):
    """Points earned by the client's completed deposits."""
    return session.scalar(
        select(func.coalesce(func.sum(LoyaltyPoints.points), 0)).where(
            LoyaltyPoints.client_ref == client.ref, LoyaltyPoints.kind == "deposit"
        )
    )
