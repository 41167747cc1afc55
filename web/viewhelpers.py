"""Helpers the staff pages and the API share: filters from a request, safe redirects,
the task a user may see, and the explanation panel."""

from __future__ import annotations

from flask import abort, request

from engine.tasks import service as tasks_service
from engine.tasks.query import UNASSIGNED, Filters
from engine.users import permissions
from web.auth import current_user

SHORTCUTS = {"mine": {}, "unassigned": {"assignee": UNASSIGNED}, "overdue": {"due": "overdue"}}
FILTER_ARGS = ("queue", "status", "priority", "rule", "client", "assignee", "due", "sort")


def filters_from(args, user, *, default_status: str = "open_any") -> Filters:
    """Build inbox filters from query args, limited to the queues the user may see."""
    chosen = {k: args.get(k).strip() for k in FILTER_ARGS if (args.get(k) or "").strip()}
    chosen.update(SHORTCUTS.get(args.get("view", ""), {}))
    if args.get("view") == "mine" or chosen.get("assignee") == "me":
        chosen["assignee"] = user.email
    chosen.setdefault("status", default_status)
    if chosen.get("queue") and not permissions.can_see_queue(user.role, chosen["queue"]):
        abort(403)
    queues = None if user.role == "admin" else permissions.queues_for(user.role)
    return Filters(queues=queues, **chosen)


def visible_task(session, task_id: int):
    """The task `task_id`, or 404 when there is none or its queue is not the user's to see."""
    task = tasks_service.get(session, task_id)
    if task is None or not permissions.can_see_queue(current_user().role, task.queue):
        abort(404, description=f"no task {task_id}")
    return task


def safe_next(default: str) -> str:
    """Return the form's `next` path when it stays on this site, else `default`."""
    target = request.form.get("next") or request.args.get("next") or ""
    return target if target.startswith("/") and not target.startswith("//") else default


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def explanation_view(session, task) -> dict | None:
    """Return the task's explanation ready to show: rule, version, events and fact values."""
    exp = task.explanation
    if not exp:
        return None
    facts = exp.get("facts") or exp.get("fact_values") or {}
    if isinstance(facts, list):
        facts = {str(f.get("path") or f.get("name")): f.get("value") for f in facts if isinstance(f, dict)}
    refs = _as_list(exp.get("events") or exp.get("event_ids") or exp.get("trigger_events") or exp.get("event"))
    known = {
        "rule",
        "rule_id",
        "ruleset",
        "description",
        "ruleset_version",
        "version",
        "facts",
        "fact_values",
        "events",
        "event_ids",
        "trigger_events",
        "event",
        "conditions",
    }
    return {
        "rule": exp.get("rule") or exp.get("rule_id") or task.rule_id,
        "description": exp.get("description") or exp.get("rule_description"),
        "ruleset": exp.get("ruleset"),
        "ruleset_version": exp.get("ruleset_version") or exp.get("version") or task.ruleset_version,
        "events": [_event_view(session, ref) for ref in refs],
        "facts": facts if isinstance(facts, dict) else {},
        "conditions": _as_list(exp.get("conditions")),
        "other": {k: v for k, v in exp.items() if k not in known},
    }


def _event_view(session, ref) -> dict:
    from sqlalchemy import select

    from engine.events.models import Event

    stmt = None
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        stmt = select(Event).where(Event.seq == int(ref))
    elif isinstance(ref, dict) and ref.get("seq"):
        stmt = select(Event).where(Event.seq == int(ref["seq"]))
    elif isinstance(ref, dict) and ref.get("id"):
        stmt = select(Event).where(Event.event_id == str(ref["id"]))
        if ref.get("source"):
            stmt = stmt.where(Event.source == ref["source"])
    elif isinstance(ref, str):
        source, _, event_id = ref.rpartition("/")
        stmt = select(Event).where(Event.event_id == event_id)
        stmt = stmt.where(Event.source == source) if source else stmt
    event = session.scalars(stmt.limit(1)).first() if stmt is not None else None
    if event is None:
        return {"ref": ref, "found": False}
    return {"ref": ref, "found": True, "seq": event.seq, **event.envelope()}


def profile_for(session, client, role: str) -> dict:
    """The client's profile as `role` may see it: tasks of queues the role cannot open are
    left out (their titles and explanations say things that role must not read)."""
    from engine.clients import service as clients_service
    from engine.users.permissions import can_see_queue

    profile = clients_service.profile(session, client)
    profile["tasks"] = [t for t in profile.get("tasks", []) if can_see_queue(role, t["queue"])]
    if isinstance(profile.get("timeline"), list):
        profile["timeline"] = [
            i for i in profile["timeline"] if i.get("kind") != "task" or can_see_queue(role, i.get("queue") or "")
        ]
    return profile
