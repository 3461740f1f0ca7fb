"""The languages members are offered, and the ones the service works in.

Catalogues on disk (``flask translate init LOCALE`` makes one) are the languages the
service works in: members who hold one keep being answered in it, their keywords work, and
interpreters translate for them, and can prepare a language before it is offered.
An admin enables or disables each in the panel: enabled languages are the ones *offered*
(the LANGUAGE menu, the guess of a new member's language, the public page). Turning one
off strands nobody. Until an admin first changes anything, the shipped set
(``SHIPPED_LOCALES``) is enabled. Each process caches the list and reloads it with the
template overrides (see ``overrides_version``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from . import audit, clock
from .config import TRANSLATIONS
from .dbutil import database_known_unavailable
from .extensions import db
from .messaging.overrides import bump_version, overrides_version
from .models import Contact, MemberLanguage, User


@lru_cache(maxsize=1)
def available_locales() -> tuple[str, ...]:
    """Every language with a catalogue (the source language and translations/<code>/):
    the languages keywords are matched in and interpreters work in."""
    found = {path.parent.parent.name for path in TRANSLATIONS.glob("*/LC_MESSAGES/messages.po")}
    return tuple(sorted(found | {"en"}))


@dataclass
class _Cache:
    version: int | None = None
    locales: tuple[str, ...] = ()


def enabled_locales() -> tuple[str, ...]:
    """The languages offered to members, shipped order first, then the others
    alphabetically."""
    cache: _Cache = current_app.extensions.setdefault("feedback_languages", _Cache())
    shipped = tuple(current_app.config["SHIPPED_LOCALES"])
    if database_known_unavailable():
        return cache.locales or shipped
    version = overrides_version()
    if cache.locales and cache.version == version:
        return cache.locales
    try:
        rows = db.session.execute(select(MemberLanguage.code, MemberLanguage.enabled)).all()
    except SQLAlchemyError:
        db.session.rollback()
        return cache.locales or shipped
    if not rows:
        locales = shipped
    else:
        enabled = {code for code, on in rows if on}
        locales = tuple(c for c in shipped if c in enabled) + tuple(sorted(enabled - set(shipped)))
    cache.version, cache.locales = version, locales or shipped[:1]
    return cache.locales


def working_locales() -> tuple[str, ...]:
    """Every language the service works in, offered or not, the offered ones first:
    switching a language off must not strand the members who already use it."""
    return tuple(dict.fromkeys((*enabled_locales(), *available_locales())))


class LanguageRefused(ValueError):
    pass


def refusal(code: str, enabled: bool) -> str | None:
    """Why ``code`` cannot be offered (``enabled``) or stop being offered, or None."""
    from .interpreting.catalogue_io import is_translated, known_entries

    if code not in available_locales():
        return (
            f"There is no catalogue for {code!r}: run 'flask --app feedback_bot translate init "
            f"{code}', translate it and deploy first."
        )
    if not enabled and code == current_app.config["DEFAULT_LOCALE"]:
        return "The default language cannot be switched off."
    if enabled and code != "en":
        missing = {
            msgid for ctx, msgid in known_entries(code) if not is_translated(code, ctx, msgid)
        }
        if missing:
            count = len(missing)
            messages = "message has" if count == 1 else "messages have"
            return (
                f"{count} member {messages} no translation in {code} yet; "
                "members would read English."
            )
    return None


def members_using(code: str) -> int:
    """How many members hold ``code`` as their language (those asked to be forgotten
    aside): the ones who keep it when it is no longer offered."""
    using = select(func.count()).where(Contact.locale == code, Contact.forgotten_at.is_(None))
    return db.session.scalar(using) or 0


def set_enabled(code: str, enabled: bool, user: User | None) -> None:
    """Offer ``code`` to members or stop offering it. Audited; effective in every process."""
    problem = refusal(code, enabled)
    if problem:
        raise LanguageRefused(problem)
    if not db.session.scalar(select(MemberLanguage.code).limit(1)):
        # First change: write down what was on until now, so nothing else moves.
        for shipped in current_app.config["SHIPPED_LOCALES"]:
            db.session.add(MemberLanguage(code=shipped, enabled=True, changed_at=clock.now()))
        db.session.flush()
    row = db.session.get(MemberLanguage, code) or MemberLanguage(code=code)
    row.enabled, row.changed_at = enabled, clock.now()
    row.changed_by_id = user.id if user else None
    db.session.add(row)
    audit.record("language.enable" if enabled else "language.disable", None, code=code)
    db.session.commit()
    bump_version()
