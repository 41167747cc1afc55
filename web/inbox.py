"""The task inbox: queues with counts, filters, sorts, saved views, pages and bulk actions."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from engine.db import unit_of_work
from engine.tasks import query as task_query
from engine.tasks import service as tasks_service
from engine.tasks import views as views_service
from engine.users import permissions
from engine.users.models import User
from web import database
from web.auth import current_user, requires
from web.task_actions import ActionError, run_bulk
from web.viewhelpers import filters_from, safe_next

bp = Blueprint("inbox", __name__)
PAGE = 50


def _queues(user) -> tuple[str, ...]:
    return permissions.ALL_QUEUES if user.role == "admin" else permissions.queues_for(user.role)


def _colleagues(session, user) -> list[str]:
    from sqlalchemy import select

    rows = session.execute(select(User.email, User.role).where(User.active.is_(True)).order_by(User.email)).all()
    queues = set(_queues(user))
    return [
        email
        for email, role in rows
        if role != "partner" and (role == "admin" or queues & set(permissions.queues_for(role)))
    ]


@bp.get("/inbox")
@requires("tasks.view")
def inbox():
    """List the tasks of the user's queues with counts, filters and saved views."""
    user = current_user()
    filters = filters_from(request.args, user)
    after = request.args.get("after") or None
    status = 200
    with unit_of_work(database()) as s:
        tasks_service.expire_leases(s)
        try:
            rows, cursor = task_query.list_page(s, filters, limit=PAGE, after=after)
        except task_query.QueryError as exc:
            flash(str(exc))
            rows, cursor, status = [], None, 400  # a tampered page link or a bad filter
        tasks = _with_client_names(s, [tasks_service.to_dict(t) for t in rows])
        saved = [
            {"id": v.id, "name": v.name, "query": urlencode(v.filters), "mine": v.owner == user.email}
            for v in views_service.list_for(s, user.email)
        ]
        colleagues = _colleagues(s, user)
    args = {k: v for k, v in request.args.items() if k != "after" and v}
    return render_template(
        "inbox.html",
        tasks=tasks,
        counts=None,
        queues=_queues(user),
        f=filters,
        args=args,
        views=saved,
        colleagues=colleagues,
        view=request.args.get("view", ""),
        next_url=url_for("inbox.inbox", **args, after=cursor) if cursor else None,
        here=request.full_path.rstrip("?"),
        first_page=bool(after),
    ), status


def _with_client_names(session, tasks: list[dict]) -> list[dict]:
    """Add each task's client name (one query for the page), shown beside the reference."""
    from sqlalchemy import select

    from engine.clients.models import Client

    refs = {t["client"] for t in tasks if t.get("client")}
    names = (
        {
            ref: " ".join(filter(None, (first, last)))
            for ref, first, last in session.execute(
                select(Client.ref, Client.first_name, Client.last_name).where(Client.ref.in_(refs))
            )
        }
        if refs
        else {}
    )
    return [dict(t, client_name=names.get(t.get("client")) or "") for t in tasks]


@bp.get("/inbox/counts")
@requires("tasks.view")
def counts():
    """Render the views and queues with their open, mine, unassigned and overdue counts."""
    # Loaded by the page after the list (htmx), so the list never waits for the counts.
    user = current_user()
    with unit_of_work(database()) as s:
        numbers = task_query.counts(s, _queues(user), user=user.email)
    return render_template(
        "_inbox_counts.html",
        counts=numbers,
        queues=_queues(user),
        view=request.args.get("view", ""),
        f=task_query.Filters(queue=request.args.get("queue") or None),
    )


@bp.post("/inbox/bulk")
@requires("tasks.bulk")
def bulk():
    """Claim, assign, release, resolve or dismiss the selected tasks."""
    user = current_user()
    op = request.form.get("op", "")
    try:
        ids = [int(i) for i in request.form.getlist("ids")]
    except ValueError:
        abort(400, description="ids must be task numbers")
    params = {k: request.form.get(k, "") for k in ("assignee", "resolution", "reason")}
    try:
        with unit_of_work(database()) as s:
            results = run_bulk(s, user, op, ids, params)
    except ActionError as exc:
        if exc.status == 403:
            abort(403)
        flash(f"Bulk {op or 'action'}: {exc}")
        return redirect(safe_next(url_for("inbox.inbox")))
    done = [i for i, r in results.items() if r == "ok"]
    flash(f"Bulk {op}: {len(done)} of {len(results)} tasks done.")
    for task_id, reason in results.items():
        if reason != "ok":
            flash(f"#{task_id}: {reason}")
    return redirect(safe_next(url_for("inbox.inbox")))


@bp.post("/inbox/views")
@requires("tasks.view")
def save_view():
    """Save the current filters under a name."""
    user = current_user()
    filters = {k: request.form.get(k, "") for k in views_service.FILTER_KEYS}
    with unit_of_work(database()) as s:
        try:
            view = views_service.save(
                s,
                owner=user.email,
                name=request.form.get("name", ""),
                filters=filters,
                shared=bool(request.form.get("shared")),
            )
            query = view.filters
        except task_query.QueryError as exc:
            flash(f"Saving the view: {exc}")
            return redirect(url_for("inbox.inbox"))
    flash(f"Saved view {request.form.get('name', '').strip()!r}.")
    return redirect(url_for("inbox.inbox", **query))


@bp.post("/inbox/views/<int:view_id>/delete")
@requires("tasks.view")
def delete_view(view_id):
    """Delete one of the user's saved views."""
    with unit_of_work(database()) as s:
        if not views_service.delete(s, owner=current_user().email, view_id=view_id):
            abort(404)
    flash("View deleted.")
    return redirect(url_for("inbox.inbox"))
