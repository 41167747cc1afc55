"""Staff pages: task detail with its explanation and actions, and manual tasks."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from engine.clients import service as clients_service
from engine.db import unit_of_work
from engine.tasks import service as tasks_service
from engine.tasks import sla
from engine.users import permissions
from web import database
from web.auth import current_user, login_required, requires
from web import task_view
from web.security import has_endpoint
from web.task_actions import ACTIONS, ActionError, offered, perform, withdrawal_id
from web.viewhelpers import explanation_view, safe_next, profile_for, visible_task

bp = Blueprint("pages", __name__)


@bp.get("/")
@login_required
def index():
    """Send staff to the inbox and a partner to its IB; show others what they may open."""
    if current_user().can("tasks.view"):
        return redirect(url_for("inbox.inbox"))
    if current_user().role == "partner" and current_user().ib_id and has_endpoint("partner.index"):
        return redirect(url_for("partner.index"))
    return render_template("home.html")


def _client_panel(session, ref: str | None) -> dict | None:
    client = clients_service.get_by_ref(session, ref) if ref else None
    return profile_for(session, client, current_user().role) if client else None


def _withdrawal(session, wid: str | None) -> dict | None:
    from engine.plugins import import_optional

    module = import_optional("engine.payments.withdrawals") if wid else None
    found = module.get(session, wid) if module else None
    return module.to_dict(found) if found else None


def _document_files(session, user, task, client) -> dict:
    """The client's document files on a compliance task, to view and decide in place."""
    if client is None or task.queue != "compliance" or not user.can("documents.view"):
        return {"files": None}
    from engine.events.catalogue import DOCUMENT_TYPES
    from web.documents import files_view
    from web.profile_view import kyc

    return {
        "files": files_view(session, client["ref"], kyc(client)["documents"]),
        "doc_ref": client["ref"],
        "can_review": user.can("documents.review"),
        "can_upload": user.can("documents.upload"),
        "document_types": DOCUMENT_TYPES,
        "back_to": f"/tasks/{task.id}",
    }


def _task_page(session, user, task) -> dict:
    """Return the task page's context: the main action first, why in words, the rest folded."""
    data = dict(tasks_service.to_dict(task, history=True), data=task.data or {})
    names, wid = offered(user, task, session), withdrawal_id(task)
    client, explanation = _client_panel(session, task.client_ref), explanation_view(session, task)
    withdrawal = _withdrawal(session, wid)
    main = task_view.main_action(data, names, client, wid, withdrawal)
    return dict(
        task=task_view.with_times(data),
        explanation=explanation,
        client=client,
        **_document_files(session, user, task, client),
        main=main,
        why=task_view.why(data, explanation, client, withdrawal=withdrawal),
        withdrawal=wid,
        main_actions=[ACTIONS[n] for n in (main or {}).get("actions", [])],
        domain_actions=[ACTIONS[n] for n in task_view.folded_actions(names, main)],
        held_by_other=task.assignee not in (None, user.email) and tasks_service.lease_live(task),
    )


@bp.get("/tasks/<int:task_id>")
@requires("tasks.view")
def task_detail(task_id):
    """Show a task: its main action, why it exists in words, the client, history and comments."""
    user = current_user()
    with unit_of_work(database()) as s:
        tasks_service.expire_leases(s)
        context = _task_page(s, user, visible_task(s, task_id))
    return render_template("task.html", **context)


@bp.post("/tasks/<int:task_id>/<action>")
@requires("tasks.work")
def task_action(task_id, action):
    """Claim, release, assign, wait, resolve, dismiss, comment or decide on a task."""
    user = current_user()
    try:
        with unit_of_work(database()) as s:
            perform(s, user, visible_task(s, task_id), action, request.form)
    except ActionError as exc:
        if exc.status == 403:
            abort(403)
        flash(f"{ACTIONS[action].label if action in ACTIONS else action}: {exc}")
        if exc.status == 409:  # someone else was first: show the task as it is now
            return task_detail(task_id), 409
        return redirect(safe_next(url_for("pages.task_detail", task_id=task_id)))
    flash(f"Task #{task_id}: {ACTIONS[action].label.lower()} done.")
    return redirect(safe_next(url_for("pages.task_detail", task_id=task_id)))


@bp.route("/tasks/new", methods=["GET", "POST"])
@requires("tasks.create")
def new_task():
    """Create a task by hand (a support ticket), optionally for a client."""
    user = current_user()
    queues = permissions.ALL_QUEUES if user.role == "admin" else permissions.queues_for(user.role)
    form = request.form if request.method == "POST" else request.args
    if request.method == "POST":
        try:
            task_id = create_manual_task(user, form)
        except ValueError as exc:
            flash(str(exc))
        else:
            flash(f"Task #{task_id} created.")
            return redirect(url_for("pages.task_detail", task_id=task_id))
    return render_template("task_new.html", queues=queues, form=form)


def create_manual_task(user, form) -> int:
    """Create a manual task from form or JSON fields for `user`; return its id."""
    queue = (form.get("queue") or "").strip()
    if not permissions.can_see_queue(user.role, queue) or queue not in permissions.ALL_QUEUES:
        raise ValueError(f"queue: {queue!r} is not a queue you may create tasks in")
    db = database()
    with unit_of_work(db) as s:
        ref = (form.get("client") or "").strip() or None
        if ref and clients_service.get_by_ref(s, ref) is None:
            raise ValueError(f"client: no client {ref!r}")
        task = tasks_service.create_manual(
            s,
            queue=queue,
            title=form.get("title") or "",
            actor=user.email,
            client_ref=ref,
            priority=(form.get("priority") or "normal").strip(),
            description=form.get("description"),
            hours=sla.hours_for(db.config),
        )
        if ref:
            from engine.audit import service as audit_service

            audit_service.record(
                s,
                actor=user.email,
                action="task.created",
                target_type="client",
                target_id=ref,
                reason=task.title,
                detail={"task": task.id},
            )
        return task.id
