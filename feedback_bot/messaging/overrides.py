"""Interpreters' edits to message templates, taking effect in every process at once.

Each process caches the overrides and checks a version in Redis before using them; saving
an override sets a new version, so the next message rendered by any web or worker process
uses the edit, with no restart and no file written. A draft is an interpreter's unfinished
text: it is kept for them, and members never get it.
"""

from __future__ import annotations

import itertools
import logging
import time
import uuid
from dataclasses import dataclass, field

from flask import current_app
from flask_babel import force_locale, get_translations, gettext, pgettext
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from ..dbutil import database_known_unavailable
from ..extensions import db
from ..models import MessageOverride, ReviewState

log = logging.getLogger(__name__)

VERSION_KEY = "feedback:overrides:version"
# If Redis cannot say whether overrides changed, trust the cache only this long.
FALLBACK_TTL = 5.0

# Numbers every load in this process, across apps: what is cached by it (the keyword
# tables, the enabled languages) can never be mistaken for what an earlier load gave.
_loads = itertools.count(1)


@dataclass
class _Cache:
    # The version Redis announced when the texts were loaded; None if it could not say.
    announced: str | None = None
    load: int = 0  # 0: never loaded
    loaded_at: float = 0.0
    texts: dict[tuple[str, str, str], str] = field(default_factory=dict)


def _cache() -> _Cache:
    return current_app.extensions.setdefault("feedback_overrides", _Cache())


def _announced_version() -> str | None:
    """The version set by the last change; "" when Redis holds none (never set, or lost
    to a flush or a restart without persistence); None when Redis cannot be reached.

    A version is a random token, not a counter: a counter that Redis loses starts again
    at 1, and a process that cached version 1 would take the next edit for one it has.
    """
    from ..jobs import redis_connection

    try:
        raw = redis_connection().get(VERSION_KEY)
    except RedisError:
        return None
    if isinstance(raw, bytes):
        return raw.decode()
    return raw or ""


def _stale(cache: _Cache, announced: str | None) -> bool:
    if not cache.load:
        return True
    if announced is None:
        return time.monotonic() - cache.loaded_at > FALLBACK_TTL
    return announced != cache.announced


def overrides() -> dict[tuple[str, str, str], str]:
    """(locale, context, msgid) -> text of every override members get (drafts aside),
    refreshed when one changes."""
    cache = _cache()
    if database_known_unavailable():
        return cache.texts
    announced = _announced_version()
    if not _stale(cache, announced):
        return cache.texts
    try:
        rows = db.session.execute(
            select(
                MessageOverride.locale,
                MessageOverride.context,
                MessageOverride.msgid,
                MessageOverride.text,
            ).where(MessageOverride.state != ReviewState.DRAFT)
        ).all()
    except SQLAlchemyError:
        # The database is down: the member is still answered, with what we last knew
        # (or the shipped catalogue).
        db.session.rollback()
        log.warning("template overrides unavailable; using the cached or shipped text")
        return cache.texts
    cache.texts = {(locale, ctx, msgid): text for locale, ctx, msgid, text in rows}
    cache.announced, cache.load, cache.loaded_at = announced, next(_loads), time.monotonic()
    return cache.texts


def overrides_version() -> int:
    """Which load of the overrides is in use, after making sure it is current. It changes
    whenever they are reloaded and never repeats, so it can key a cache of what is built
    from them."""
    overrides()
    return _cache().load


def bump_version() -> None:
    """Call after committing an override: every process reloads before its next message."""
    from ..jobs import redis_connection

    _cache().load = 0  # this process reloads at once, even if Redis is down
    try:
        redis_connection().set(VERSION_KEY, uuid.uuid4().hex)
    except RedisError:
        # Processes that cannot reach Redis either reload within FALLBACK_TTL; those that
        # can keep the old text until the next change is announced.
        log.warning("could not announce a template change to the other processes")


def translate(msgid: str, locale: str, context: str = "", count: int | None = None) -> str:
    """The text of ``msgid`` in ``locale``: an interpreter's override, else the catalogue.

    With ``count``, ``msgid`` is a plural entry (``templates.NN_``) and the text is its form
    for that number in ``locale``: an override of that form; else one interpreters saved
    for the whole message before it had forms (it was what they wanted members to read);
    else the catalogue's form.
    """
    if count is not None:
        return _translate_form(msgid, locale, count)
    override = overrides().get((locale, context, msgid))
    if override:
        return override
    with force_locale(locale):
        return pgettext(context, msgid) if context else gettext(msgid)


PLURAL_CONTEXT = "plural:"


def form_context(form: int) -> str:
    """The context an override of plural form ``form`` is kept under."""
    return f"{PLURAL_CONTEXT}{form}"


def form_of(context: str) -> int | None:
    """The plural form an override's context names, if it names one."""
    if not context.startswith(PLURAL_CONTEXT):
        return None
    number = context.removeprefix(PLURAL_CONTEXT)
    return int(number) if number.isdigit() else None


def plural_form(locale: str, count: int) -> int:
    """Which plural form ``locale`` uses for ``count``, by its catalogue's Plural-Forms."""
    with force_locale(locale):
        translations = get_translations()
    choose = getattr(translations, "plural", None)  # no catalogue: English's rule
    return int(choose(count)) if choose else int(count != 1)


def _translate_form(msgid: str, locale: str, count: int) -> str:
    texts = overrides()
    form = plural_form(locale, count)
    override = texts.get((locale, form_context(form), msgid)) or texts.get((locale, "", msgid))
    if override:
        return override
    with force_locale(locale):
        return str(get_translations().ngettext(msgid, msgid, count))
