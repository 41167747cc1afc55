"""A user's own account: change the password (forced after an admin's reset), the time zone."""

from __future__ import annotations

from zoneinfo import available_timezones

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for

from engine.db import unit_of_work
from engine.users import service as users_service
from web import database
from web.auth import current_user, login_required

bp = Blueprint("account", __name__, url_prefix="/account")

# What a user who must change the password may still reach.
ALLOWED_WHILE_FORCED = {"account.password", "auth.logout", "auth.login", "static"}


@bp.before_app_request
def force_password_change():
    """Send a user with a temporary password to the change page before anything else."""
    if request.endpoint in ALLOWED_WHILE_FORCED or "Authorization" in request.headers:
        return None
    user = current_user()
    if user is not None and user.must_change_password:
        return redirect(url_for("account.password"))
    return None


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password():
    """Change the signed-in user's password; other sessions end, this one stays."""
    if request.method == "POST":
        new = request.form.get("new_password", "")
        if new != request.form.get("confirm_password", ""):
            flash("Not changed: the two new passwords differ.")
            return render_template("account_password.html"), 400
        try:
            with unit_of_work(database()) as s:
                user = users_service.get(s, current_user().id)
                users_service.change_password(s, user, current=request.form.get("current_password", ""), new=new)
                session["generation"] = user.session_generation
        except users_service.UserError as exc:
            flash(f"Not changed: {exc}.")
            return render_template("account_password.html"), 400
        flash("Password changed. Other sessions of yours have been signed out.")
        return redirect(url_for("pages.index"))
    return render_template("account_password.html")


@bp.route("/time-zone", methods=["GET", "POST"])
@login_required
def time_zone():
    """Choose the IANA time zone this user reads every time in (empty: UTC)."""
    if request.method == "POST":
        chosen = request.form.get("time_zone", "")
        try:
            with unit_of_work(database()) as s:
                user = users_service.get(s, current_user().id)
                if user is None:
                    abort(404)
                users_service.set_time_zone(s, user, chosen)
                saved = user.time_zone
        except users_service.UserError as exc:
            flash(f"Not changed: {exc}.")
            return _time_zone_page(chosen), 400
        flash(f"Times now show in {saved or 'UTC'}.")
        return redirect(url_for("account.time_zone"))
    return _time_zone_page(current_user().time_zone or "")


def _time_zone_page(value: str):
    return render_template("account_time_zone.html", value=value, zones=sorted(available_timezones()))
