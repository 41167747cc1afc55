"""What a client sees of its own record in the portal, in plain words.

Built only from the client's own data, and never from what staff write for staff
(tasks, notes, who decided a step, provider labels and internal reasons).
"""

from __future__ import annotations

from engine.values import parse_datetime
from web.why_words import document_list

KYC_WORDS = {
    "not_started": "We need your documents",
    "pending": "Under review",
    "approved": "Verified",
    "rejected": "Not approved",
    "retry": "We need new documents from you",
    "on_hold": "On hold: we will contact you",
}
DOCUMENT_WORDS = {
    "submitted": "Under review",
    "in_review": "Under review",
    "approved": "Accepted",
    "rejected": "Not accepted",
    "expired": "Expired: send a new one",
    "missing": "Needed",
}
WAITING_WORDS = {
    "compliance": "waiting for our compliance review",
    "finance": "waiting for finance",
    "client_documents": "waiting for your documents",
    "payment_provider": "being paid out",
}
WITHDRAWAL_WORDS = {
    "paid": "Paid",
    "rejected": "Not approved",
    "refused": "Refused",
    "failed": "The payment failed",
    "cancelled": "Cancelled",
}


def _at(text):
    return parse_datetime(text) if text else None


def kyc(profile: dict) -> dict:
    k = profile.get("kyc") or {}
    documents = [
        {
            "name": document_list([d.get("type")]).capitalize(),
            "state": d.get("state"),
            "words": DOCUMENT_WORDS.get(d.get("state"), d.get("state")),
            "reason": d.get("reason") if d.get("state") == "rejected" else None,
            "sent_at": _at(d.get("submitted_at")),
        }
        for d in k.get("documents") or []
        if d.get("state") != "missing"
    ]
    missing = list(k.get("missing") or [])
    words = KYC_WORDS.get(k.get("status"), k.get("status"))
    waiting = any(d["state"] in ("submitted", "in_review") for d in documents)
    if k.get("status") in ("not_started", "retry") and not missing and waiting:
        words = "Under review"  # everything is sent: the client waits for us, not we for it
    return {
        "status": k.get("status"),
        "words": words,
        "missing": missing,
        "missing_words": document_list(missing) if missing else "",
        "documents": documents,
    }


def document_labels(types) -> dict[str, str]:
    """{document type: its name in words}, for the upload form."""
    return {t: document_list([t]).capitalize() for t in types}


def withdrawal(w: dict) -> dict:
    if w.get("status") == "pending":
        words = "Requested, " + WAITING_WORDS.get(w.get("waiting_for"), "in progress")
    else:
        words = WITHDRAWAL_WORDS.get(w.get("status"), (w.get("status") or "").replace("_", " "))
    reason = w.get("reason") if w.get("status") in ("rejected", "refused", "failed") else None
    return {
        "id": w["id"],
        "amount": w["amount"],
        "currency": w["currency"],
        "words": words,
        "status": w.get("status"),
        "reason": reason,
        "requested_at": _at(w.get("requested_at")),
    }


DEPOSIT_WORDS = {
    "requested": "Waiting for your transfer",
    "completed": "Received",
    "failed": "Failed",
    "refunded": "Refunded",
    "charged_back": "Charged back",
}


def deposit(d: dict) -> dict:
    return {
        "amount": d["amount"],
        "currency": d["currency"],
        "reference": d.get("reference"),
        "method": (d.get("method") or "").replace("_", " "),
        "status": d.get("status"),
        "words": DEPOSIT_WORDS.get(d.get("status"), d.get("status")),
        "at": _at(d.get("completed_at") or d.get("requested_at")),
    }


def build(profile: dict) -> dict:
    """Return the portal's view of the client's profile."""
    return {
        "ref": profile["ref"],
        "name": " ".join(filter(None, (profile.get("first_name"), profile.get("last_name")))),
        "email": profile.get("email"),
        "kyc": kyc(profile),
        "details": {k: profile.get(k) or "" for k in ("first_name", "last_name", "phone", "country")},
        "missing_fields": [f.replace("_", " ") for f in (profile.get("kyc") or {}).get("missing_fields") or []],
        "wallets": profile.get("wallets") or {},
        "accounts": [
            {
                "id": a.get("account_id") or a.get("id"),
                "currency": a.get("currency"),
                "balance": a.get("balance"),
                "equity": a.get("equity"),
                "status": a.get("status"),
            }
            for a in profile.get("accounts") or []
        ],
        "withdrawals": [withdrawal(w) for w in profile.get("withdrawals") or []],
        "deposits": [deposit(d) for d in (profile.get("payments") or {}).get("deposits") or []],
        "notifications": [
            {
                "subject": n.get("subject") or (n.get("template") or "").replace("-", " "),
                "at": _at(n.get("created_at")),
                "channel": n.get("channel"),
            }
            for n in profile.get("notifications") or []
        ],
    }
