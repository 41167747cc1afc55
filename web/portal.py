"""The client portal (`/portal`): clients register, confirm their e-mail, sign in, send
documents, follow their KYC, wallets, accounts and withdrawals, and write to support.

A client's session is its own (`portal_login`, with the login's generation) and never
a staff session: signing in here ends any staff session in the browser and the staff
pages never read it. Everything a client does is audited as `client:<ref>` and enters
the system as the same events, documents and tasks the back office already works on.
"""

from __future__ import annotations

import secrets
from decimal import Decimal, InvalidOperation
from functools import wraps

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for

from engine.clients import service as clients_service
from engine.db import unit_of_work
from engine.documents import service as documents_service
from engine.documents.storage import StorageError, store_for
from engine.events.catalogue import DOCUMENT_TYPES
from engine.portal import mail
from engine.portal import service as portal
from engine.portal.models import ClientLogin
from engine.processing.ingest import schedule_touched
from web import database, portal_view

bp = Blueprint("portal", __name__, url_prefix="/portal")
WITHDRAWAL_METHODS = {"bank_transfer": "Bank transfer", "card": "Back to my card"}
DEPOSIT_CURRENCIES = ("EUR", "USD", "GBP")
WIRE_PROVIDER = "bank_wire"
MAX_MESSAGE = 5000


def current_login() -> ClientLogin | None:
    """Return the signed-in client's login (a detached row), or None."""
    if "portal_login" in g:
        return g.portal_login
    g.portal_login = None
    if session.get("portal_login"):
        with unit_of_work(database()) as s:
            login = s.get(ClientLogin, session["portal_login"])
            if login is not None and login.session_generation == session.get("portal_generation"):
                s.expunge(login)
                g.portal_login = login
    return g.portal_login


