"""The JSON API (bearer tokens): events in, tasks and client profiles out."""
from __future__ import annotations

from flask import Blueprint, abort, jsonify, request

from engine.clients import service as clients_service
from engine.db import unit_of_work
from engine.events.schemas import InvalidEvent, validate_envelope
from engine.events.store import record, schedule_touched
from engine.tasks import service as tasks_service
from engine.users import permissions
from web import database
from web.auth import current_user, requires

bp = Blueprint("api", __name__, url_prefix="/api")
MAX_EVENTS_PER_REQUEST = 1000


@bp.errorhandler(403)
def _forbidden(_exc):
    return jsonify(error="your role may not do this"), 403


@bp.errorhandler(404)
def _not_found(exc):
    return jsonify(error=getattr(exc, "description", "not found")), 404


@bp.post("/events")
@requires("events.post")
def post_events():
    """Accept one canonical event or a list; all are validated before any is stored."""
    payload = request.get_json(silent=True)
    if payload is None:
        return jsonify(error="the body must be JSON: one event object or a list of them"), 400
    items = payload if isinstance(payload, list) else [payload]
    if len(items) > MAX_EVENTS_PER_REQUEST:
        return jsonify(error=f"at most {MAX_EVENTS_PER_REQUEST} events per request"), 400
    errors, envelopes = [], []
    for index, item in enumerate(items):
        try:
            envelopes.append(validate_envelope(item))
        except InvalidEvent as exc:
            errors.append({"index": index, "problems": exc.problems})
    if errors:
        return jsonify(error="invalid events; nothing was stored", events=errors), 400
    db = database()
    results = []
    with unit_of_work(db) as session:
        for env in envelopes:
            _seq, created = record(session, env, via="api")
            results.append({"source": env["source"], "id": env["id"],
                            "status": "accepted" if created else "duplicate"})
        schedule_touched(session, db)
    return jsonify(events=results), 202


def _visible(task) -> bool:
    user = current_user()
    return permissions.can_see_queue(user.role, task.queue)


@bp.get("/tasks")
@requires("tasks.view")
def list_tasks():
    """List tasks the caller's role may see (filters: queue, status, client, rule, assignee)."""
    args = request.args
    user = current_user()
    queue = args.get("queue")
    if queue and not permissions.can_see_queue(user.role, queue):
        abort(403)
    try:
        limit = min(int(args.get("limit", 100)), 500)
        after = int(args["after"]) if args.get("after") else None
    except ValueError:
        return jsonify(error="limit and after must be whole numbers"), 400
    with unit_of_work(database()) as s:
        try:
            rows = tasks_service.list_tasks(
                s, queue=queue, status=args.get("status"), client=args.get("client"),
                rule=args.get("rule"), assignee=args.get("assignee"), limit=limit,
                after_id=after)
        except tasks_service.TaskError as exc:
            return jsonify(error=str(exc)), 400
        data = [tasks_service.to_dict(t) for t in rows if _visible(t)]
    return jsonify(tasks=data, next_after=data[-1]["id"] if len(rows) == limit and data else None)


@bp.get("/tasks/<int:task_id>")
@requires("tasks.view")
def get_task(task_id):
    """Return one task with its history and explanation."""
    with unit_of_work(database()) as s:
        task = tasks_service.get(s, task_id)
        if task is None or not _visible(task):
            abort(404, description=f"no task {task_id}")
        return jsonify(tasks_service.to_dict(task, history=True))


@bp.get("/clients/<ref>")
@requires("clients.view")
def get_client(ref):
    """Return the whole client profile."""
    with unit_of_work(database()) as s:
        client = clients_service.get_by_ref(s, ref)
        if client is None:
            abort(404, description=f"no client {ref}")
        return jsonify(clients_service.profile(s, client))
