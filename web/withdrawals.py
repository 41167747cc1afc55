"""The withdrawals pages: what waits for whom, and approve or reject a step of the chain."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from engine.clients import service as clients_service
from engine.db import unit_of_work
from engine.payments import withdrawals as withdrawals_service
from engine.payments.models import WAITING_FOR, WITHDRAWAL_STATUSES
from engine.users.permissions import can_see_queue
from engine.values import utcnow
from web import database
from web.auth import current_user, requires
from web.viewhelpers import safe_next

bp = Blueprint("withdrawals", __name__)

WAITING_WORDS = {
    "compliance": "waiting for compliance",
    "finance": "waiting for finance",
    "payment_provider": "waiting for the payment provider",
    "client_documents": "waiting for client documents",
    "funds": "waiting for funds",
}
AGES = {"1h": timedelta(hours=1), "1d": timedelta(days=1), "3d": timedelta(days=3), "7d": timedelta(days=7)}


class BadFilter(ValueError):
    """A filter of the list is not one the page knows."""


@bp.app_template_filter("waiting_words")
def waiting_words(waiting_for: str | None) -> str:
    """Say in words who a withdrawal waits for."""
    return WAITING_WORDS.get(waiting_for or "", f"waiting for {waiting_for}" if waiting_for else "")


@bp.app_template_filter("age")
def age(when) -> str:
    """Say how long ago `when` was, roughly (minutes, hours or days)."""
    seconds = max(0, int((utcnow() - when).total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def _filters(args) -> dict:
    """Read and check the list's filters; an unknown value raises BadFilter naming it."""
    status = args.get("status", "pending")
    waiting_for = args.get("waiting_for", "")
    currency = args.get("currency", "").strip().upper()
    older = args.get("older_than", "")
    if status not in (*WITHDRAWAL_STATUSES, "any"):
        raise BadFilter(f"status: unknown {status!r}; use one of {', '.join(WITHDRAWAL_STATUSES)} or any")
    if waiting_for and waiting_for not in WAITING_FOR:
        raise BadFilter(f"waiting_for: unknown {waiting_for!r}; use one of {', '.join(WAITING_FOR)}")
    if currency and not (len(currency) == 3 and currency.isascii() and currency.isalpha()):
        raise BadFilter(f"currency: {currency!r} is not a three-letter currency code")
    if older and older not in AGES:
        raise BadFilter(f"older_than: unknown {older!r}; use one of {', '.join(AGES)}")
    return {"status": status, "waiting_for": waiting_for, "currency": currency, "older_than": older}


def _row(w) -> dict:
    data = withdrawals_service.to_dict(w)
    data["requested"] = w.requested_at
    data["client"] = w.client_ref
    return data


@bp.get("/withdrawals")
@requires("withdrawals.view")
def index():
    """List withdrawals (pending by default) with the step each waits for and who decided."""
    try:
        f = _filters(request.args)
    except BadFilter as exc:
        return render_template(
            "withdrawals/index.html", rows=[], f=request.args, error=str(exc), names={}, **_choices()
        ), 400
    with unit_of_work(database()) as s:
        found = withdrawals_service.search(
            s,
            status=None if f["status"] == "any" else f["status"],
            waiting_for=f["waiting_for"] or None,
            currency=f["currency"] or None,
            requested_before=utcnow() - AGES[f["older_than"]] if f["older_than"] else None,
        )
        rows = [_row(w) for w in found]
        names = _names(s, {r["client"] for r in rows})
    return render_template(
        "withdrawals/index.html",
        rows=rows,
        f=f,
        error=None,
        names=names,
        can_decide=current_user().can("withdrawals.approve"),
        **_choices(),
    )


def _choices() -> dict:
    return {"statuses": WITHDRAWAL_STATUSES, "steps": WAITING_FOR, "ages": tuple(AGES)}


def _names(session, refs) -> dict:
    names = {}
    for ref in refs:
        client = clients_service.get_by_ref(session, ref)
        if client is not None:
            names[ref] = " ".join(p for p in (client.first_name, client.last_name) if p) or ""
    return names


def _detail(session, withdrawal_id: str) -> dict:
    """Gather the withdrawal, its client's KYC, balances, deposits and the related tasks."""
    withdrawal = withdrawals_service.get(session, withdrawal_id)
    if withdrawal is None:
        abort(404, description=f"no withdrawal {withdrawal_id}")
    client = clients_service.get_by_ref(session, withdrawal.client_ref)
    p = clients_service.profile(session, client) if client is not None else {}
    role = current_user().role
    tasks = [
        t
        for t in p.get("tasks", [])
        if can_see_queue(role, t["queue"])
        and (withdrawal_id in (t["title"] or "") or withdrawal_id in str(t["explanation"]))
    ]
    return {
        "w": _row(withdrawal),
        "p": p,
        "tasks": tasks,
        "steps": withdrawals_service.chain_view(session, withdrawal),
        "hold": withdrawals_service.hold_state(session, withdrawal),
    }


@bp.get("/withdrawals/<withdrawal_id>")
@requires("withdrawals.view")
def show(withdrawal_id):
    """Show one withdrawal: what it waits for, its chain of decisions, the hold and the client."""
    with unit_of_work(database()) as s:
        data = _detail(s, withdrawal_id)
    return render_template(
        "withdrawals/show.html", error=None, **data, can_decide=current_user().can("withdrawals.approve")
    )


def _refuse(withdrawal_id: str, message: str, status: int):
    """Show the withdrawal again with why the decision was refused; nothing was stored."""
    with unit_of_work(database()) as s:
        data = _detail(s, withdrawal_id)
    return render_template(
        "withdrawals/show.html", error=message, **data, can_decide=current_user().can("withdrawals.approve")
    ), status


def _status_of(exc: withdrawals_service.WithdrawalError) -> int:
    if isinstance(exc, withdrawals_service.WithdrawalForbidden):
        return 403
    return 409  # decided meanwhile, closed, or waiting for someone else


@bp.post("/withdrawals/<withdrawal_id>/<verb>")
@requires("withdrawals.approve")
def decide(withdrawal_id, verb):
    """Approve or reject the withdrawal's current step as the signed-in user."""
    if verb not in ("approve", "reject"):
        abort(404)
    user = current_user()
    with unit_of_work(database()) as s:
        if withdrawals_service.get(s, withdrawal_id) is None:
            abort(404, description=f"no withdrawal {withdrawal_id}")
    text = (request.form.get("reason" if verb == "reject" else "note") or "").strip()
    if verb == "reject" and not text:
        return _refuse(
            withdrawal_id,
            "Reject: give a reason (it is shown to the client's handlers and recorded in the audit log).",
            400,
        )
    try:
        with unit_of_work(database()) as s:
            if verb == "approve":
                w = withdrawals_service.approve(
                    s, withdrawal_id=withdrawal_id, actor=user.email, role=user.role, note=text or None
                )
            else:
                w = withdrawals_service.reject(
                    s, withdrawal_id=withdrawal_id, actor=user.email, role=user.role, reason=text
                )
            outcome = w.status if w.status != "pending" else waiting_words(w.waiting_for)
    except withdrawals_service.WithdrawalError as exc:
        return _refuse(withdrawal_id, str(exc), _status_of(exc))
    flash(f"Withdrawal {withdrawal_id} {'approved' if verb == 'approve' else 'rejected'}: now {outcome}.")
    return redirect(safe_next(url_for("withdrawals.show", withdrawal_id=withdrawal_id)))