def client_required(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        if current_login() is None:
            return redirect(url_for("portal.login"))
        return view(*args, **kwargs)

    return wrapped


def _link(endpoint: str, token: str) -> str:
    return url_for(endpoint, token=token, _external=True)


def _send(login_email: str, purpose: str, endpoint: str, token: str) -> bool:
    return mail.send_link(database().config, to=login_email, purpose=purpose, link=_link(endpoint, token))


@bp.route("/register", methods=["GET", "POST"])
def register():
    """Open an account: the client is created by its registration event."""
    form, error = request.form, None
    if request.method == "POST":
        db = database()
        try:
            with unit_of_work(db) as s:
                login, token = portal.register(
                    s,
                    email=form.get("email", ""),
                    password=form.get("password", ""),
                    first_name=form.get("first_name", ""),
                    last_name=form.get("last_name", ""),
                    country=form.get("country", ""),
                    phone=form.get("phone", ""),
                )
                email = login.email
                schedule_touched(s, db)
        except portal.PortalError as exc:
            error = str(exc)
        else:
            sent = _send(email, "verify", "portal.verify", token)
            return render_template(
                "portal/message.html",
                title="Check your e-mail",
                message=(
                    f"We sent a link to {email}. Open it to confirm your address, then sign in."
                    if sent
                    else "We could not send the confirmation e-mail just now. "
                    "Write to our support team and we will confirm your address."
                ),
            )
    return render_template("portal/register.html", form=form, error=error), 400 if error else 200


@bp.get("/verify/<token>")
def verify(token: str):
    try:
        with unit_of_work(database()) as s:
            portal.confirm_email(s, token)
    except portal.PortalError as exc:
        return render_template("portal/message.html", title="This link does not work", message=str(exc)), 400
    flash("Your e-mail is confirmed. Sign in to continue.")
    return redirect(url_for("portal.login"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        login_id = generation = None
        with unit_of_work(database()) as s:  # a failure commits too: its counter, audit and event
            try:
                found = portal.authenticate(s, request.form.get("email", ""), request.form.get("password", ""))
                login_id, generation = found.id, found.session_generation
            except portal.PortalError as exc:
                error = str(exc)
        if login_id is not None:
            session.clear()  # no staff session survives a client's sign-in, and a fresh CSRF
            session["portal_login"], session["portal_generation"] = login_id, generation
            return redirect(url_for("portal.home"))
    return render_template("portal/login.html", error=error), 401 if error else 200


@bp.post("/logout")
def logout():
    session.pop("portal_login", None)
    session.pop("portal_generation", None)
    flash("You are signed out.")
    return redirect(url_for("portal.login"))


@bp.route("/reset", methods=["GET", "POST"])
def reset_request():
    if request.method == "POST":
        with unit_of_work(database()) as s:
            found = portal.request_reset(s, request.form.get("email", ""))
            pending = (found[0].email, found[1]) if found else None
        if pending:
            _send(pending[0], "reset", "portal.reset", pending[1])
        return render_template(
            "portal/message.html",
            title="Check your e-mail",
            message=("If an account uses this address, we sent it a link to choose a new password."),
        )
    return render_template("portal/reset_request.html")


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset(token: str):
    error = None
    if request.method == "POST":
        try:
            with unit_of_work(database()) as s:
                portal.reset_password(s, token, request.form.get("password", ""))
        except portal.PortalError as exc:
            error = str(exc)
        else:
            session.pop("portal_login", None)
            flash("Your password is changed. Sign in with it.")
            return redirect(url_for("portal.login"))
    return render_template("portal/reset.html", error=error), 400 if error else 200


@bp.get("")
@client_required
def home():
    """The client's own record: KYC and documents, money, accounts, withdrawals, messages."""
    login = current_login()
    with unit_of_work(database()) as s:
        client = clients_service.get_by_ref(s, login.client_ref)
        if client is None:  # registered a moment ago: its event is still being applied
            return render_template(
                "portal/message.html",
                title="Your account is being set up",
                message="Reload this page in a few seconds.",
                refresh=True,
            )
        view = portal_view.build(clients_service.profile(s, client))
    needed = view["kyc"]["missing"] + [t for t in DOCUMENT_TYPES if t not in view["kyc"]["missing"]]
    cfg = database().config
    bank = (
        {"beneficiary": cfg.bank_wire_beneficiary, "iban": cfg.bank_wire_iban, "bic": cfg.bank_wire_bic}
        if cfg.bank_wire_iban
        else None
    )
    return render_template(
        "portal/home.html",
        v=view,
        methods=WITHDRAWAL_METHODS,
        document_labels=portal_view.document_labels(needed),
        bank=bank,
        deposit_currencies=DEPOSIT_CURRENCIES,
    )


def _home(anchor: str = "", said: str | None = None):
    """Go back to a section of the client's page, saying first what happened (or why not)."""
    if said is not None:
        flash(said)
    return redirect(url_for("portal.home") + anchor)


@bp.post("/documents")
@client_required
def upload():
    """Send a document: checked, stored, and submitted like any other."""
    login, db = current_login(), database()
    limit = db.config.document_max_bytes
    sent = request.files.get("file")
    data = sent.stream.read(limit + 1) if sent else b""
    try:
        with unit_of_work(db) as s:
            client = clients_service.get_by_ref(s, login.client_ref)
            got = documents_service.receive(
                s,
                store_for(db.config),
                client=client,
                document_type=request.form.get("document_type", ""),
                data=data,
                declared_type=sent.mimetype if sent else None,
                file_name=sent.filename if sent else None,
                actor=portal.actor(login),
                source="portal",
                max_bytes=limit,
            )
            schedule_touched(s, db)
    except documents_service.DocumentError as exc:
        return _home("#documents", f"Not sent: {exc}")
    except StorageError:
        return _home("#documents", "Not sent: we could not store the file just now. Try again in a minute.")
    return _home("#documents", f"Thank you: {got.file.file_name} is sent and under review.")


def _amount(text: str) -> Decimal:
    try:
        amount = Decimal((text or "").strip())
    except InvalidOperation:
        raise ValueError("write the amount as a number, like 250.00") from None
    if not amount.is_finite() or amount <= 0 or amount.as_tuple().exponent < -2:
        raise ValueError("the amount must be more than 0, with at most 2 decimals")
    return amount


def _client_event(
    session, db, login: ClientLogin, event_id: str, event_type: str, data: dict, *, audit: tuple[str, dict]
) -> None:
    """Record what the client asked for as the event the back office already handles, audit
    it as the client's action (with the amount), and hand it to processing after commit."""
    portal.record_event(session, login.client_ref, event_id, event_type, data)
    action, detail = audit
    portal.audit(session, login, action, detail={**detail, "amount": data["amount"], "currency": data["currency"]})
    schedule_touched(session, db)


@bp.post("/withdrawals")
@client_required
def withdraw():
    """Ask for a withdrawal: it enters the approval chain like one the broker's site sends."""
    from engine.payments import ledger

    login, db, form = current_login(), database(), request.form
    currency, method = form.get("currency", ""), form.get("method", "")
    try:
        amount = _amount(form.get("amount", ""))
        if method not in WITHDRAWAL_METHODS:
            raise ValueError("choose how you want to be paid")
        with unit_of_work(db) as s:
            available = ledger.balances(s, login.client_ref).get(currency)
            if available is None:
                raise ValueError("you have no wallet in this currency")
            if amount > available:
                raise ValueError(f"you have {ledger.fmt(available)} {currency} available")
            wid = f"PW-{secrets.token_hex(6).upper()}"
            _client_event(
                s,
                db,
                login,
                f"withdrawal-{wid}",
                "payment.withdrawal_requested",
                {"withdrawal_id": wid, "amount": str(amount), "currency": currency, "method": method},
                audit=("portal.withdrawal_requested", {"withdrawal": wid}),
            )
    except ValueError as exc:
        return _home("#withdrawals", f"Not requested: {exc}")
    return _home("#withdrawals", f"Withdrawal {wid} of {amount} {currency} requested.")


@bp.post("/deposits")
@client_required
def deposit():
    """Ask to deposit by bank wire: the client gets a reference the bank import matches."""
    login, db, form = current_login(), database(), request.form
    currency = form.get("currency", "")
    try:
        if not db.config.bank_wire_iban:
            raise ValueError("bank wire deposits are not set up; write to support")
        amount = _amount(form.get("amount", ""))
        if currency not in DEPOSIT_CURRENCIES:
            raise ValueError(f"choose one of {', '.join(DEPOSIT_CURRENCIES)}")
        reference = f"{login.client_ref}-{secrets.token_hex(3).upper()}"
        with unit_of_work(db) as s:
            _client_event(
                s,
                db,
                login,
                f"deposit-{reference}",
                "payment.deposit_requested",
                {
                    "payment_id": f"WIRE-{reference}",
                    "amount": str(amount),
                    "currency": currency,
                    "method": "bank_transfer",
                    "provider": WIRE_PROVIDER,
                    "reference": reference,
                },
                audit=("portal.deposit_requested", {"reference": reference}),
            )
    except ValueError as exc:
        return _home("#deposits", f"Not requested: {exc}")
    return _home(
        "#deposits",
        f"Send {amount} {currency} by bank transfer with the reference {reference}: "
        "your wallet is credited when the bank reports it.",
    )


@bp.post("/transfers")
@client_required
def transfer():
    """Move money between the wallet and one of the client's trading accounts."""
    from engine.payments import ledger, transfers

    login, form = current_login(), request.form
    source, destination, currency = form.get("from", ""), form.get("to", ""), form.get("currency", "")
    try:
        amount = _amount(form.get("amount", ""))
        tid = f"PT-{secrets.token_hex(6).upper()}"
        with unit_of_work(database()) as s:
            transfers.transfer(
                s,
                client_ref=login.client_ref,
                transfer_id=tid,
                source=source,
                destination=destination,
                amount=amount,
                currency=currency,
                actor=portal.actor(login),
            )
            moved = {"transfer": tid, "from": source, "to": destination, "amount": str(amount), "currency": currency}
            portal.audit(s, login, "portal.transfer", detail=moved)
    except (ValueError, ledger.LedgerError) as exc:
        return _home("#money", f"Not moved: {exc}")
    return _home("#money", f"Moved {amount} {currency} from {source} to {destination}.")


@bp.post("/details")
@client_required
def details():
    """Change the details the client may edit (name, phone, country)."""
    login, db = current_login(), database()
    try:
        with unit_of_work(db) as s:
            changed = portal.update_details(s, login, request.form)
            schedule_touched(s, db)
    except portal.PortalError as exc:
        return _home("#details", f"Not saved: {exc}")
    return _home("#details", "Your details are saved." if changed else "Nothing changed.")


@bp.post("/support")
@client_required
def support():
    """Write to support: a task in the support queue, with the client's words."""
    from engine.tasks import service as tasks_service

    login, form = current_login(), request.form
    subject, message = form.get("subject", "").strip(), form.get("message", "").strip()
    if (
        not subject
        or not message
        or len(subject) > 200
        or len(message) > MAX_MESSAGE
        or not portal.plain(subject)
        or not portal.plain(message)
    ):
        return _home(
            "#support",
            f"Not sent: write a subject (up to 200 characters) and a message (up to {MAX_MESSAGE:,}), as plain text",
        )
    try:
        with unit_of_work(database()) as s:
            task = tasks_service.create_manual(
                s,
                queue="support",
                title=f"Client message: {subject}",
                actor=portal.actor(login),
                client_ref=login.client_ref,
                description=message,
            )
            portal.audit(s, login, "portal.support_message", reason=subject, detail={"task": task.id})
    except tasks_service.TaskError as exc:
        return _home("#support", f"Not sent: {exc}")
    return _home("#support", "Thank you: our support team has your message and will answer by e-mail.")


@bp.context_processor
def _signed_in() -> dict:
    return {"client_signed_in": current_login() is not None}
