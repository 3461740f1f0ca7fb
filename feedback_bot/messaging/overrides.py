"""Interpreters' edits to message templates, taking effect in every process at once.

Each process caches the overrides of a language and checks a version number in Redis
before using them; saving an override bumps the version, so the next message rendered by
any web or worker process uses the edit, with no restart and no file written.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from flask import current_app
from flask_babel import force_locale, gettext, pgettext
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from ..dbutil import database_known_unavailable
from ..extensions import db
from ..models import MessageOverride

log = logging.getLogger(__name__)

VERSION_KEY = "feedback:overrides:version"
# If Redis cannot say whether overrides changed, trust the cache only this long.
FALLBACK_TTL = 5.0


@dataclass
class _Cache:
    version: int | None = None
    loaded_at: float = 0.0
    texts: dict[tuple[str, str, str], str] = field(default_factory=dict)


def _cache() -> _Cache:
    return current_app.extensions.setdefault("feedback_overrides", _Cache())


def _current_version() -> int | None:
    from ..jobs import redis_connection

    try:
        raw = redis_connection().get(VERSION_KEY)
    except RedisError:
        return None
    return int(raw) if raw else 0


def overrides() -> dict[tuple[str, str, str], str]:
    """(locale, context, msgid) -> text for every override, refreshed when one changes."""
    cache = _cache()
    if database_known_unavailable():
        return cache.texts
    version = _current_version()
    stale = version is None and time.monotonic() - cache.loaded_at > FALLBACK_TTL
    if version != cache.version or stale or cache.version is None:
        try:
            rows = db.session.execute(
                select(
                    MessageOverride.locale,
                    MessageOverride.context,
                    MessageOverride.msgid,
                    MessageOverride.text,
                )
            ).all()
        except SQLAlchemyError:
            # The database is down: the member is still answered, with what we last knew
            # (or the shipped catalogue).
            db.session.rollback()
            log.warning("template overrides unavailable; using the cached or shipped text")
            return cache.texts
        cache.texts = {(locale, ctx, msgid): text for locale, ctx, msgid, text in rows}
        cache.version = version if version is not None else -1
        cache.loaded_at = time.monotonic()
    return cache.texts


def overrides_version() -> int | None:
    """The version of the overrides in use, after making sure they are current."""
    overrides()
    return _cache().version


def bump_version() -> None:
    """Call after committing an override: every process reloads before its next message."""
    from ..jobs import redis_connection

    try:
        redis_connection().incr(VERSION_KEY)
    except RedisError:
        log.warning(
            "could not announce a template change; processes pick it up within %ss", FALLBACK_TTL
        )


def translate(msgid: str, locale: str, context: str = "") -> str:
    """The text of ``msgid`` in ``locale``: an interpreter's override, else the catalogue."""
    override = overrides().get((locale, context, msgid))
    if override:
        return override
    with force_locale(locale):
        return pgettext(context, msgid) if context else gettext(msgid)
