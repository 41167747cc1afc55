"""Trading-account facts for rule conditions."""

from __future__ import annotations

from engine.accounts import policy, service
from engine.facts import fact


@fact("accounts.count", "integer")
def count(session, client):
    """How many trading accounts the client has."""
    return service.count_for(session, client.ref)


@fact("accounts.active.count", "integer")
def active_count(session, client):
    """How many of the client's trading accounts are active (not locked or disabled)."""
    return service.count_for(session, client.ref, "active")


@fact("accounts.locked.count", "integer")
def locked_count(session, client):
    """How many of the client's trading accounts are locked."""
    return service.count_for(session, client.ref, "locked")


@fact("accounts.restricted.count", "integer", cost="reads the client's accounts")
def restricted_count(session, client):
    """How many of the client's trading accounts are locked or disabled."""
    return sum(1 for a in service.list_for(session, client.ref) if a.status != "active")


@fact("accounts.first_trade_at", "datetime", cost="reads the client's accounts")
def first_trade_at(session, client):
    """When the client first traded on any account."""
    times = [a.first_trade_at for a in service.list_for(session, client.ref) if a.first_trade_at]
    return min(times) if times else None


@fact("accounts.inactive.count", "integer", cost="reads the client's accounts and the policy")
def inactive_count(session, client):
    """How many of the client's accounts have not traded within the policy's inactivity period."""
    after = policy.inactive_after(session)
    return sum(1 for a in service.list_for(session, client.ref) if service.activity(a, after) == "inactive")


@fact("accounts.types", "list", cost="reads the client's accounts")
def types(session, client):
    """The account types of the client's active trading accounts (e.g. standard, pro), each once, oldest first."""
    return list(dict.fromkeys(a.account_type for a in service.list_for(session, client.ref) if a.status == "active"))


@fact("accounts.last_trade_at", "datetime", cost="reads the client's accounts")
def last_trade_at(session, client):
    """When the client last traded on any account (missing if never)."""
    times = [a.last_trade_at for a in service.list_for(session, client.ref) if a.last_trade_at]
    return max(times) if times else None
