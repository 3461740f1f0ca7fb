"""A signed-in user's own account: changing their password.

A new password signs out every session and remembered device of the account
(``User.get_id``, ``load_user``); this browser is signed in again at once, so that the
person who changed it carries on where they are.
"""

from __future__ import annotations

import logging

from flask import Response, current_app, flash, make_response, redirect, render_template, request
from flask.typing import ResponseReturnValue
from flask_limiter import RequestLimit
from flask_login import COOKIE_NAME, current_user, login_user
from wtforms import PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from .. import audit
from ..extensions import db
from ..forms import PanelForm
from ..models import Role, User
from . import ACCOUNT_LOGIN_LIMIT, bp, limiter
from .passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from .roles import roles_required
from .routes import failed, home_url

log = logging.getLogger(__name__)


class NewPasswordForm(PanelForm):
    """A new password, typed twice (as ``flask users set-password`` asks): a typo in a
    hidden field would leave nobody knowing the password."""

    password = PasswordField(
        f"New password (at least {MIN_PASSWORD_LENGTH} characters)",
        validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH)],
    )
    again = PasswordField(
        "New password again",
        validators=[DataRequired(), EqualTo("password", "The two new passwords differ.")],
    )


class OwnPasswordForm(NewPasswordForm):
    """The current password too: a session left open on a shared computer must not be
    enough to take the account over."""

    current = PasswordField(
        "Current password", validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)]
    )


def own_account() -> str:
    """The key of the limit on wrong current passwords: the account, from any address."""
    return f"password:{current_user.id}"


def too_many_wrong_passwords(limit: RequestLimit) -> Response:
    log.warning("password change refused: too many wrong current passwords (%s)", limit.limit)
    flash("Too many wrong passwords. Wait a while, then try again.", "error")
    return make_response(render_template("auth/password.html", form=OwnPasswordForm()), 429)


@bp.route("/account/password", methods=["GET", "POST"])
@roles_required(*Role.ALL)
@limiter.limit(
    ACCOUNT_LOGIN_LIMIT,
    methods=["POST"],
    key_func=own_account,
    deduct_when=failed,  # a wrong current password; the sign-in form's limit on guessing
    on_breach=too_many_wrong_passwords,
    scope="password-account",
)
def own_password() -> ResponseReturnValue:
    form = OwnPasswordForm()
    if not form.validate_on_submit():
        status = 400 if form.is_submitted() else 200
        return render_template("auth/password.html", form=form), status
    user: User = current_user._get_current_object()
    if not user.check_password(form.current.data):
        form.current.errors.append("That is not your current password.")
        return render_template("auth/password.html", form=form), 401
    user.set_password(form.password.data)
    audit.record("user.password_change", user)
    db.session.commit()
    # The session's id names the old password: sign this browser in again under the new
    # one, remembered if it was.
    remembered = current_app.config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME) in request.cookies
    login_user(user, remember=remembered)
    flash(
        "Your password is changed. You are still signed in here, and signed out everywhere else.",
        "success",
    )
    return redirect(home_url(user))
