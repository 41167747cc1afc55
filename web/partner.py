"""The partner view: an IB sees its own tree, referred clients and commissions with reasons.

A `partner` user sees only its own IB and the IBs below it; admin, ib_ops and
finance may open any IB's view. Every route checks this; nothing else is shown.
"""
from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for

from engine.db import unit_of_work
from engine.ib import commissions, performance, tree
from engine.ib import partner as partner_view
from engine.ib.profile import own_ib
from web import database
from web.auth import current_user, login_required

bp = Blueprint("partner", __name__, url_prefix="/partner")


def _allowed(session, ib_id: str | None = None) -> list[str] | None:
    """Return the IBs the user may see; abort 403 (no access) or 404 (not in its tree)."""
    user = current_user()
    visible = partner_view.visible_ibs(session, user.role, user.ib_id)
    if visible == []:
        abort(403)
    if ib_id is not None and (tree.get(session, ib_id) is None
                              or (visible is not None and ib_id not in visible)):
        abort(404)
    return visible


@bp.get("")
@login_required
def index():
    """Send a partner to its own IB; list every IB for staff."""
    user = current_user()
    with unit_of_work(database()) as s:
        visible = _allowed(s)
        if visible is not None:
            return redirect(url_for("partner.dashboard", ib_id=user.ib_id))
        ibs = [own_ib(s, i) for i in tree.list_ibs(s)]
    return render_template("partner/index.html", ibs=ibs)


@bp.get("/<ib_id>")
@login_required
def dashboard(ib_id):
    """Show an IB's record, its sub-tree and the performance of each IB in it."""
    with unit_of_work(database()) as s:
        _allowed(s, ib_id)
        below = tree.subtree(s, ib_id)
        data = {**own_ib(s, tree.get(s, ib_id)), "performance": performance.figures(s, below)}
    return render_template("partner/dashboard.html", ib=data)


@bp.get("/<ib_id>/clients")
@login_required
def clients(ib_id):
    """List the clients referred by this IB (or its whole tree with ?tree=1)."""
    with unit_of_work(database()) as s:
        _allowed(s, ib_id)
        ids = tree.subtree(s, ib_id) if request.args.get("tree") else [ib_id]
        rows = partner_view.referred_clients(s, ids)
    return render_template("partner/clients.html", ib_id=ib_id, rows=rows)


@bp.get("/<ib_id>/clients/<ref>")
@login_required
def client(ib_id, ref):
    """Show how a referred client qualifies: checks, trades that counted and why others did not."""
    with unit_of_work(database()) as s:
        _allowed(s, ib_id)
        stats = tree.stats_for(s, ref)
        if stats is None or stats.ib_id not in tree.subtree(s, ib_id):
            abort(404)
        data = partner_view.client_detail(s, stats)
    return render_template("partner/client.html", ib_id=ib_id, c=data, reason=partner_view.reason)


@bp.get("/<ib_id>/commissions")
@login_required
def commission_list(ib_id):
    """List what this IB earned, each with its reason."""
    with unit_of_work(database()) as s:
        _allowed(s, ib_id)
        rows = [commissions.to_dict(c) for c in commissions.list_commissions(s, ib_ids=[ib_id])]
    return render_template("partner/commissions.html", ib_id=ib_id, rows=rows, reason=partner_view.reason)
