"""Who may see which report, and what part of it (a partner: only its own IB)."""

from __future__ import annotations

from engine.reports.base import Report, Scope
from engine.users import permissions

# Roles per report, within those that have `reports.view`.
ROLES = {
    "funnel": {"admin", "compliance", "sales", "ib_ops"},
    "payments": {"admin", "compliance", "finance"},
    "ib": {"admin", "finance", "sales", "ib_ops", "partner"},
    "tasks": {"admin", "compliance", "finance", "sales", "ib_ops"},
}


class Forbidden(Exception):
    """The viewer may not see this report."""


def may_view(role: str | None, report: Report) -> bool:
    """Return whether `role` may open `report` at all."""
    return permissions.can(role, "reports.view") and role in ROLES.get(report.name, ())


def scope_for(role: str | None, ib_id: str | None, report: Report) -> Scope:
    """Return what `role` sees of `report` (a partner its own IB, staff their queues)."""
    if not may_view(role, report):
        raise Forbidden(f"role {role} may not see report {report.name}")
    if role == "partner":
        if not ib_id:
            raise Forbidden("this partner account is not linked to an IB")
        return Scope(ib_ids=frozenset({ib_id}), queues=frozenset())
    if role == "admin":
        return Scope()
    return Scope(queues=frozenset(permissions.queues_for(role)))
