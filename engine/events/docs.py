"""Write docs/events.md from the event catalogue: `python -m engine.events.docs`."""

from __future__ import annotations

import sys

from engine.events import catalogue

HEADER = """# Canonical events

Generated from `engine/events/catalogue.py` by `python -m engine.events.docs > docs/events.md`
(a test fails when this file is out of date).

Envelope: `{id, type, source, occurred_at, client, data}`. `id` is unique per `source`:
a second event with the same `(source, id)` and the same content is a duplicate and is
stored once; with different content it is a **conflict**: the first event stays, the
other content is kept in `event_conflicts` (never applied), the API answers `conflict`
for it and `fxcrm events conflicts` lists them. `occurred_at` is ISO-8601 with an
offset, from 1990 to one day ahead of now (`FXCRM_EVENT_MAX_AHEAD`); `client` is the
broker's client reference. Unknown fields are refused. Post them to `POST /api/events`
(one object or a list of up to 1,000; all are validated before any is stored) or
ingest them with `fxcrm events ingest FILE` (JSON lines). The contract is enforced in
one place, `engine/events/schemas.py` (see docs/security.md, "Input contracts").

Kinds: `string` (at most 500 characters, no control characters); `decimal` (a decimal
string of ASCII digits, optional leading `-`, at most 8 decimals; no exponent, `_` or
`+`); `amount` (the same, above zero and below 10^10, with no more decimals than the
event's `currency` has minor units: JPY 0, USD 2, KWD 3, BTC 8); `currency` (ISO 4217 or
a configured crypto code, `FXCRM_CRYPTO_CURRENCIES`); `country` (ISO 3166-1 alpha-2);
`datetime` (ISO-8601 with offset); `enum` (one of the listed values); `integer`;
`boolean`; `object` (nested at most 16 deep); `list` (of strings). Optional fields are
marked `?`.

Events fxcrm records itself (source `fxcrm.app`, via `app`): `client.logged_in` and
`client.login_failed` (portal sign-ins), `client.status_changed` (a person changed the
status) and `task.closed` (a person resolved or dismissed a task about the client). Each
is stored in the same transaction as the change it reports, with an id unique to that
change (`status-change-<id>`, `task-<id>-closed`), and processed like any other event, so
rules react to them. Staff sign-ins, `staff.logged_in` and `staff.login_failed`, are
events about the staff member, not a client (subject `staff`, stored with the ref
`staff:<user id>`; docs/rules.md, "Rules about staff members"); an unknown e-mail is no
staff member and records nothing (the audit keeps the attempt). A failed portal
sign-in with an unknown e-mail belongs to no client and records nothing. Changes made by
rules (`set_status`) are not recorded as events, so a rule cannot trigger itself through
them.
"""


def render() -> str:
    """Return the Markdown text of the catalogue."""
    out = [HEADER]
    for event_type in catalogue.EVENT_TYPES.values():
        internal = " (internal: cannot be posted)" if event_type.internal else ""
        if event_type.subject != "client":  # the ref in `client` is `<subject>:<id>`
            internal += f" (subject: `{event_type.subject}`, not a client)"
        out.append(
            f"\n## `{event_type.name}`{internal}\n\n{event_type.doc}\n\n| field | kind | notes |\n| --- | --- | --- |"
        )
        for name, spec in event_type.fields.items():
            kind = spec.kind + (": " + ", ".join(f"`{c}`" for c in spec.choices) if spec.choices else "")
            out.append(f"| `{name}`{'' if spec.required else '?'} | {kind} | {spec.doc} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
