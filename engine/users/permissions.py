"""The permission matrix: which role may do what, and which task queues each role sees.

This table is the single source of truth; routes and CLI commands ask `can()`.
"""
from __future__ import annotations

ALL_QUEUES = ("compliance", "finance", "support", "sales", "ib_ops")

# Queues each role sees in the inbox.
QUEUES = {
    "admin": ALL_QUEUES,
    "compliance": ("compliance",),
    "finance": ("finance",),
    "support": ("support",),
    "sales": ("sales",),
    "ib_ops": ("ib_ops",),
    "partner": (),
}

# Actions per role.
ACTIONS = {
    "events.post": {"admin"},
    "tasks.view": {"admin", "compliance", "finance", "support", "sales", "ib_ops"},
    "tasks.work": {"admin", "compliance", "finance", "support", "sales", "ib_ops"},
    "tasks.create": {"admin", "compliance", "finance", "support", "sales", "ib_ops"},
    "clients.view": {"admin", "compliance", "finance", "support", "sales", "ib_ops"},
    "rules.view": {"admin", "compliance"},
    "rules.activate": {"admin", "compliance"},
    "reports.view": {"admin", "compliance", "finance", "sales", "ib_ops", "partner"},
    "audit.view": {"admin", "compliance"},
    "users.manage": {"admin"},
}


def can(role: str | None, action: str) -> bool:
    """Return whether `role` may perform `action` (unknown actions are refused)."""
    return role is not None and role in ACTIONS.get(action, ())


def queues_for(role: str | None) -> tuple[str, ...]:
    """Return the task queues `role` may see."""
    return QUEUES.get(role or "", ())


def can_see_queue(role: str | None, queue: str) -> bool:
    """Return whether `role` may see tasks of `queue` (admin sees every queue)."""
    return role == "admin" or queue in queues_for(role)
