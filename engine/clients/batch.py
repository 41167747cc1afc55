"""When the set-based path may take a client event (engine.clients.projections' form).

`client.registered` and `client.profile_updated` change only the client row, which
processing holds loaded, so the form needs no group state: it applies the projections'
own functions (`registration`, `profile_update`) and the flush writes the row. It takes
an event only when those functions cannot raise on it (a missing field, an amount that
does not parse, a value of the wrong kind): such an event goes to the per-event path,
which isolates it.
"""

from __future__ import annotations

from typing import Any

from engine.values import parse_decimal

REGISTERED, PROFILE_UPDATED = "client.registered", "client.profile_updated"
_REQUIRED = ("email", "country", "client_type")
_OPTIONAL_TEXT = ("first_name", "last_name", "phone", "referral_code", "source", "currency")
# Profile fields a `client.profile_updated` event may change, and what they hold.
_PROFILE_TEXT = ("email", "first_name", "last_name", "phone", "country", "declared_income_currency", "source")


def accepts(event: Any) -> bool:
    data = event.data
    if not isinstance(data, dict):
        return False
    if event.type == REGISTERED:
        return _registration_ok(data)
    return event.type == PROFILE_UPDATED and _profile_ok(data)


def _registration_ok(data: dict[str, Any]) -> bool:
    if not all(isinstance(data.get(k), str) for k in _REQUIRED):
        return False
    if not all(data.get(k) is None or isinstance(data[k], str) for k in _OPTIONAL_TEXT):
        return False
    return data.get("declared_income") is None or _amount_ok(data["declared_income"])


def _profile_ok(data: dict[str, Any]) -> bool:
    fields = data.get("fields")
    if fields is None:
        return True
    if not isinstance(fields, dict):
        return False
    for name, value in fields.items():
        if name in _PROFILE_TEXT and not (value is None or isinstance(value, str)):
            return False
        if name == "declared_income" and value is not None and not _amount_ok(value):
            return False
    return True


def _amount_ok(value: Any) -> bool:
    try:
        parse_decimal(value)
    except Exception:
        return False
    return True
