"""Which languages a user may translate: an interpreter's own, an admin's all."""

from __future__ import annotations

from babel import Locale
from flask import abort
from flask_login import current_user

from ..languages import enabled_locales
from ..models import Role


def my_languages() -> list[str]:
    shipped = list(enabled_locales())
    if current_user.has_role(Role.ADMIN):
        return shipped
    return [code for code in current_user.language_list if code in shipped]


def require_language(locale: str) -> None:
    if locale not in enabled_locales():
        abort(404, "No such language.")
    if locale not in my_languages():
        abort(403, "You do not work in this language.")


def direction(locale: str) -> str:
    """ "rtl" for Arabic, Urdu and other right-to-left scripts, so text is edited that way."""
    try:
        return "rtl" if Locale.parse(locale).character_order == "right-to-left" else "ltr"
    except (ValueError, TypeError):
        return "ltr"
