"""The audit page: the latest manual changes, filterable by target."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from sqlalchemy import select

from engine.audit.models import AuditEntry
from engine.db import unit_of_work
from engine.values import iso
from web import database
from web.auth import requires

bp = Blueprint("audit", __name__)


@bp.get("/audit")
@requires("audit.view")
def audit():
    """List the newest audit entries (optionally of one target type or id, or one actor)."""
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(200)
    for column, arg in (
        (AuditEntry.target_type, "target_type"),
        (AuditEntry.target_id, "target_id"),
        (AuditEntry.actor, "actor"),
    ):
        if request.args.get(arg):
            stmt = stmt.where(column == request.args[arg].strip())
    with unit_of_work(database()) as s:
        rows = [
            {
                "at": iso(e.at),
                "actor": e.actor,
                "action": e.action,
                "target": f"{e.target_type}/{e.target_id}",
                "target_type": e.target_type,
                "target_id": e.target_id,
                "reason": e.reason,
            }
            for e in s.scalars(stmt)
        ]
    return render_template("audit.html", rows=rows, args=request.args)
