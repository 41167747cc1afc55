"""Rule action of the scores domain: add points with a reason to a named score of the client.

When `policy/scores.yaml` gives the score risk thresholds, the client's risk category
follows the new total (through the KYC domain's `set_risk`, with the score as reason).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from marshmallow import fields, validate
from sqlalchemy.orm import Session

from engine.rules.actions import Outcome, Params, TemplateText, action, compared, outcome
from engine.scores.service import MAX_POINTS

if TYPE_CHECKING:
    from engine.rules.api import Run, RuleAction

SCORE_NAME = validate.Regexp(r"^[a-z][a-z0-9_]*$", error="must be a score name like aml_risk")


class ScoreParams(Params):
    name = fields.Str(required=True, validate=SCORE_NAME)
    points = fields.Integer(
        required=True,
        strict=True,
        validate=[validate.Range(-MAX_POINTS, MAX_POINTS), validate.NoneOf((0,), error="must not be zero")],
    )
    reason = TemplateText(required=True)


@action("score", ScoreParams, templates=("reason",), creates={"name": "score"})
def _score(run: Run, p: dict[str, Any], key: str) -> str:
    """Add points with a reason to a named score of the client (once per trigger)."""
    from engine.kyc import service as kyc_service
    from engine.scores import policy, service

    added = service.add(
        run.session,
        client_ref=run.client.ref,
        name=p["name"],
        points=p["points"],
        reason=run.text(p["reason"]),
        trigger_key=key,
        rule_id=run.rule.id,
        ruleset_version=run.ruleset.version,
    )
    score = service.total(run.session, run.client.ref, p["name"])
    if added is None:
        return f"{p['name']} unchanged ({score})"
    result = f"{p['name']} {p['points']:+d} = {score}"
    declared = policy.for_session(run.session).get(p["name"])
    category = declared.risk_category(score) if declared else None
    if (
        declared
        and category
        and kyc_service.set_risk(
            run.session, client=run.client, category=category, reason=declared.explain(score), actor=run.actor
        )
    ):
        result += f"; risk {category}"
    return result


@outcome("score")
def _score_outcomes(session: Session, actions: list[RuleAction]) -> list[str]:
    """What each contribution did, as `aml_risk +20 = 40; risk medium` (the new total, and the
    risk category when it changed); replays add nothing and are left out. For rule tests."""
    return [
        a.result for a in actions if a.action == "score" and a.result is not None and " unchanged (" not in a.result
    ]


@compared("score")
def _compared_scores(session: Session) -> list[Outcome]:
    """The points rules added to clients' scores, for backtests (the totals follow from them)."""
    from sqlalchemy import select

    from engine.scores.models import ScoreContribution

    return [
        Outcome(
            c.client_ref, "score", c.trigger_key, c.rule_id, {"score": c.name, "points": c.points, "reason": c.reason}
        )
        for c in session.scalars(select(ScoreContribution).order_by(ScoreContribution.id))
    ]
