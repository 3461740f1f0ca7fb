"""Admins only: accounts, roles and passwords, and the audit log."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select

from .. import audit
from ..auth.account import NewPasswordForm
from ..auth.cli import NO_LANGUAGES, parse_languages
from ..auth.roles import roles_required
from ..auth.routes import find_user
from ..extensions import db
from ..forms import without_controls
from ..languages import available_locales
from ..models import Role, User
from ..pagination import paginate
from . import ADMINS, bp
from .forms import UserCreateForm, UserUpdateForm
from .queries import audit_actions, audit_query

AUDIT_PER_PAGE = 50


def shipped_locales() -> tuple[str, ...]:
    return available_locales()


def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


def render_users(create_form: UserCreateForm | None = None) -> str:
    users = list(db.session.scalars(select(User).order_by(User.email)))
    forms = {}
    for user in users:
        form = UserUpdateForm(formdata=None, obj=user)
        forms[user.id] = form
    return render_template(
        "admin/users.html",
        users=users,
        forms=forms,
        create_form=create_form or UserCreateForm(formdata=None),
    )


@bp.get("/users")
@roles_required(*ADMINS)
def users() -> ResponseReturnValue:
    return render_users()


@bp.post("/users")
@roles_required(*ADMINS)
def user_create() -> ResponseReturnValue:
    form = UserCreateForm()
    if form.validate_on_submit():
        email = form.email.data.strip()
        try:
            codes = parse_languages(form.languages.data or "", shipped_locales())
        except ValueError as exc:
            form.languages.errors.append(str(exc))
            return render_users(form), 400
        if form.role.data == Role.INTERPRETER and not codes:
            form.languages.errors.append(NO_LANGUAGES)
            return render_users(form), 400
        if find_user(email) is not None:
            form.email.errors.append("An account with this email already exists.")
            return render_users(form), 400
        user = User(email=email, role=form.role.data, languages=",".join(codes), active=True)
        user.set_password(form.password.data)
        db.session.add(user)
        db.session.flush()
        audit.record("user.create", user, email=email, role=user.role)
        db.session.commit()
        flash(f"Created {user.role} {email}.", "success")
        return redirect(url_for("admin.users"))
    return render_users(form), 400


@bp.post("/users/<int:user_id>")
@roles_required(*ADMINS)
def user_update(user_id: int) -> ResponseReturnValue:
    user = get_user(user_id)
    form = UserUpdateForm()
    if not form.validate_on_submit():
        flash("Could not save the account: check the fields.", "error")
        return redirect(url_for("admin.users"))
    if user.id == current_user.id and (form.role.data != user.role or not form.active.data):
        # An admin demoting or disabling themselves could leave nobody able to fix it.
        flash("You cannot change your own role or deactivate yourself.", "error")
        return redirect(url_for("admin.users"))
    try:
        codes = parse_languages(form.languages.data or "", shipped_locales())
    except ValueError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.users"))
    if form.role.data == Role.INTERPRETER and not codes:
        flash(f"Could not save {user.email}: {NO_LANGUAGES}", "error")
        return redirect(url_for("admin.users"))
    languages = ",".join(codes)
    if form.role.data != user.role:
        audit.record("user.role_change", user, before=user.role, after=form.role.data)
        user.role = form.role.data
    if languages != user.languages:
        audit.record("user.languages", user, before=user.languages, after=languages)
        user.languages = languages
    if bool(form.active.data) != user.active:
        audit.record("user.activate" if form.active.data else "user.deactivate", user)
        user.active = bool(form.active.data)
    db.session.commit()
    flash(f"Saved {user.email}.", "success")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/password", methods=["GET", "POST"])
@roles_required(*ADMINS)
def user_password(user_id: int) -> ResponseReturnValue:
    """Set a new password for someone else's account (one they forgot, or that may be
    known to someone who should not know it): every session of theirs ends."""
    user = get_user(user_id)
    if user.id == current_user.id:
        # Without the current password, an admin's session left open would be enough.
        return redirect(url_for("auth.own_password"))
    form = NewPasswordForm()
    if form.validate_on_submit():
        user.set_password(form.password.data)
        audit.record("user.password_set", user)
        db.session.commit()
        flash(
            f"New password set for {user.email}, who is now signed out everywhere. Give it "
            "to them in person or by a route other than email.",
            "success",
        )
        return redirect(url_for("admin.users"))
    status = 400 if form.is_submitted() else 200
    return render_template("admin/user_password.html", form=form, user=user), status


@bp.get("/audit")
@roles_required(*ADMINS)
def audit_log() -> ResponseReturnValue:
    # PostgreSQL refuses a NUL in a query parameter; no action name has a control character.
    action = without_controls(request.args.get("action", "")).strip()[:64]
    pagination = paginate(audit_query(action), per_page=AUDIT_PER_PAGE)
    return render_template(
        "admin/audit.html",
        pagination=pagination,
        entries=pagination.items,
        action=action,
        actions=audit_actions(),
    )
