"""Who has opted out, kept where the webhook can ask while the database is down.

During a database outage the webhook answers a member inline (see ``webhooks.routes``),
without the contact row that says whether they sent STOP. Twilio's own opt-out handling
covers only its English keywords on SMS: not a STOP in another language, and nothing on
WhatsApp. So Redis keeps a set of the keyed hashes (``Vault.lookup_hash``, the same as
``Contact.phone_hash``) of the numbers that opted out: never a number.

Intake keeps it in step with the database: a STOP adds, a START and a FORGET remove. It
writes while it holds the contact's row lock, before its commit, so that two jobs applying
a STOP and a START of one member reach Redis in the order they reach the database. A
commit that fails after the write leaves the set a step ahead until the job is run again
(the message stays unprocessed, and the sweeper enqueues it again). A write that fails
(Redis down) is logged and leaves this member's entry stale until their next STOP or
START: the database stays the truth, and intake never sends to an opted-out member.

``backfill`` adds every member the database says opted out, for those who opted out before
this set existed, or after Redis lost it (a restart without persistence, a flush);
``backfill_if_lost`` does so only when the set's marker is gone, cheaply enough to run on
every sweep. It only adds: removing too could race a STOP being applied meanwhile, and an
entry left over errs on the side of silence (the acknowledgement waits for the database).
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError
from sqlalchemy import select

from .extensions import db
from .jobs import redis_connection
from .models import Contact
from .privacy import vault

log = logging.getLogger(__name__)

OPTED_OUT_KEY = "feedback:opted-out"
# Set by ``backfill``: while it exists, the set holds every member who opted out.
FILLED_KEY = "feedback:opted-out:filled"


def note(phone_hash: str | None, opted_out: bool) -> None:
    """Record that the number with keyed hash ``phone_hash`` opted out, or back in."""
    if phone_hash is None:
        return
    try:
        if opted_out:
            redis_connection().sadd(OPTED_OUT_KEY, phone_hash)
        else:
            redis_connection().srem(OPTED_OUT_KEY, phone_hash)
    except RedisError as exc:
        log.warning("could not record an opt-%s in Redis (%s)", "out" if opted_out else "in", exc)


def opted_out(e164: str) -> bool | None:
    """Whether ``e164`` opted out; None if Redis cannot say."""
    try:
        return bool(redis_connection().sismember(OPTED_OUT_KEY, vault().lookup_hash(e164)))
    except RedisError as exc:
        log.warning("could not check the opted-out numbers in Redis (%s)", exc)
        return None


def backfill() -> int:
    """Add every member the database says opted out; returns how many."""
    hashes = [
        phone_hash
        for phone_hash in db.session.scalars(
            select(Contact.phone_hash).where(Contact.opted_out_at.is_not(None))
        )
        if phone_hash is not None  # forgotten
    ]
    for start in range(0, len(hashes), 1000):
        redis_connection().sadd(OPTED_OUT_KEY, *hashes[start : start + 1000])
    redis_connection().set(FILLED_KEY, "1")
    return len(hashes)


def backfill_if_lost() -> int:
    """``backfill``, if Redis has lost the set (or it was never filled); returns how many
    it added."""
    if redis_connection().exists(FILLED_KEY):
        return 0
    log.info("the opted-out numbers are not in Redis: adding them from the database")
    return backfill()
