"""The notifications section of the client profile."""

from engine.clients.service import section
from engine.notifications import service


@section("notifications")
def notifications(session, client):
    """Return the client's notifications, newest first."""
    return [service.to_dict(n) for n in service.list_for(session, client.ref)]
