"""The partner view: an IB sees its own tree, referred clients and commissions with reasons;
and the payout workflow pages for staff (review, batches, paid).

A `partner` user sees only its own IB and the IBs below it; admin, ib_ops and
finance may open any IB's view. Every route checks this; nothing else is shown.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from sqlalchemy.orm import Session

from engine.db import unit_of_work
from engine.ib import commissions, payouts, performance, tree
from engine.ib import partner as partner_view
from engine.ib.errors import IbError
from engine.ib.models import APPROVED, PENDING_REVIEW
from engine.ib.profile import own_ib
from engine.ib.service import config_for
from web import database
from web.auth import current_user, login_required

bp = Blueprint("partner", __name__, url_prefix="/partner")


def _allowed(session, ib_id: str | None = None) -> list[str] | None:
    """Return the IBs the user may see; abort 403 (no access) or 404 (not in its tree)."""
    user = current_user()
    visible = partner_view.visible_ibs(session, user.role, user.ib_id)
    if visible == []:
        abort(403)
    if ib_id is not None and (tree.get(session, ib_id) is None or (visible is not None and ib_id not in visible)):
        abort(404)
    return visible


@contextmanager
def _ib_session(ib_id: str) -> Iterator[Session]:
    """Open a unit of work on an IB the user may see (abort 403 or 404 before anything is read)."""
    with unit_of_work(database()) as s:
        _allowed(s, ib_id)
        yield s


@bp.get("")
@login_required
def index():
    """Send a partner to its own IB; list every IB for staff."""
    user = current_user()
    with unit_of_work(database()) as s:
        if user.role == "partner" and not partner_view.visible_ibs(s, user.role, user.ib_id):
            return render_template("home.html")  # its IB is not registered (yet)
        visible = _allowed(s)
        if visible is not None:
            return redirect(url_for("partner.dashboard", ib_id=user.ib_id))
        ibs = [own_ib(s, i) for i in tree.list_ibs(s)]
    return render_template("partner/index.html", ibs=ibs)


@bp.get("/<ib_id>")
@login_required
def dashboard(ib_id):
    """Show an IB's record, its sub-tree and the performance of each IB in it."""
    with _ib_session(ib_id) as s:
        below = tree.subtree(s, ib_id)
        data = {**own_ib(s, tree.get(s, ib_id)), "performance": performance.figures(s, below)}
    return render_template("partner/dashboard.html", ib=data)


@bp.get("/<ib_id>/clients")
@login_required
def clients(ib_id):
    """List the clients referred by this IB (or its whole tree with ?tree=1)."""
    with _ib_session(ib_id) as s:
        ids = tree.subtree(s, ib_id) if request.args.get("tree") else [ib_id]
        rows = partner_view.referred_clients(s, ids)
    return render_template("partner/clients.html", ib_id=ib_id, rows=rows)


@bp.get("/<ib_id>/clients/<ref>")
@login_required
def client(ib_id, ref):
    """Show how a referred client qualifies: checks, trades that counted and why others did not."""
    with _ib_session(ib_id) as s:
        stats = tree.stats_for(s, ref)
        if stats is None or stats.ib_id not in tree.subtree(s, ib_id):
            abort(404)
        data = partner_view.client_detail(s, stats)
    return render_template("partner/client.html", ib_id=ib_id, c=data)


@bp.get("/<ib_id>/commissions")
@login_required
def commission_list(ib_id):
    """List what this IB earned, each with its reason."""
    with _ib_session(ib_id) as s:
        show = config_for(s).show_deposit_amounts
        rows = [
            partner_view.for_partner(commissions.to_dict(c), show)
            for c in commissions.list_commissions(s, ib_ids=[ib_id])
        ]
    return render_template("partner/commissions.html", ib_id=ib_id, rows=rows)


# Who may work the payout workflow from the web (the CLI has the same operations).
REVIEW_ROLES = ("admin", "ib_ops", "finance")
PAY_ROLES = ("admin", "finance")


def _staff(roles) -> str:
    """Return the signed-in user's e-mail if its role is in `roles`, else abort 403."""
    user = current_user()
    if user.role not in roles:
        abort(403)
    return user.email


def _apply(allowed, work, done: str):
    """Run `work(session, actor)` for a user whose role is `allowed`; say what happened or why not."""
    actor = _staff(allowed)
    try:
        with unit_of_work(database()) as s:
            work(s, actor)
        flash(done)
    except IbError as exc:
        flash(f"Not done: {exc}")
    return redirect(url_for("partner.payouts_page"))


@bp.get("/payouts")
@login_required
def payouts_page():
    """Commissions to review and payout batches."""
    _staff(REVIEW_ROLES)
    with unit_of_work(database()) as s:
        waiting = [commissions.to_dict(c) for c in commissions.list_commissions(s, status=PENDING_REVIEW)]
        approved = [commissions.to_dict(c) for c in commissions.list_commissions(s, status=APPROVED)]
        batches = [
            {
                "id": b.id,
                "status": b.status,
                "total": b.total,
                "currency": b.currency,
                "task_id": b.task_id,
                "reference": b.reference,
            }
            for b in payouts.list_batches(s)
        ]
    return render_template(
        "partner/payouts.html",
        waiting=waiting,
        approved=approved,
        batches=batches,
        reason=partner_view.reason,
        can_pay=current_user().role in PAY_ROLES,
    )


@bp.post("/commissions/<int:commission_id>/approve")
@login_required
def approve(commission_id):
    """Approve a commission under review."""
    return _apply(
        REVIEW_ROLES,
        lambda s, actor: payouts.approve(s, commission_id=commission_id, actor=actor),
        f"Commission {commission_id} approved.",
    )


@bp.post("/commissions/<int:commission_id>/reject")
@login_required
def reject(commission_id):
    """Reject a commission (and what derives from it) with a reason."""
    reason = request.form.get("reason", "")
    return _apply(
        REVIEW_ROLES,
        lambda s, actor: payouts.reject(s, commission_id=commission_id, actor=actor, reason=reason),
        f"Commission {commission_id} rejected.",
    )


@bp.post("/payouts")
@login_required
def create_batch():
    """Batch the approved commissions of a currency and open the finance task."""
    currency = request.form.get("currency", "USD").strip().upper()
    return _apply(
        PAY_ROLES,
        lambda s, actor: payouts.create_batch(s, actor=actor, currency=currency),
        "Payout batch created; finance has a task to pay it.",
    )


@bp.post("/payouts/<int:batch_id>/paid")
@login_required
def batch_paid(batch_id):
    """Record the payment of a batch."""
    reference = request.form.get("reference", "")
    return _apply(
        PAY_ROLES,
        lambda s, actor: payouts.mark_paid(s, batch_id=batch_id, actor=actor, reference=reference),
        f"Payout batch {batch_id} marked paid.",
    )
