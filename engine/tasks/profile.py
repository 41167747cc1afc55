"""The tasks section of the client profile."""

from sqlalchemy import select

from engine.clients.service import section
from engine.tasks.models import Task
from engine.tasks.service import to_dict


@section("tasks")
def tasks(session, client):
    """Return the client's tasks, open ones first, newest first."""
    rows = session.scalars(
        select(Task)
        .where(Task.client_ref == client.ref)
        .order_by(Task.closed_at.is_not(None), Task.id.desc())
        .limit(200)
    )
    return [to_dict(t) for t in rows]
