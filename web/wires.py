"""Bank wires: the unmatched-delivery queue, manual match or return, camt.054 upload, and
Retry for a kept MT5 deal whose cause was fixed.

Finance and admin decide (`wires.match`); compliance may look (`wires.view`).
Every decision goes through engine.deliveries.wires, the same services the CLI uses.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

import connectors
from engine.db import unit_of_work
from engine.deliveries import mt5_retry
from engine.deliveries import replay as replay_mod
from engine.deliveries import service as deliveries_service
from engine.deliveries import wires as wires_service
from engine.deliveries.models import UNMATCHED
from engine.values import utcnow
from web import database
from web.auth import current_user, requires

bp = Blueprint("wires", __name__)
MAX_UPLOAD = 5 * 1024 * 1024


@bp.get("/wires")
@requires("wires.view")
def queue():
    """List the unmatched wires and deliveries, oldest first."""
    with unit_of_work(database()) as s:
        rows = [{"row": r, "credit": wires_service.credit_of(r)} for r in wires_service.list_unmatched(s)]
        return render_template("wires/queue.html", rows=rows)


@bp.get("/wires/<int:delivery_id>")
@requires("wires.view")
def wire(delivery_id: int):
    """Show one unmatched delivery with the candidates a search finds."""
    args = request.args
    with unit_of_work(database()) as s:
        row = deliveries_service.get(s, delivery_id)
        if row is None:
            abort(404)
        credit = wires_service.credit_of(row)
        query = args.get("q", (credit or {}).get("reference") or "")
        amount = args.get("amount", (credit or {}).get("amount") or "")
        found = wires_service.candidates(s, query=query, amount=amount, currency=(credit or {}).get("currency", ""))
        return render_template(
            "wires/wire.html",
            row=row,
            credit=credit,
            found=found,
            query=query,
            amount=amount,
            open=row.status == UNMATCHED,
            retryable=mt5_retry.retryable(row),
            record=_record_of(row) if credit is None else None,
            deal=mt5_retry.summary(row) if mt5_retry.retryable(row) else [],
        )


def _record_of(row) -> list[tuple[str, str]]:
    """The kept record's fields, for an operator to see what could not be placed."""
    import json

    try:
        record = json.loads(row.body or "")
    except ValueError:
        return []
    if not isinstance(record, dict):
        return []
    record.pop(mt5_retry.POLL_KEY, None)
    return [(str(k), json.dumps(v) if isinstance(v, (dict, list)) else str(v)) for k, v in record.items()]


@bp.post("/wires/<int:delivery_id>/match")
@requires("wires.match")
def match(delivery_id: int):
    """Match a bank wire to a client (and deposit request) by hand."""
    form = request.form
    deposit = form.get("deposit_id", "").strip()
    try:
        with unit_of_work(database()) as s:
            wires_service.match(
                s,
                delivery_id=delivery_id,
                client_ref=form.get("client_ref", ""),
                deposit_id=int(deposit) if deposit.isdigit() else None,
                actor=current_user().email,
                note=form.get("note"),
            )
    except wires_service.WireError as exc:
        flash(f"Not matched: {exc}")
        return redirect(url_for("wires.wire", delivery_id=delivery_id))
    flash(
        f"Wire #{delivery_id} matched to client {form.get('client_ref', '').strip()}; "
        "the wallet is credited when the deposit is processed."
    )
    return redirect(url_for("wires.queue"))


@bp.post("/wires/<int:delivery_id>/return")
@requires("wires.match")
def return_wire(delivery_id: int):
    """Return an unmatched wire with a reason."""
    try:
        with unit_of_work(database()) as s:
            wires_service.return_delivery(
                s, delivery_id=delivery_id, actor=current_user().email, reason=request.form.get("reason", "")
            )
    except wires_service.WireError as exc:
        flash(f"Not returned: {exc}")
        return redirect(url_for("wires.wire", delivery_id=delivery_id))
    flash(f"Wire #{delivery_id} returned.")
    return redirect(url_for("wires.queue"))


@bp.post("/wires/<int:delivery_id>/retry")
@requires("wires.match")
def retry(delivery_id: int):
    """Place a kept MT5 deal again, once its cause is fixed."""
    try:
        with unit_of_work(database()) as s:
            done = mt5_retry.retry(s, delivery_id=delivery_id, actor=current_user().email)
    except wires_service.WireError as exc:
        flash(f"Still unmatched: {exc}")
        return redirect(url_for("wires.wire", delivery_id=delivery_id))
    flash(f"Delivery #{delivery_id} {done.message}.")
    return redirect(url_for("wires.queue"))


@bp.route("/wires/upload", methods=["GET", "POST"])
@requires("wires.match")
def upload():
    """Import a camt.054 file through the same path as `fxcrm connectors replay`."""
    if request.method == "GET":
        return render_template("wires/upload.html", report=None, error=None, name=None)
    file = request.files.get("file")
    data = file.read(MAX_UPLOAD + 1) if file else b""
    name = (file.filename if file else None) or "upload"
    error, report = None, None
    if not data:
        error = "choose a camt.054 file to upload"
    elif len(data) > MAX_UPLOAD:
        error = f"{name}: the file is larger than {MAX_UPLOAD // (1024 * 1024)} MB"
    else:
        try:
            report = replay_mod.replay_camt054(database(), data, utcnow())
        except connectors.MalformedPayload as exc:
            error = f"{name}: {exc.reason}; nothing was imported"
    return render_template("wires/upload.html", report=report, error=error, name=name), (400 if error else 200)
