"""Admin: which languages members are offered."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from ..auth.roles import roles_required
from ..forms import PanelForm
from ..interpreters.queries import completeness
from ..languages import LanguageRefused, available_locales, enabled_locales, set_enabled
from . import ADMINS, bp


class ToggleForm(PanelForm):
    pass


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
    if action not in ("enable", "disable") or not ToggleForm().validate_on_submit():
        flash("That did not work; try again.", "error")
        return redirect(url_for("admin.languages"))
    try:
        set_enabled(code, action == "enable", current_user)
    except LanguageRefused as exc:
        flash(str(exc), "error")
    else:
        flash(
            f"{code} is now offered to members."
            if action == "enable"
            else f"{code} is no longer offered to new members; those who use it keep it.",
            "success",
        )
    return redirect(url_for("admin.languages"))
