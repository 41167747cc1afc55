"""Rule action of the IB domain: record a commission for the client's introducing broker."""

from __future__ import annotations

from collections.abc import Mapping

from marshmallow import fields, validate

from sqlalchemy import select

from engine.rules import api as rules_api
from engine.rules.actions import NAME, MoneyField, Outcome, Params, action, compared, known_names, outcome

PROFILES_FILE = "policy/ib/profiles.yaml"

COMMISSION_TYPES = ("cpa", "lot_rebate", "spread_share", "revshare")  # engine.ib.service.EARNED_TYPES


class CommissionParams(Params):
    type = fields.Str(required=True, validate=validate.OneOf(COMMISSION_TYPES))
    once_per = fields.Str(load_default="client", validate=validate.OneOf(("client", "event", "trade")))
    review = fields.Bool(load_default=False)
    profile = fields.Str(validate=NAME)
    amount = MoneyField()


@action("commission", CommissionParams, references={"profile": "commission profile"}, once_for=("type", "profile"))
def _commission(run, p: dict, key: str) -> str:
    """Record a commission for the client's IB."""
    from engine.ib import service as ib_service

    records = ib_service.record_commission(
        run.session,
        client=run.client,
        type=p["type"],
        explanation=run.explanation,
        event=run.event,
        once_per=p["once_per"],
        review=p["review"],
        profile=p.get("profile"),
        amount=p.get("amount"),
        actor=run.actor,
    )
    return f"commissions {', '.join(str(r.id) for r in records)}" if records else "no commission due"


@outcome("commissions")
def _commission_outcomes(session, actions: list) -> list[dict]:
    """The commissions rules recorded, for rule tests."""
    from engine.ib.models import IbCommission

    return [
        {
            "type": c.type,
            "rule": (c.explanation or {}).get("rule"),
            "review": c.status == "pending_review",
            "amount": f"{c.amount} {c.currency}",
        }
        for c in session.scalars(select(IbCommission).order_by(IbCommission.id))
    ]


@known_names("commission profile")
def _profile_names(config: Mapping[str, str]) -> set[str] | None:
    """The commission profiles of the ruleset's policy/ib/profiles.yaml; None when it has
    none or it cannot be read (the configuration check reports a broken one)."""
    text = config.get(PROFILES_FILE)
    if text is None:
        return None
    try:
        data = rules_api.read_document(PROFILES_FILE, text or "") or {}
        profiles = (data.get("commission_profiles") or {}).get("profiles")
    except (rules_api.PolicyError, AttributeError):
        return None
    return set(profiles) if isinstance(profiles, dict) else None


@compared("commission")
def _compared_commissions(session) -> list[Outcome]:
    """The commissions recorded (IB, type, level, amount; not their later review), for backtests."""
    from engine.ib.models import IbCommission

    return [
        Outcome(
            c.client_ref or c.ib_id,
            "commission",
            c.key,
            (c.explanation or {}).get("rule"),
            {"ib": c.ib_id, "type": c.type, "level": c.level, "amount": f"{c.amount} {c.currency}"},
            c.explanation,
        )
        for c in session.scalars(select(IbCommission).order_by(IbCommission.id))
    ]


def _register_form() -> None:
    from engine.ib import commission_batch as form
    from engine.rules.actions import action_form

    action_form(
        "commission",
        load=form.load,
        decide=form.decide,
        apply=form.apply,
        write=form.write,
        result=form.result,
        sees=form.sees,
        idle=form.idle,
    )


_register_form()
