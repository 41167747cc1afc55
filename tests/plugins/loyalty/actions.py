"""The rule action `loyalty_badge`: award the client a named badge (once per trigger)."""

from marshmallow import fields

from engine.rules.actions import NAME, Params, action
from tests.plugins.loyalty.models import LoyaltyPoints


class BadgeParams(Params):
    badge = fields.Str(required=True, validate=NAME)


@action("loyalty_badge", BadgeParams, shorthand="badge")
def award_badge(run, p: dict, key: str) -> str:
    """Award the client a loyalty badge."""
    run.session.add(LoyaltyPoints(client_ref=run.client.ref, points=0, kind=f"badge:{p['badge']}"))
    return f"badge {p['badge']}"
