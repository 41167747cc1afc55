"""A completed deposit earns one point per whole unit of its amount."""

from decimal import Decimal

from engine.projections import projection
from tests.plugins.loyalty.models import LoyaltyPoints


@projection("payment.deposit_completed")
def earn_points(session, event, client):
    """Record the deposit's points."""
    points = int(Decimal(str(event.data["amount"])))
    session.add(LoyaltyPoints(client_ref=client.ref, points=points, kind="deposit"))
    session.flush()
