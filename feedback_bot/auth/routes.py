"""Signing in and out."""

from __future__ import annotations

import hashlib
import logging
import time
from urllib.parse import urlsplit

from flask import (
    Response,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_limiter import RequestLimit
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect
from werkzeug.security import generate_password_hash
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from .. import audit, clock
from ..extensions import db
from ..forms import PanelForm
from ..models import Role, User
from ..models.staff import normalise_email
from . import ACCOUNT_LOGIN_LIMIT, LOGIN_LIMIT, bp, limiter
from .passwords import MAX_PASSWORD_LENGTH
from .roles import roles_required

log = logging.getLogger(__name__)

# Where each role's work is, the page signing in leads to: interpreters translate; staff
# triage the inbox, and so do admins, who do everything staff do and a little more.
HOME_ENDPOINTS = {Role.INTERPRETER: "interpreters.workspace"}

# Checked against when the email is unknown, so that a wrong email takes as long as a
# wrong password and the response time does not say which accounts exist.
_DUMMY_HASH = generate_password_hash("not-a-password", method="scrypt")


class LoginForm(PanelForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField(
        "Password", validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)]
    )
    remember = BooleanField("Keep me signed in on this device")


class LogoutForm(PanelForm):
    """Only the CSRF token: signing out is a POST so no other site can do it for you."""


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site, else None (no open redirects)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target:
        return None
    # A control character (a line break above all) cannot go in a Location header:
    # Werkzeug refuses it, and the sign-in would fail after the password was right.
    if not target.isprintable():
        return None
    return target


def may_open(user: User, path: str) -> bool:
    """Whether ``user``'s role may see the panel page at ``path`` (``roles_required``): a
    link to another role's page, followed after signing in, was a 403 page instead of
    their own home. A path that is no page is not one to land on either."""
    adapter = current_app.create_url_adapter(request)
    assert adapter is not None  # in a request, there is one
    try:
        endpoint, _ = adapter.match(urlsplit(path).path, method="GET")
    except RequestRedirect:
        return True  # the same page, spelled another way ("/admin/dashboard")
    except HTTPException:
        return False
    roles = getattr(current_app.view_functions[endpoint], "required_roles", None)
    return roles is None or user.has_role(*roles)


def home_url(user: User) -> str:
    """The page of the panel where ``user``'s work is."""
    return url_for(HOME_ENDPOINTS.get(user.role, "admin.inbox"))


def find_user(email: str) -> User | None:
    if "\x00" in email:
        # No address holds one, and PostgreSQL refuses it in a query (a 500, not a 401).
        return None
    return db.session.scalars(
        select(User).where(User.email == normalise_email(email))
    ).one_or_none()


def attempted_account() -> str:
    """The account a sign-in names, as the key of its own limit. A digest: Redis keeps
    no email addresses, and an address of any length makes a key of one length."""
    email = request.form.get("email", "").strip().lower()
    return "account:" + hashlib.sha256(email.encode()).hexdigest()


def failed(response: Response) -> bool:
    return response.status_code == 401


def too_many_attempts(limit: RequestLimit) -> Response:
    """The sign-in page again, saying why and for how long, not a bare status line."""
    log.warning("sign-in refused: too many attempts (%s)", limit.limit)
    flash(
        "Too many sign-in attempts. Wait a few minutes, then try again; if you have "
        "forgotten your password, ask an admin to reset it.",
        "error",
    )
    response = make_response(render_template("auth/login.html", form=LoginForm()), 429)
    # The limiter's clock is the real one (``reset_at`` is a Unix time).
    response.headers["Retry-After"] = str(max(int(limit.reset_at - time.time()), 1))
    return response


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(LOGIN_LIMIT, methods=["POST"], on_breach=too_many_attempts)
@limiter.limit(
    ACCOUNT_LOGIN_LIMIT,
    methods=["POST"],
    key_func=attempted_account,
    deduct_when=failed,
    on_breach=too_many_attempts,
    scope="login-account",
)
def login() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(home_url(current_user))
    form = LoginForm()
    if form.validate_on_submit():
        user = find_user(form.email.data)
        if user is None:
            User(password_hash=_DUMMY_HASH).check_password(form.password.data)
        elif user.check_password(form.password.data) and login_user(
            user, remember=form.remember.data
        ):
            user.last_login_at = clock.now()
            audit.record("auth.login", user)
            db.session.commit()
            target = safe_next(request.args.get("next"))
            return redirect(target if target and may_open(user, target) else home_url(user))
        log.info("failed sign-in from %s", request.remote_addr)
        flash("That email and password do not match an active account.", "error")
        return render_template("auth/login.html", form=form), 401
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    form = LogoutForm()
    if form.validate_on_submit() and current_user.is_authenticated:
        logout_user()
        session.pop("csrf_token", None)  # forms opened before signing out stop working
        flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.get("/")
@roles_required(*Role.ALL)
def home() -> ResponseReturnValue:
    return redirect(home_url(current_user))
