"""The actions staff take on a task, shared by the pages and the JSON API.

Each action names the permission it needs and a handler(session, user, task, form).
Domain actions (KYC decisions, withdrawal approvals) call the domain services
when those packages exist; a task offers them only when it concerns that thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from engine.errors import Conflict
from engine.clients import service as clients_service
from engine.plugins import import_optional
from engine.tasks import service as tasks_service
from engine.tasks.subjects import subject_of
from engine.users import permissions


class ActionError(ValueError):
    """The action cannot be done (`status` is the HTTP status to answer with)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Action:
    name: str
    label: str
    permission: str
    handler: Callable
    fields: tuple[str, ...] = ()
    domain: bool = False


def _claim(s, user, task, form):
    tasks_service.claim(s, task, actor=user.email)


def _release(s, user, task, form):
    force = task.assignee not in (None, user.email) and user.can("tasks.assign")
    tasks_service.release(s, task, actor=user.email, force=force)


def staff_user(session, email: str):
    """Return the active staff user with this email, or raise ActionError."""
    from engine.users import service as users_service

    email = (email or "").strip().lower()
    target = users_service.get_by_email(session, email) if email else None
    if target is None or not target.active or target.role == "partner":
        raise ActionError(f"assignee: no active staff user {email!r}")
    return target


def _assign(s, user, task, form):
    email = (form.get("assignee") or "").strip().lower()
    target = staff_user(s, email)
    if not permissions.can_see_queue(target.role, task.queue):
        raise ActionError(f"assignee: {email} ({target.role}) cannot see the {task.queue} queue")
    tasks_service.assign(s, task, actor=user.email, assignee=email)


def _wait(s, user, task, form):
    tasks_service.wait(s, task, actor=user.email, waiting_for=form.get("waiting_for", ""))


def _resume(s, user, task, form):
    tasks_service.resume(s, task, actor=user.email)


def _resolve(s, user, task, form):
    tasks_service.resolve(s, task, actor=user.email, resolution=form.get("resolution", ""))


def _dismiss(s, user, task, form):
    tasks_service.dismiss(s, task, actor=user.email, reason=form.get("reason", ""))


def _comment(s, user, task, form):
    tasks_service.comment(s, task, author=user.email, body=form.get("body", ""))


def _client(s, task):
    client = clients_service.get_by_ref(s, task.client_ref) if task.client_ref else None
    if client is None:
        raise ActionError(f"task {task.id} has no client to decide on")
    return client


def _kyc(name: str):
    module = import_optional("engine.kyc.review")
    if module is None:
        raise ActionError("KYC decisions are not available (engine.kyc is not installed)", 501)
    return getattr(module, name)


def _kyc_approve(s, user, task, form):
    _kyc("approve")(
        s,
        client=_client(s, task),
        actor=user.email,
        reason=form.get("reason") or None,
        task=task,
        override_reason=form.get("override_reason") or None,
        expected_status=_seen_status(form),
    )


def _kyc_reject(s, user, task, form):
    _kyc("reject")(
        s,
        client=_client(s, task),
        actor=user.email,
        reason_code=form.get("reason_code", ""),
        note=form.get("note"),
        task=task,
        expected_status=_seen_status(form),
    )


def _request_documents(s, user, task, form):
    types = form.getlist("document_types") if hasattr(form, "getlist") else form.get("document_types") or []
    _kyc("request_documents")(
        s,
        client=_client(s, task),
        actor=user.email,
        document_types=types,
        message=form.get("message", ""),
        task=task,
        expected_status=_seen_status(form),
    )


def _seen_status(form) -> str | None:
    """The client status the page showed (a hidden field): a decision made on a status
    that changed meanwhile (a colleague decided first) is refused with 409."""
    return (form.get("client_status") or "").strip() or None


def withdrawal_id(task) -> str | None:
    """Return the withdrawal a task is about (its typed subject, engine.tasks.subjects)."""
    found = subject_of(task, "withdrawal")
    return found.id if found else None


def _withdrawals():
    module = import_optional("engine.payments.withdrawals")
    if module is None:
        raise ActionError("withdrawal approvals are not available (engine.payments is not installed)", 501)
    return module


