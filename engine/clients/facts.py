"""Core client facts for rule conditions."""

from engine.clients.models import FUNNEL, STATUSES
from engine.facts import fact

ROW = "none: a field of the client row, already loaded"


@fact("status", "enum", choices=STATUSES, cost=ROW, column="status")
def status(session, client):
    """The client's lifecycle status."""
    return client.status


@fact("country", "country", cost=ROW, column="country")
def country(session, client):
    """The client's country (ISO 3166-1 alpha-2)."""
    return client.country


@fact("client_type", "enum", choices=("individual", "corporate"), cost=ROW, column="client_type")
def client_type(session, client):
    """Individual or corporate."""
    return client.client_type


@fact("registered_at", "datetime", cost=ROW)
def registered_at(session, client):
    """When the client registered."""
    return client.registered_at


@fact("risk_category", "enum", choices=("low", "medium", "high"), cost=ROW, column="risk_category")
def risk_category(session, client):
    """The client's risk category, if set."""
    return client.risk_category


@fact("funnel_stage", "enum", choices=FUNNEL, cost=ROW, column="funnel_stage")
def funnel_stage(session, client):
    """How far the client has come: registered, kyc_approved, funded, account_opened, first_trade."""
    return client.funnel_stage


@fact("auto_funding", "boolean", cost=ROW, column="auto_funding")
def auto_funding(session, client):
    """Whether the client asked for deposits to fund the trading account."""
    return client.auto_funding


@fact(
    "kyc.status",
    "enum",
    choices=("not_started", "pending", "approved", "rejected", "retry", "on_hold"),
    cost=ROW,
    column="kyc_status",
)
def kyc_status(session, client):
    """The client's KYC status."""
    return client.kyc_status
