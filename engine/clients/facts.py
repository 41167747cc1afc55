"""Core client facts for rule conditions: fields of the client row."""

from typing import Any

from engine.clients.models import FUNNEL, STATUSES
from engine.facts import fact

ROW = "none: a field of the client row, already loaded"


def _row_field(name: str, kind: str, doc: str, *, attribute: str = "", choices=(), column: bool = True) -> None:
    """Register fact `name`: the client row's `attribute` (default: `name`) unchanged.

    With `column` the fact names that column (engine.facts.fact): a scheduled rule selects
    by it in SQL and the set-based form reads it from the row.
    """
    attribute = attribute or name

    def loader(session: Any, client: Any) -> Any:
        return getattr(client, attribute)

    loader.__name__ = loader.__qualname__ = attribute
    fact(name, kind, choices=choices, doc=doc, cost=ROW, column=attribute if column else "")(loader)


_row_field("status", "enum", "The client's lifecycle status.", choices=STATUSES)
_row_field("country", "country", "The client's country (ISO 3166-1 alpha-2).")
_row_field("client_type", "enum", "Individual or corporate.", choices=("individual", "corporate"))
_row_field("registered_at", "datetime", "When the client registered.", column=False)
_row_field("risk_category", "enum", "The client's risk category, if set.", choices=("low", "medium", "high"))
_row_field(
    "funnel_stage",
    "enum",
    "How far the client has come: registered, kyc_approved, funded, account_opened, first_trade.",
    choices=FUNNEL,
)
_row_field("auto_funding", "boolean", "Whether the client asked for deposits to fund the trading account.")
_row_field(
    "kyc.status",
    "enum",
    "The client's KYC status.",
    attribute="kyc_status",
    choices=("not_started", "pending", "approved", "rejected", "retry", "on_hold"),
)
