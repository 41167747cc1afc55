"""Rule actions of the KYC domain: set the client's status or risk category, with a reason."""

from __future__ import annotations

from dataclasses import dataclass

from marshmallow import fields, validate

from engine.clients.models import STATUSES as CLIENT_STATUSES
from engine.rules.actions import Params, TemplateText, action, action_form, outcome

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


# Set-based form of set_status (engine.rules.batch): kyc_service.set_status for a rule (a
# rule's change is not announced as an event), on the client in memory; the status
# history rows are added at the round's write, in the order the round made them.


@dataclass
class _StatusDecision:
    status: str
    reason: str
    change: object = None  # the StatusChange made, or None: unchanged
    unchanged: str = ""  # the status it stayed in


def _decide_status(state, call) -> _StatusDecision | None:
    status, reason = call.params["status"], call.text(call.params["reason"]).strip()
    if status not in CLIENT_STATUSES or not reason:
        return None  # the per-event path raises: it isolates the event
    return _StatusDecision(status, reason)


def _apply_status(changes: list, call, decision: _StatusDecision) -> bool:
    from engine.kyc import service as kyc_service

    decision.change = kyc_service.status_change(call.client, decision.status, decision.reason, call.actor, call.rule.id)
    if decision.change is None:
        decision.unchanged = call.client.status
    else:
        changes.append(decision.change)
    return False


def _write_status(session, changes: list) -> None:
    session.add_all(changes)


action_form(
    "set_status",
    changes_client=True,
    client_columns=("status", "status_reason", "status_changed_at", "funnel_stage"),  # service.status_change
    load=lambda session, calls, types: [],
    decide=_decide_status,
    apply=_apply_status,
    write=_write_status,
    result=lambda changes, d: f"status {d.status}" if d.change is not None else f"status unchanged ({d.unchanged})",
)


# Set-based form of set_risk (engine.rules.batch): the same test and change as
# kyc_service.set_risk for a rule (no audit record: the rule action row is the record),
# on the client in memory; the flush writes the clients row. Later events of the round
# read the new category (the rules form reads clients columns live).


@dataclass
class _RiskDecision:
    category: str
    reason: str
    changed: bool = False


def _decide_risk(state, call) -> _RiskDecision | None:
    category, reason = call.params["category"], call.text(call.params["reason"]).strip()
    if category not in RISK_CATEGORIES or not reason:
        return None  # the per-event path raises: it isolates the event
    return _RiskDecision(category, reason)


def _apply_risk(state, call, decision: _RiskDecision) -> bool:
    client = call.client
    decision.changed = (client.risk_category, client.risk_reason) != (decision.category, decision.reason)
    if decision.changed:
        client.risk_category, client.risk_reason = decision.category, decision.reason
    return False


action_form(
    "set_risk",
    changes_client=True,
    client_columns=("risk_category", "risk_reason"),
    load=lambda session, calls, types: None,
    decide=_decide_risk,
    apply=_apply_risk,
    write=lambda session, state: None,
    result=lambda state, decision: f"risk {decision.category}" if decision.changed else "risk unchanged",
)


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
