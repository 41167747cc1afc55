"""The task page's answer first: which action is this task's main one, and why it exists.

A task's type is read from what it is about (a bank wire, a withdrawal step, a KYC
decision, documents, a call), not from rule ids, so a new rule with the same facts gets
the same main action. The other actions stay available, folded under "More actions".
"""

from __future__ import annotations

from connectors import bank_camt054

from web.formatting import money as money_text
from web.why_words import document_list, plain_words

OPEN = ("open", "in_progress", "waiting")
# Fact values that say a person should talk to the client rather than decide something.
CALL_FACTS = ("client.accounts.count", "client.deposits.failed.unresolved")


def with_times(task: dict) -> dict:
    """Return the task dict with its times (and its comments' and history's) as datetimes."""
    from web.profile_timeline import at

    times = {k: at(task.get(k)) for k in ("created_at", "due_at", "closed_at", "lease_expires_at")}
    return dict(
        task,
        **times,
        comments=[dict(c, at=at(c.get("at"))) for c in task.get("comments") or []],
        history=[dict(h, at=at(h.get("at"))) for h in task.get("history") or []],
    )


def _facts(task: dict) -> dict:
    facts = (task.get("explanation") or {}).get("facts") or {}
    return facts if isinstance(facts, dict) else {}


def _number(value) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return 0


def _missing_documents(task: dict, client: dict | None) -> list:
    if _number(_facts(task).get("client.kyc.documents.missing_count")) <= 0:
        return []
    return list(((client or {}).get("kyc") or {}).get("missing") or []) or ["the documents named on the profile"]


def kind_of(task: dict, offered: list[str], client: dict | None) -> str:
    """Return the task's type: match_wire, place_delivery (another provider's unmatched
    delivery; tasks opened before it was told apart name no provider and read as a
    wire), withdrawal, request_documents, call_client, kyc_decision or resolve."""
    if (task.get("subject") or {}).get("kind") == "delivery":
        provider = (task.get("data") or {}).get("provider")
        return "match_wire" if provider in (None, bank_camt054.NAME) else "place_delivery"
    if "withdrawal_approve" in offered:
        return "withdrawal"
    kyc = ((client or {}).get("kyc") or {}).get("status")
    if "request_documents" in offered and (
        kyc == "retry" or _number(_facts(task).get("client.kyc.documents.rejected_count")) > 0
    ):
        return "request_documents"
    if _missing_documents(task, client) or any(k in _facts(task) for k in CALL_FACTS):
        return "call_client"
    if "kyc_approve" in offered:
        return "kyc_decision"
    return "resolve"


TITLES = {
    "match_wire": "Match wire",
    "place_delivery": "Retry or drop delivery",
    "withdrawal": "Approve withdrawal step",
    "request_documents": "Request documents",
    "call_client": "Call client",
    "kyc_decision": "Decide on KYC",
    "resolve": "Resolve",
}
# The domain actions each type shows in its main card (the rest go under More actions).
MAIN_ACTIONS = {
    "withdrawal": ("withdrawal_approve", "withdrawal_reject"),
    "request_documents": ("request_documents",),
    "kyc_decision": ("kyc_approve", "kyc_reject"),
    "call_client": (),
    "match_wire": (),
    "place_delivery": (),
    "resolve": (),
}


def withdrawal_step(task: dict, withdrawal: dict | None) -> str | None:
    """Return the approval step the task's withdrawal waits for."""
    step = (task.get("data") or {}).get("withdrawal_step")
    return step or (withdrawal or {}).get("waiting_for") or (withdrawal or {}).get("step")


def main_action(
    task: dict, offered: list[str], client: dict | None, withdrawal_id: str | None, withdrawal: dict | None = None
) -> dict | None:
    """Return the task's main action: its type, title, button and the domain actions in it."""
    if task.get("status") not in OPEN:
        return None
    kind = kind_of(task, offered, client)
    main = {"kind": kind, "title": TITLES[kind], "actions": [a for a in MAIN_ACTIONS[kind] if a in offered]}
    if kind == "withdrawal":
        step = withdrawal_step(task, withdrawal)
        main["step"] = step
        main["button"] = (
            f"Approve {step} step of withdrawal {withdrawal_id}" if step else f"Approve withdrawal {withdrawal_id}"
        )
        main["withdrawal"] = withdrawal
    elif kind in ("match_wire", "place_delivery"):
        main["delivery_id"] = task["subject"]["id"]
        main["provider"] = (task.get("data") or {}).get("provider")
    elif kind == "call_client":
        main["missing"] = _missing_documents(task, client)
        main["missing_names"] = document_list(main["missing"])
    return main


def folded_actions(offered: list[str], main: dict | None) -> list[str]:
    """Return the domain actions not in the main card, for More actions."""
    shown = set(main["actions"]) if main else set()
    return [a for a in offered if a not in shown]


def withdrawal_sentence(w: dict | None) -> str | None:
    """Return what a withdrawal waits for in words, or None."""
    if not w or w.get("status") not in ("pending", "requested"):
        return None
    chain = " → ".join(str(step).replace("_", " ") for step in w.get("chain") or [])
    how = f" by {w['method'].replace('_', ' ')}" if w.get("method") else ""
    waits = (w.get("waiting_for") or w.get("step") or "a decision").replace("_", " ")
    return (
        f"The client asked to withdraw {money_text(w['amount'], w['currency'])}{how}; the approval "
        f"chain is {chain or 'not known'} and it now waits for the {waits} step."
    )


def viewer_when():
    """Return the app's `when` filter when it is a plain function (times in the viewer's zone)."""
    from flask import current_app

    fmt = current_app.jinja_env.filters.get("when")
    return fmt if fmt is not None and not getattr(fmt, "jinja_pass_arg", None) else None


def why(task: dict, explanation: dict | None, client: dict | None, when=None, withdrawal: dict | None = None) -> dict:
    """Return "Why this task" in plain words, with the timer's start when a timer fired it."""
    words = _why(task, explanation, client, when or viewer_when())
    lead = withdrawal_sentence(withdrawal)
    if lead:
        told = {task.get("description"), (task.get("explanation") or {}).get("description")}
        words["summary"] = [lead] + [
            s for s in words["summary"] if s not in told and not s.startswith("A withdrawal was waiting for")
        ]
    return words


def _why(task: dict, explanation: dict | None, client: dict | None, when=None) -> dict:
    raw = task.get("explanation")
    if not raw:
        who = task.get("created_by") or "someone"
        by_hand = "@" in who or who.startswith("cli:")
        text = f"Created by hand by {who}." if by_hand else (task.get("description") or task.get("title") or "")
        return {"summary": [text] if text else [], "timer": None}
    events = (explanation or {}).get("events") or []
    trigger = next(
        ({"type": e.get("type"), "occurred_at": e.get("occurred_at")} for e in events if e.get("found")), None
    )
    missing = ((client or {}).get("kyc") or {}).get("missing")
    return plain_words(raw, missing_now=missing, trigger=trigger, when=when)
