"""Which languages a user may translate: an interpreter's own, an admin's all.

Interpreters work in every language the service works in, offered to new members or not:
members of a language switched off still write and are still owed their news, and a new
language is translated before it is offered.
"""

from __future__ import annotations

from babel import Locale
from flask import abort, current_app
from flask_login import current_user

from ..languages import working_locales
from ..messaging.language import UNRECOGNISED
from ..models import Role


def my_languages() -> list[str]:
    languages = list(working_locales())
    if current_user.has_role(Role.ADMIN):
        return languages
    return [code for code in current_user.language_list if code in languages]


def languages_to_translate() -> list[str]:
    """The languages the signed-in user translates members' words from and summaries into,
    for the links to do so on the panel's own pages: theirs but the staff language, which
    needs no translating. None for those who do not translate (staff)."""
    if not current_user.has_role(Role.ADMIN, Role.INTERPRETER):
        return []
    staff = current_app.config["STAFF_LOCALE"]
    return [code for code in my_languages() if code != staff]


def require_language(locale: str) -> None:
    if locale not in working_locales():
        abort(404, "No such language.")
    if locale not in my_languages():
        abort(403, "You do not work in this language.")


def direction(locale: str) -> str:
    """ "rtl" for Arabic, Urdu and other right-to-left scripts, so text is edited that way;
    "auto" for a language nobody recognised, whose script the browser tells."""
    if locale == UNRECOGNISED:
        return "auto"
    try:
        return "rtl" if Locale.parse(locale).character_order == "right-to-left" else "ltr"
    except (ValueError, TypeError):
        return "ltr"
