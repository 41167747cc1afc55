"""Rule actions of the KYC domain: set the client's status or risk category, with a reason."""

from __future__ import annotations

from marshmallow import fields, validate

from engine.clients.models import STATUSES as CLIENT_STATUSES
from engine.rules.actions import Params, TemplateText, action, outcome

RISK_CATEGORIES = ("low", "medium", "high")


class SetStatusParams(Params):
    status = fields.Str(required=True, validate=validate.OneOf(CLIENT_STATUSES))
    reason = TemplateText(required=True)


class SetRiskParams(Params):
    category = fields.Str(required=True, validate=validate.OneOf(RISK_CATEGORIES))
    reason = TemplateText(required=True)


@action("set_status", SetStatusParams, templates=("reason",), sets="status")
def _set_status(run, p: dict, key: str) -> str:
    """Set the client's status, with a reason."""
    from engine.kyc import service as kyc_service

    change = kyc_service.set_status(
        run.session,
        client=run.client,
        status=p["status"],
        reason=run.text(p["reason"]),
        actor=run.actor,
        rule_id=run.rule.id,
    )
    return f"status {p['status']}" if change else f"status unchanged ({run.client.status})"


@action("set_risk", SetRiskParams, templates=("reason",), sets="category")
def _set_risk(run, p: dict, key: str) -> str:
    """Set the client's risk category, with a reason."""
    from engine.kyc import service as kyc_service

    changed = kyc_service.set_risk(
        run.session, client=run.client, category=p["category"], reason=run.text(p["reason"]), actor=run.actor
    )
    return f"risk {p['category']}" if changed else "risk unchanged"


@outcome("status")
def _status_outcomes(session, actions: list) -> list[str]:
    """The statuses rules set (changes only), for rule tests."""
    return [
        a.params["status"] for a in actions if a.action == "set_status" and not a.result.startswith("status unchanged")
    ]


@outcome("risk")
def _risk_outcomes(session, actions: list) -> list[str]:
    """The risk categories rules set (changes only), for rule tests."""
    return [a.params["category"] for a in actions if a.action == "set_risk" and a.result != "risk unchanged"]
