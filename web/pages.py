"""Staff pages: inbox, task detail and client profile (server-rendered)."""
from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for

from engine.clients import service as clients_service
from engine.db import unit_of_work
from engine.tasks import service as tasks_service
from engine.users import permissions
from web import database
from web.auth import current_user, login_required, requires

bp = Blueprint("pages", __name__)


@bp.get("/")
@login_required
def index():
    """Send staff to the inbox."""
    return redirect(url_for("pages.inbox"))


@bp.get("/inbox")
@requires("tasks.view")
def inbox():
    """List the tasks of the queues the user's role sees."""
    user = current_user()
    queues = permissions.queues_for(user.role)
    queue = request.args.get("queue") or None
    if queue and not permissions.can_see_queue(user.role, queue):
        abort(403)
    status = request.args.get("status") or "open_any"
    with unit_of_work(database()) as s:
        rows = [t for t in tasks_service.list_tasks(s, queue=queue, status=status, limit=200)
                if permissions.can_see_queue(user.role, t.queue)]
        tasks = [tasks_service.to_dict(t) for t in rows]
    return render_template("inbox.html", tasks=tasks, queues=queues, queue=queue, status=status)


@bp.get("/tasks/<int:task_id>")
@requires("tasks.view")
def task_detail(task_id):
    """Show a task with its explanation and history."""
    user = current_user()
    with unit_of_work(database()) as s:
        task = tasks_service.get(s, task_id)
        if task is None or not permissions.can_see_queue(user.role, task.queue):
            abort(404)
        data = tasks_service.to_dict(task, history=True)
    return render_template("task.html", task=data)


@bp.get("/clients/<ref>")
@requires("clients.view")
def client_profile(ref):
    """Show everything about one client."""
    with unit_of_work(database()) as s:
        client = clients_service.get_by_ref(s, ref)
        if client is None:
            abort(404)
        profile = clients_service.profile(s, client)
    return render_template("client.html", p=profile)
