"""Login, logout, the current user, and role checks for pages and the API."""

from __future__ import annotations

import time
from functools import wraps

from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, session, url_for

from engine.db import unit_of_work
from engine.users import permissions
from engine.users import service as users_service
from engine.users import totp
from web import database

bp = Blueprint("auth", __name__)


class CurrentUser:
    """The signed-in user as the web layer sees it (detached from any session)."""

    def __init__(self, user):
        self.id, self.email, self.role, self.ib_id = user.id, user.email, user.role, user.ib_id
        self.must_change_password = bool(user.must_change_password)
        self.time_zone = user.time_zone  # None: UTC (web.formatting.viewer_zone)

    def can(self, action: str) -> bool:
        return permissions.can(self.role, action)


def current_user() -> CurrentUser | None:
    """Return the user of this request (session cookie or bearer token), or None."""
    if "user" in g:
        return g.user
    g.user = None
    header = request.headers.get("Authorization", "")
    with unit_of_work(database()) as s:
        if header.startswith("Bearer "):
            user = users_service.user_for_token(s, header[7:].strip())
        elif session.get("user_id"):
            user = s.get(users_service.User, session["user_id"])
            user = user if _session_is_current(user) else None
        else:
            user = None
        g.user = CurrentUser(user) if user else None
    return g.user


def _session_is_current(user) -> bool:
    """Accept the cookie only for an active user whose generation it carries."""
    return user is not None and user.active and session.get("generation") == user.session_generation


def login_required(view):
    """Redirect to /login when nobody is signed in."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if current_user() is None:
            return redirect(url_for("auth.login", next=request.path))
        return view(*args, **kwargs)

    return wrapped


def requires(action: str):
    """Allow the view only to users whose role may perform `action`."""

    def decorate(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            user = current_user()
            if user is None:
                if request.path.startswith("/api/"):
                    return jsonify(error="authentication required"), 401
                return redirect(url_for("auth.login", next=request.path))
            if not user.can(action):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorate


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with email and password (locked for a while after repeated failures)."""
    if request.method == "POST":
        email = request.form.get("email", "")
        with unit_of_work(database()) as s:
            user = users_service.authenticate(s, email, request.form.get("password", ""), ip=request.remote_addr)
            user_id, generation = (user.id, user.session_generation) if user else (None, None)
            needs_code = bool(user) and totp.is_enrolled(s, user.id)
            if user and not needs_code:  # the session starts now: a sign-in for rules
                users_service.signed_in(s, user, ip=request.remote_addr)
        if user_id:
            target = request.args.get("next", "")
            target = target if target.startswith("/") and not target.startswith("//") else url_for("pages.index")
            session.clear()
            if needs_code:  # the password was right; the session starts after the code
                session.update(pending_2fa=user_id, pending_next=target, pending_at=time.time())
                return redirect(url_for("two_factor.login_code"))
            session["user_id"], session["generation"] = user_id, generation
            return redirect(target)
        flash("Wrong email or password, or the account is locked for a while.")
    return render_template("login.html")


@bp.post("/logout")
def logout():
    """Sign out, ending every copy of this session's cookie."""
    user = current_user()
    if user is not None and session.get("user_id") == user.id:
        with unit_of_work(database()) as s:
            users_service.end_sessions(s, s.get(users_service.User, user.id))
    session.clear()
    return redirect(url_for("auth.login"))


@bp.app_context_processor
def inject_user():
    return {"user": current_user()}
