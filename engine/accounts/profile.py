"""The trading accounts section of the client profile."""

from __future__ import annotations

from engine.accounts import policy, service
from engine.clients.service import section


@section("accounts")
def accounts(session, client):
    """Return each trading account with its status, lock reason, balance and activity."""
    after = policy.inactive_after(session)
    return [service.to_dict(a, after) for a in service.list_for(session, client.ref)]
