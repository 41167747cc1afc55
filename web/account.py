"""A user's own account: change the password (forced after an admin's reset)."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for

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
                users_service.change_password(s, user, current=request.form.get(
                    "current_password", ""), new=new)
                session["generation"] = user.session_generation
        except users_service.UserError as exc:
            flash(f"Not changed: {exc}.")
            return render_template("account_password.html"), 400
        flash("Password changed. Other sessions of yours have been signed out.")
        return redirect(url_for("pages.index"))
    return render_template("account_password.html")
