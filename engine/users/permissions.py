"""The permission matrix: which role may do what, and which task queues each role sees.

This table is the single source of truth; routes and CLI commands ask `can()`.
Partners (IB users) see no staff pages: their own referred clients and commissions
are in the partner area (`web/partner.py`), scoped to their IB.
"""

from __future__ import annotations

ALL_QUEUES = ("compliance", "finance", "support", "sales", "ib_ops")
STAFF = frozenset({"admin", "compliance", "finance", "support", "sales", "ib_ops"})

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
    "tasks.view": STAFF,
    "tasks.work": STAFF,  # claim, release own, wait, comment, resolve, dismiss
    "tasks.assign": STAFF,  # assign, reassign, release someone else's
    "tasks.bulk": STAFF,
    "tasks.create": STAFF,  # manual tasks (support tickets)
    "clients.view": STAFF,
    "clients.note": STAFF,  # notes on a client (not tied to a task)
    "documents.review": {"admin", "compliance"},  # approve / reject KYC documents
    "documents.view": {"admin", "compliance"},  # open a client's document files (audited)
    "documents.upload": {"admin", "compliance", "support"},  # add a file a client sent by e-mail
    "documents.request": {"admin", "compliance", "support"},
    "kyc.link": {"admin", "compliance"},  # link a provider's applicant to a client
    # Which step each role decides is the chain's `approvers` (rules/policy/withdrawals.yaml,
    # enforced by the withdrawals service); this is their union, checked by
    # tests/payments/test_withdrawal_roles.py. Maker-checker: see MAKER_CHECKER.
    "withdrawals.approve": {"admin", "compliance", "finance"},
    "withdrawals.view": {"admin", "compliance", "finance", "support"},  # support reads only
    "wires.view": {"admin", "finance", "compliance"},  # compliance reads (AML), does not decide
    "wires.match": {"admin", "finance"},  # match, return, upload camt.054 files
    "rules.view": {"admin", "compliance"},
    "rules.activate": {"admin", "compliance"},
    "reports.view": {"admin", "compliance", "finance", "sales", "ib_ops", "partner"},
    "audit.view": {"admin", "compliance"},
    "users.manage": {"admin"},
}

# Approvals that need two people: the one who proposes (maker) cannot confirm (checker).
MAKER_CHECKER = frozenset({"withdrawals.approve"})


def can(role: str | None, action: str) -> bool:
    """Return whether `role` may perform `action` (unknown actions are refused)."""
    return role is not None and role in ACTIONS.get(action, ())


def queues_for(role: str | None) -> tuple[str, ...]:
    """Return the task queues `role` may see."""
    return QUEUES.get(role or "", ())


def can_see_queue(role: str | None, queue: str) -> bool:
    """Return whether `role` may see tasks of `queue` (admin sees every queue)."""
    return role == "admin" or queue in queues_for(role)


def can_check(role: str | None, action: str, maker: str | None, checker: str) -> bool:
    """Return whether `checker` may confirm an approval that `maker` proposed."""
    return can(role, action) and (action not in MAKER_CHECKER or (maker or "") != checker)
