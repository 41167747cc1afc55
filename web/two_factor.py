"""Two-factor login (TOTP): the code step after the password, enrolment, and the rule
that users of the roles in FXCRM_REQUIRE_2FA_ROLES enrol before anything else."""

from __future__ import annotations

import time

from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, request, session, url_for

from engine.db import unit_of_work
from engine.users import service as users_service
from engine.users import totp
from web import database
from web.auth import current_user, login_required

bp = Blueprint("two_factor", __name__)

# The password step is good for this long; then the user starts again.
PENDING_SECONDS = 300
# Pages a user who must enrol may still reach.
ENROLMENT_ENDPOINTS = {
    "two_factor.account",
    "two_factor.start",
    "two_factor.confirm",
    "auth.logout",
    "auth.login",
    "two_factor.login_code",
    "static",
}


def _pending_user_id() -> int | None:
    started = session.get("pending_at", 0)
    if not session.get("pending_2fa") or time.time() - started > PENDING_SECONDS:
        return None
    return session["pending_2fa"]


@bp.route("/login/2fa", methods=["GET", "POST"])
def login_code():
    """Second sign-in step: the six-digit code from the authenticator app."""
    user_id = _pending_user_id()
    if user_id is None:
        session.clear()
        return redirect(url_for("auth.login"))
    if request.method == "POST":
        with unit_of_work(database()) as s:
            user = s.get(users_service.User, user_id)
            ok = (
                user is not None
                and user.active
                and not users_service.is_locked(s, user_id)
                and totp.verify(s, user_id, request.form.get("code", ""))
            )
            generation = user.session_generation if user is not None else None
            if not ok:
                users_service.record_failed_login(s, user_id, ip=request.remote_addr)
            else:  # the session starts now: a sign-in for rules
                users_service.signed_in(s, user, ip=request.remote_addr)
        if ok:
            target = session.get("pending_next") or url_for("pages.index")
            session.clear()
            session["user_id"], session["generation"] = user_id, generation
            return redirect(target)
        flash("That code is wrong or was already used, or the account is locked for a while.")
    return render_template("login_code.html")


@bp.get("/account/2fa")
@login_required
def account():
    """Show whether two-factor login is on; while enrolling, the secret to add to an app."""
    user = current_user()
    with unit_of_work(database()) as s:
        row = totp.get(s, user.id)
        enrolled = bool(row and row.confirmed_at)
        pending = None if enrolled or row is None else (row.secret, totp.provisioning_uri(row, user.email))
    return render_template("account_2fa.html", enrolled=enrolled, pending=pending, required=_required(user.role))


@bp.post("/account/2fa/start")
@login_required
def start():
    """Create a new secret to add to an authenticator app."""
    user = current_user()
    with unit_of_work(database()) as s:
        if not totp.is_enrolled(s, user.id):
            totp.begin(s, s.get(users_service.User, user.id))
    return redirect(url_for("two_factor.account"))


@bp.post("/account/2fa/confirm")
@login_required
def confirm():
    """Turn two-factor login on with a first code from the app."""
    user = current_user()
    with unit_of_work(database()) as s:
        ok = totp.confirm(s, user.id, request.form.get("code", ""))
    flash(
        "Two-factor login is on." if ok else "That code does not match; check the app's clock and try the current code."
    )
    return redirect(url_for("two_factor.account"))


def _required(role: str) -> bool:
    return role in current_app.extensions["fxcrm_config"].roles_requiring_2fa


@bp.before_app_request
def enforce_enrolment():
    """Send a signed-in user of a role that must use 2FA to enrolment until it is on."""
    if (
        not current_app.extensions["fxcrm_config"].roles_requiring_2fa
        or request.endpoint in ENROLMENT_ENDPOINTS
        or not session.get("user_id")
        or (request.endpoint or "").startswith("health.")
        or request.headers.get("Authorization", "").startswith("Bearer ")
    ):
        return None
    user = current_user()
    if user is None or not _required(user.role):
        return None
    with unit_of_work(database()) as s:
        if totp.is_enrolled(s, user.id):
            return None
    if request.path.startswith("/api/"):
        return jsonify(error="two-factor login must be set up first at /account/2fa"), 403
    return redirect(url_for("two_factor.account"))
