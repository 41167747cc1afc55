"""Staff users page (admin only): create, deactivate, re-role, reset passwords, API tokens."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from engine.db import unit_of_work
from engine.users import service as users_service
from engine.users import totp
from engine.users.models import ROLES
from web import database
from web.auth import current_user, requires

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.after_request
def no_store(response):
    """Keep shown-once passwords and tokens out of every cache."""
    response.headers["Cache-Control"] = "no-store"
    return response


def _form(name: str) -> str | None:
    return (request.form.get(name) or "").strip() or None


def _user_or_404(s, user_id: int):
    user = users_service.get(s, user_id)
    if user is None:
        abort(404)
    return user


@bp.get("/users")
@requires("users.manage")
def users():
    """List staff users with their state and token counts."""
    with unit_of_work(database()) as s:
        rows = [_row(u) for u in users_service.list_all(s)]
    return render_template("admin/users.html", rows=rows, roles=ROLES, form={})


def _row(user) -> dict:
    live = [t for t in user.tokens if t.revoked_at is None]
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "active": user.active,
        "ib_id": user.ib_id,
        "tokens": len(live),
        "must_change_password": user.must_change_password,
    }


@bp.post("/users")
@requires("users.manage")
def create_user():
    """Create a user; show the password once."""
    try:
        with unit_of_work(database()) as s:
            user, password = users_service.create(
                s,
                email=request.form.get("email", ""),
                role=request.form.get("role", ""),
                password=_form("password"),
                name=_form("name"),
                ib_id=_form("ib_id"),
                actor=current_user().email,
            )
            email = user.email
    except users_service.UserError as exc:
        with unit_of_work(database()) as s:
            rows = [_row(u) for u in users_service.list_all(s)]
        flash(f"Not created: {exc}.")
        return render_template("admin/users.html", rows=rows, roles=ROLES, form=request.form), 400
    return render_template("admin/secret.html", email=email, what="password", secret=password)


@bp.get("/users/<int:user_id>")
@requires("users.manage")
def user(user_id: int):
    """Show one user, the actions on it, and its API tokens."""
    with unit_of_work(database()) as s:
        target = _user_or_404(s, user_id)
        row = {**_row(target), "two_factor": totp.is_enrolled(s, target.id)}
        tokens = [
            {
                "id": t.id,
                "prefix": t.prefix,
                "created_at": t.created_at,
                "expires_at": t.expires_at,
                "last_used_at": t.last_used_at,
                "revoked_at": t.revoked_at,
            }
            for t in users_service.list_tokens(s, target)
        ]
    return render_template("admin/user.html", row=row, tokens=tokens, roles=ROLES)


def _change(user_id: int, change, done: str):
    """Apply `change(session, user, actor)`; flash the result and return to the user page."""
    try:
        with unit_of_work(database()) as s:
            change(s, _user_or_404(s, user_id), current_user().email)
        flash(done)
    except users_service.UserError as exc:
        flash(f"Not changed: {exc}.")
    return redirect(url_for("admin.user", user_id=user_id))


def _change_with_reason(user_id: int, act, done: str):
    """Apply `act(session, user, actor=..., reason=...)` with the reason the form gives."""
    reason = _form("reason")
    return _change(user_id, lambda s, u, actor: act(s, u, actor=actor, reason=reason), done)


@bp.post("/users/<int:user_id>/deactivate")
@requires("users.manage")
def deactivate(user_id: int):
    """Deactivate a user: sessions and tokens stop working at once."""
    return _change_with_reason(
        user_id, users_service.deactivate, "Deactivated; their sessions and tokens no longer work."
    )


@bp.post("/users/<int:user_id>/activate")
@requires("users.manage")
def activate(user_id: int):
    """Reactivate a user."""
    return _change_with_reason(user_id, users_service.activate, "Reactivated.")


@bp.post("/users/<int:user_id>/role")
@requires("users.manage")
def role(user_id: int):
    """Change a user's role (ends their sessions)."""
    new, ib_id, reason = request.form.get("role", ""), _form("ib_id"), _form("reason")
    return _change(
        user_id,
        lambda s, u, actor: users_service.set_role(s, u, role=new, ib_id=ib_id, actor=actor, reason=reason),
        f"Role changed to {new}.",
    )


@bp.post("/users/<int:user_id>/reset-password")
@requires("users.manage")
def reset_password(user_id: int):
    """Set a temporary password, shown once; the user must change it at next login."""
    with unit_of_work(database()) as s:
        target = _user_or_404(s, user_id)
        password = users_service.reset_password(s, target, actor=current_user().email, reason=_form("reason"))
        email = target.email
    return render_template(
        "admin/secret.html", email=email, what="temporary password", secret=password, user_id=user_id
    )


@bp.post("/users/<int:user_id>/reset-2fa")
@requires("users.manage")
def reset_two_factor(user_id: int):
    """Turn off a user's two-factor login (lost phone); they enrol again."""
    return _change_with_reason(
        user_id, users_service.reset_two_factor, "Two-factor login reset; they enrol again at next login."
    )


@bp.post("/users/<int:user_id>/tokens")
@requires("users.manage")
def issue_token(user_id: int):
    """Issue an API token, shown once."""
    days = request.form.get("days", "90")
    if not days.isdigit() or not 1 <= int(days) <= 3650:
        flash("Not issued: days must be a whole number from 1 to 3650.")
        return redirect(url_for("admin.user", user_id=user_id))
    with unit_of_work(database()) as s:
        target = _user_or_404(s, user_id)
        token = users_service.create_token(s, target, lifetime=timedelta(days=int(days)), actor=current_user().email)
        email = target.email
    return render_template("admin/secret.html", email=email, what="API token", secret=token, user_id=user_id)


@bp.post("/users/<int:user_id>/tokens/<int:token_id>/revoke")
@requires("users.manage")
def revoke_token(user_id: int, token_id: int):
    """Revoke one of the user's API tokens."""
    with unit_of_work(database()) as s:
        target = _user_or_404(s, user_id)
        if token_id not in {t.id for t in target.tokens}:
            abort(404)
        users_service.revoke_token(s, token_id=token_id, actor=current_user().email)
    flash(f"Token {token_id} revoked.")
    return redirect(url_for("admin.user", user_id=user_id))
