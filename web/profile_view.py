"""The client profile as staff read it: the answer first (header, what needs action now),
then KYC, money, accounts and IB as typed values the templates format with the filters.

`build(profile, extras, viewer)` turns the engine's profile dict (engine.clients.service)
plus a few web-only lists (ledger, KYC results, audit) into plain dicts of Decimals and
datetimes; nothing here formats text for display.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation

from engine.users import permissions
from web.profile_timeline import at, merged_timeline
from web.why_words import document_list

READ_ONLY_AUDIT = ("document.viewed", "portal.login")

OPEN = ("open", "in_progress", "waiting")


def amount(value) -> Decimal | None:
    """Return a decimal string as a Decimal (None stays None)."""
    if value is None or isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def load_extras(session, ref: str) -> dict:
    """Load what the profile shows beyond the engine's profile: ledger, KYC results, audit."""
    from engine.audit import service as audit_service
    from engine.kyc import service as kyc_service
    from engine.payments import ledger

    entries = [
        {
            "at": e.posting.occurred_at,
            "kind": e.posting.kind,
            "memo": e.posting.memo,
            "account": e.account.split(":", 1)[0],
            "amount": e.amount,
            "currency": e.currency,
        }
        for e in ledger.entries_for(session, ref, limit=100)
    ]
    reviews = [
        {
            "at": r.occurred_at,
            "provider": r.provider,
            "result": r.result,
            "labels": r.labels or [],
            "reason": r.reason,
            "applied": r.applied,
        }
        for r in kyc_service.reviews(session, ref)
    ]
    # Openings of document files are audited (who looked at whose passport) but change
    # nothing: they are in /audit, not in the profile's list of manual changes.
    audit = [
        {"at": e.at, "actor": e.actor, "action": e.action, "reason": e.reason}
        for e in audit_service.list_for(session, target_type="client", target_id=ref)
        if e.action not in READ_ONLY_AUDIT
    ]
    return {"ledger": entries, "reviews": reviews, "audit": audit[::-1]}


def visible_tasks(tasks: list[dict], role: str) -> list[dict]:
    """Return the tasks of queues the viewer may see, with their times parsed."""
    shown = [t for t in tasks or [] if permissions.can_see_queue(role, t.get("queue"))]
    return [
        dict(t, created_at=at(t.get("created_at")), due_at=at(t.get("due_at")), closed_at=at(t.get("closed_at")))
        for t in shown
    ]


def header(p: dict) -> dict:
    """Return who the client is and where they stand: status, KYC, risk, funnel, next step."""
    risk = p.get("risk") or {}
    name = " ".join(x for x in (p.get("first_name"), p.get("last_name")) if x)
    return {
        "ref": p["ref"],
        "name": name,
        "status": p.get("status"),
        "status_reason": p.get("status_reason"),
        "kyc": (p.get("kyc") or {}).get("status"),
        "risk": risk.get("category"),
        "risk_reason": risk.get("reason"),
        "funnel_stage": p.get("funnel_stage"),
        "next_step": _next_step(p.get("next_step")),
        "email": p.get("email"),
        "phone": p.get("phone"),
        "country": p.get("country"),
        "client_type": p.get("client_type"),
        "registered_at": at(p.get("registered_at")),
        "source": p.get("source"),
        "referral_code": p.get("referral_code"),
    }


def _next_step(step) -> str | None:
    if isinstance(step, dict):
        return step.get("text") or step.get("step")
    return step or None


def withdrawal(w: dict) -> dict:
    """Return a withdrawal with its amount, times and the step it waits for."""
    return dict(
        w,
        amount=amount(w.get("amount")),
        requested_at=at(w.get("requested_at")),
        closed_at=at(w.get("closed_at")),
        waiting=(w.get("waiting_for") or w.get("step") or "a decision").replace("_", " ")
        if w.get("status") == "pending"
        else None,
        decisions=[dict(d, at=at(d.get("at"))) for d in w.get("decisions") or []],
    )


def deposit(d: dict) -> dict:
    """Return a deposit with its amount and the time of its latest stage."""
    last = next(
        (d.get(k) for k in ("charged_back_at", "refunded_at", "failed_at", "completed_at", "requested_at") if d.get(k)),
        None,
    )
    return {
        "id": d.get("id"),
        "provider": d.get("provider"),
        "method": d.get("method"),
        "amount": amount(d.get("amount")),
        "currency": d.get("currency"),
        "status": d.get("status"),
        "reason": d.get("reason"),
        "at": at(last),
        "account_id": d.get("account_id"),
    }


def failed_unresolved(deposits: list[dict]) -> list[dict]:
    """Return the failed deposits no completed deposit followed."""
    completed = [d["at"] for d in deposits if d["status"] == "completed" and d["at"]]
    latest = max(completed) if completed else None
    return [d for d in deposits if d["status"] == "failed" and (latest is None or (d["at"] and d["at"] > latest))]


