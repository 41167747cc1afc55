"""One timeline of everything that happened to a client, newest first.

Merges the engine's money/account/task/note timeline with KYC results and document
events, status changes, notifications and manual changes (the audit). Each item is
{"at": datetime, "kind": str, "text": str, "task_id": id or None}.
"""

from __future__ import annotations

from datetime import datetime

from engine.values import parse_datetime
from web.formatting import money as money_text
from web.why_words import document_list

LIMIT = 300
KIND_LABELS = {
    "deposit": "Payment",
    "withdrawal": "Payment",
    "transfer": "Payment",
    "fee": "Payment",
    "account": "Account",
    "task": "Task",
    "note": "Note",
    "kyc": "KYC",
    "status": "Status",
    "notification": "Notification",
    "manual": "Manual change",
}
# Audit entries already shown as their own item (a note, a KYC override).
AUDIT_SHOWN_ELSEWHERE = {"client.note"}


def at(value) -> datetime | None:
    """Return an ISO time string as an aware datetime (None stays None)."""
    if value is None or isinstance(value, datetime):
        return value
    try:
        return parse_datetime(value)
    except (TypeError, ValueError):
        return None


def _item(when, kind: str, text: str, task_id=None) -> dict:
    return {
        "at": at(when),
        "kind": kind,
        "label": KIND_LABELS.get(kind, kind.capitalize()),
        "text": text,
        "task_id": task_id,
    }


def _title(e: dict) -> str:
    """Return the engine's title with its amount in the currency's minor units."""
    title = e.get("title") or e.get("text") or e.get("kind") or ""
    if e.get("amount") and e.get("currency"):
        title = title.replace(f"{e['amount']} {e['currency']}", money_text(e["amount"], e["currency"]))
    return title


def engine_items(p: dict, visible_task_ids: set[str]) -> list[dict]:
    """Return the engine timeline's items, leaving out tasks of queues the viewer cannot see."""
    items = []
    for e in p.get("timeline") or []:
        if not isinstance(e, dict):
            continue
        kind = e.get("kind") or "event"
        if kind == "task" and str(e.get("ref")) not in visible_task_ids:
            continue
        items.append(_item(e.get("at"), kind, _title(e), e.get("ref") if kind == "task" else None))
    return items


def kyc_items(p: dict, reviews: list[dict]) -> list[dict]:
    """Return KYC results, documents sent and documents asked for."""
    k = p.get("kyc") or {}
    items = [_item(r["at"], "kyc", _review_text(r)) for r in reviews]
    items += [
        _item(d.get("submitted_at"), "kyc", f"Sent {document_list([d.get('type')])}")
        for d in k.get("documents") or []
        if d.get("submitted_at")
    ]
    items += [
        _item(
            r.get("at"),
            "kyc",
            f"{r.get('by')} asked for "
            f"{document_list([r.get('type')])}" + (f": {r['reason']}" if r.get("reason") else ""),
        )
        for r in k.get("requests") or []
    ]
    return items


def _review_text(r: dict) -> str:
    labels = f" ({', '.join(r['labels'])})" if r.get("labels") else ""
    late = "" if r.get("applied", True) else " — arrived late, not applied"
    return f"KYC result from {r['provider']}: {r['result'].replace('_', ' ')}{labels}{late}"


def status_items(p: dict) -> list[dict]:
    """Return the client's status changes with who or which rule made them."""
    changes = (p.get("kyc") or {}).get("status_history") or []
    return [
        _item(
            c.get("at"),
            "status",
            f"Status {c.get('from') or 'new'} → {c.get('to')}"
            f" by {c.get('rule_id') and 'rule ' + c['rule_id'] or c.get('actor')}"
            + (f": {c['reason']}" if c.get("reason") else ""),
        )
        for c in changes
    ]


def notification_items(p: dict) -> list[dict]:
    """Return the notifications sent (or not) to the client."""
    return [
        _item(
            n.get("sent_at") or n.get("created_at"),
            "notification",
            f"{(n.get('channel') or 'message').capitalize()} “{n.get('subject') or n.get('template')}” "
            f"{n.get('status')}" + (f": {n['error']}" if n.get("error") else ""),
        )
        for n in p.get("notifications") or []
    ]


def audit_items(audit: list[dict]) -> list[dict]:
    """Return the manual changes staff made, with their reason."""
    return [
        _item(
            e["at"],
            "manual",
            f"{e['actor']}: {e['action'].replace('.', ' ').replace('_', ' ')}"
            + (f" — {e['reason']}" if e.get("reason") else ""),
        )
        for e in audit
        if e.get("action") not in AUDIT_SHOWN_ELSEWHERE
    ]


def merged_timeline(p: dict, extras: dict, visible_task_ids: set[str]) -> list[dict]:
    """Return every source's items in one list, newest first."""
    items = (
        engine_items(p, visible_task_ids)
        + kyc_items(p, extras.get("reviews") or [])
        + status_items(p)
        + notification_items(p)
        + audit_items(extras.get("audit") or [])
    )
    dated = [i for i in items if i["at"] is not None]
    return sorted(dated, key=lambda i: i["at"], reverse=True)[:LIMIT]
