"""Admin: which languages members are offered."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from ..auth.roles import roles_required
from ..interpreters.queries import completeness
from ..languages import (
    LanguageRefused,
    available_locales,
    enabled_locales,
    members_using,
    refusal,
    set_enabled,
)
from . import ADMINS, bp, confirming
from .forms import ConfirmedForm


class ToggleForm(ConfirmedForm):
    """Offering a language is done at once; stopping asks first (``confirming``)."""


@bp.get("/languages")
@roles_required(*ADMINS)
def languages() -> ResponseReturnValue:
    available = available_locales()
    return render_template(
        "admin/languages.html",
        available=available,
        enabled=enabled_locales(),
        completeness=completeness(list(available)),
        form=ToggleForm(),
    )


@bp.post("/languages/<code>/<action>")
@roles_required(*ADMINS)
def language_toggle(code: str, action: str) -> ResponseReturnValue:
    form = ToggleForm()
    if action not in ("enable", "disable") or not form.validate_on_submit():
        flash("That did not work; try again.", "error")
        return redirect(url_for("admin.languages"))
    enable = action == "enable"
    if not enable and code in enabled_locales() and not form.is_confirmed():
        problem = refusal(code, enabled=False)
        if problem:
            flash(problem, "error")
            return redirect(url_for("admin.languages"))
        return ask_to_stop_offering(form, code)
    try:
        set_enabled(code, enable, current_user)
    except LanguageRefused as exc:
        flash(str(exc), "error")
    else:
        flash(
            f"{code} is now offered to members."
            if enable
            else f"{code} is no longer offered to new members; those who use it keep it.",
            "success",
        )
    return redirect(url_for("admin.languages"))


def ask_to_stop_offering(form: ToggleForm, code: str) -> str:
    """The page that says what stopping offering ``code`` changes, and asks first: new
    members are no longer offered it, while those who use it keep it."""
    return confirming.ask(
        "admin/confirm_language.html",
        form,
        code=code,
        members=members_using(code),
        action=url_for("admin.language_toggle", code=code, action="disable"),
        cancel=url_for("admin.languages"),
    )