def _withdrawal_decide(decision: str):
    def handler(s, user, task, form):
        wid = withdrawal_id(task)
        if not wid:
            raise ActionError(f"task {task.id} is not about a withdrawal")
        module = _withdrawals()
        if decision == "approve":
            module.approve(s, withdrawal_id=wid, actor=user.email, role=user.role, note=form.get("note") or None)
        else:
            module.reject(s, withdrawal_id=wid, actor=user.email, role=user.role, reason=form.get("reason", ""))
        if not _withdrawal_pending(s, module, wid):
            tasks_service.close_if_open(s, task, actor=user.email, resolution=f"withdrawal {wid} {decision}d")

    return handler


def _withdrawal_pending(s, module, wid: str) -> bool:
    withdrawal = module.get(s, wid)
    return withdrawal is not None and getattr(withdrawal, "status", "") in ("pending", "requested")


ACTIONS = {
    a.name: a
    for a in (
        Action("claim", "Claim", "tasks.work", _claim),
        Action("release", "Release", "tasks.work", _release),
        Action("assign", "Assign", "tasks.assign", _assign, ("assignee",)),
        Action("wait", "Wait", "tasks.work", _wait, ("waiting_for",)),
        Action("resume", "Resume", "tasks.work", _resume),
        Action("resolve", "Resolve", "tasks.work", _resolve, ("resolution",)),
        Action("dismiss", "Dismiss", "tasks.work", _dismiss, ("reason",)),
        Action("comment", "Comment", "tasks.work", _comment, ("body",)),
        Action("kyc_approve", "Approve KYC", "documents.review", _kyc_approve, ("reason", "override_reason"), True),
        Action("kyc_reject", "Reject KYC", "documents.review", _kyc_reject, ("reason_code", "note"), True),
        Action(
            "request_documents",
            "Request documents",
            "documents.request",
            _request_documents,
            ("document_types", "message"),
            True,
        ),
        Action(
            "withdrawal_approve",
            "Approve withdrawal",
            "withdrawals.approve",
            _withdrawal_decide("approve"),
            ("note",),
            True,
        ),
        Action(
            "withdrawal_reject",
            "Reject withdrawal",
            "withdrawals.approve",
            _withdrawal_decide("reject"),
            ("reason",),
            True,
        ),
    )
}


def perform(session, user, task, name: str, form) -> None:
    """Run action `name` on `task` for `user`, or raise ActionError saying why not."""
    action = ACTIONS.get(name)
    if action is None:
        raise ActionError(f"unknown action {name!r}; use one of {', '.join(ACTIONS)}", 404)
    if not user.can(action.permission):
        raise ActionError(f"your role ({user.role}) may not {action.label.lower()}", 403)
    if action.domain and name not in offered(user, task, session):
        raise ActionError(f"{action.label} does not apply to task {task.id}", 409)
    try:
        if action.domain:
            # The client first, then the task (the domain services lock the client, then
            # the withdrawal or document, then close the task): one lock order, no deadlock.
            if task.client_ref:
                clients_service.lock_by_ref(session, task.client_ref)
            tasks_service.check_holder(tasks_service.lock(session, task), user.email)
        action.handler(session, user, task, form)
    except ActionError:
        raise
    except (ValueError, Conflict) as exc:  # every domain error (TaskError, KycError...) is one
        # Someone else decided first (task closed or held, withdrawal step decided): 409.
        raise ActionError(str(exc), 409 if isinstance(exc, Conflict) else 400) from None


def offered(user, task, session=None) -> list[str]:
    """Return the domain actions this task allows that the user's role may take."""
    names = []
    if task.is_open and task.client_ref and task.queue == "compliance" and import_optional("engine.kyc.review"):
        names += ["kyc_approve", "kyc_reject", "request_documents"]
    if task.is_open and withdrawal_id(task) and import_optional("engine.payments.withdrawals"):
        names += ["withdrawal_approve", "withdrawal_reject"]
    return [n for n in names if user.can(ACTIONS[n].permission)]


def run_bulk(session, user, op: str, ids: list[int], params: dict) -> dict[int, str]:
    """Apply a bulk operation for `user` to the tasks it may see; return per-task results."""
    from engine.tasks import bulk as bulk_service

    if op == "assign" and not user.can("tasks.assign"):
        raise ActionError(f"your role ({user.role}) may not assign tasks", 403)
    target = staff_user(session, params.get("assignee", "")) if op == "assign" else None

    def visible(task) -> bool:
        return permissions.can_see_queue(user.role, task.queue) and (
            target is None or permissions.can_see_queue(target.role, task.queue)
        )

    try:
        return bulk_service.run(session, ids=ids, op=op, actor=user.email, visible=visible, **params)
    except tasks_service.TaskError as exc:
        raise ActionError(str(exc)) from None