def kyc(p: dict) -> dict:
    """Return KYC status, documents (missing ones included), the latest result and overrides."""
    k = p.get("kyc") or {}
    docs = [
        {
            "type": d.get("type") or d.get("document_type"),
            "name": document_list([d.get("type") or d.get("document_type")]),
            "document_id": d.get("document_id"),
            "state": d.get("state") or d.get("status"),
            "reason": d.get("reason"),
            "submitted_at": at(d.get("submitted_at")),
            "expires_at": at(d.get("expires_at")),
        }
        for d in k.get("documents") or []
    ]
    result = k.get("latest_result") or None
    return {
        "status": k.get("status"),
        "status_at": at(k.get("status_at")),
        "documents": docs,
        "missing": list(k.get("missing") or []),
        "missing_names": document_list(k.get("missing") or []),
        "missing_fields": [f.replace("_", " ") for f in k.get("missing_fields") or []],
        "result": dict(result, at=at(result.get("occurred_at"))) if result else None,
        "requests": [
            dict(r, at=at(r.get("at")), name=document_list([r.get("type")]), fulfilled_at=at(r.get("fulfilled_at")))
            for r in k.get("requests") or []
        ],
        "overrides": [dict(o, at=at(o.get("at"))) for o in k.get("overrides") or []],
        "policy_error": k.get("policy_error"),
    }


def money(p: dict, extras: dict) -> dict:
    """Return wallets, held and owed amounts, deposits, transfers, withdrawals and the ledger."""
    pay = p.get("payments") or {}
    return {
        "wallets": {cur: amount(v) for cur, v in (p.get("wallets") or {}).items()},
        "held": {cur: amount(v) for cur, v in (pay.get("held") or {}).items()},
        "owed": {cur: amount(v) for cur, v in (pay.get("owed") or {}).items()},
        "deposits": [deposit(d) for d in pay.get("deposits") or []][::-1],
        "transfers": [dict(t, amount=amount(t.get("amount")), at=at(t.get("at"))) for t in pay.get("transfers") or []][
            ::-1
        ],
        "withdrawals": [withdrawal(w) for w in p.get("withdrawals") or []],
        "ledger": extras.get("ledger") or [],
    }


def accounts(p: dict) -> list[dict]:
    """Return the trading accounts with balance and equity as amounts."""
    return [
        dict(
            a,
            balance=amount(a.get("balance")),
            equity=amount(a.get("equity")),
            opened_at=at(a.get("opened_at")),
            last_trade_at=at(a.get("last_trade_at")),
            status_changed_at=at(a.get("status_changed_at")),
        )
        for a in p.get("accounts") or []
    ]


def ib(p: dict) -> dict | None:
    """Return the IB chain, attribution history, disputes, own IB record and commissions."""
    section = p.get("ib")
    commissions = [dict(c, amount=amount(c.get("amount"))) for c in p.get("commissions") or []]
    if not section and not commissions:
        return None
    section = section or {}
    return {
        "ib_id": section.get("ib_id"),
        "attributed_at": at(section.get("attributed_at")),
        "pending_code": section.get("pending_referral_code"),
        "chain": [link.get("ib_id") if isinstance(link, dict) else link for link in section.get("chain") or []],
        "history": [dict(h, at=at(h.get("at"))) for h in section.get("history") or []],
        "disputes": section.get("disputes") or [],
        "own": section.get("own"),
        "commissions": commissions,
    }


def overview(tasks: list[dict], k: dict, m: dict) -> dict:
    """Return what needs action now: open tasks, waiting withdrawals, documents, failed deposits."""
    return {
        "tasks": [t for t in tasks if t["status"] in OPEN],
        "withdrawals": [w for w in m["withdrawals"] if w["waiting"]],
        "missing": k["missing"],
        "missing_names": k["missing_names"],
        "missing_fields": k["missing_fields"],
        "failed_deposits": failed_unresolved(m["deposits"]),
        "owed": m["owed"],
    }


def scores(p: dict) -> list[dict]:
    """Return each named score with its total and every contribution, newest first."""
    return [
        {
            "name": name,
            "label": name.replace("_", " "),
            "total": entry.get("total", 0),
            "contributions": sorted(
                (dict(c, at=at(c.get("at"))) for c in entry.get("contributions") or []),
                key=lambda c: c["at"] or datetime.min.replace(tzinfo=timezone.utc),
                reverse=True,
            ),
        }
        for name, entry in (p.get("scores") or {}).items()
    ]


def build(p: dict, extras: dict, role: str) -> dict:
    """Return the whole profile view-model for a viewer of `role`."""
    tasks = visible_tasks(p.get("tasks"), role)
    k, m = kyc(p), money(p, extras)
    return {
        "head": header(p),
        "overview": overview(tasks, k, m),
        "kyc": k,
        "money": m,
        "accounts": accounts(p),
        "ib": ib(p),
        "tasks": tasks,
        "scores": scores(p),
        "past_tasks": [t for t in tasks if t["status"] not in OPEN],
        "notes": [dict(n, at=at(n.get("at"))) for n in p.get("notes") or []],
        "timeline": merged_timeline(p, extras, {str(t["id"]) for t in tasks}),
        "audit": extras.get("audit") or [],
    }
