"""Where an inbound message waits when the database is down.

The webhook has already answered the member inline (a keyword excepted: intake answers
that); the payload must not be lost. It goes to Redis (shared by every web process and the
workers) or, if Redis is down too, to a file in ``SPOOL_DIR``. Either way it is encrypted:
it holds a phone number and a message. The sweeper drains both into the database through
the normal intake, so a spooled message is stored exactly like any other (and a Twilio
retry of it is still a no-op).

An entry that fails for a reason of its own (it cannot be decrypted or parsed, the database
refuses its data, intake has a bug) is tried again on the next sweeps, behind the others,
``MAX_ATTEMPTS`` times in all; then it is set aside as a dead letter and logged, so that it
cannot hold up the entries behind it for ever. The dead letters are the Redis lists
``feedback:spool:failed`` (inbound messages, still encrypted) and
``feedback:spool:status:failed`` (status callbacks), and ``SPOOL_DIR/failed/`` for the
file spool. Nothing there is retried or deleted: once the cause is fixed, move an entry
back (``LMOVE feedback:spool:failed feedback:spool LEFT RIGHT``, or the file back up into
``SPOOL_DIR``) and the next sweep takes it. A database outage is no entry's fault: it
counts against none, and every entry waits, in order.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import traceback
from collections.abc import Callable
from datetime import datetime
from enum import Enum, auto
from pathlib import Path

from flask import current_app
from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from . import clock
from .jobs import after_intake, redis_connection
from .privacy import vault
from .webhooks.payload import InboundPayload

log = logging.getLogger(__name__)

SPOOL_KEY = "feedback:spool"
PROCESSING_KEY = "feedback:spool:processing"
STATUS_SPOOL_KEY = "feedback:spool:status"
DEAD_KEY = "feedback:spool:failed"
STATUS_DEAD_KEY = "feedback:spool:status:failed"
# Failed tries so far, by a hash of the entry (the entry itself holds personal data).
ATTEMPTS_KEY = "feedback:spool:attempts"
FAILED_FOLDER = "failed"
# One sweep apart: a fault that clears in a few minutes (a deploy fixing intake) loses
# nothing, and a poisoned entry is out of the way soon after.
MAX_ATTEMPTS = 5
# The database is down or unreachable (as the webhook decides it), or every connection is
# busy: the entry is not at fault. Anything else is, or is a bug to be loud about.
DATABASE_DOWN = (OperationalError, InterfaceError, PoolTimeoutError)
STORED_KEY = "feedback:stored:{sid}"
# Twilio's retries of a webhook come within minutes; a day covers them all.
STORED_TTL_SECONDS = 86400


def note_stored(message_sid: str, pipe: Pipeline) -> None:
    """Remember outside the database that ``message_sid`` is stored and its reply owed, in
    the round trip ``pipe`` makes to Redis anyway (the intake job's enqueue).

    If Twilio delivers it again while the database is down (it missed our answer), the
    webhook then does not acknowledge it inline too: the outbox already owes that.
    """
    pipe.set(STORED_KEY.format(sid=message_sid), "1", ex=STORED_TTL_SECONDS)


def known_stored(message_sid: str) -> bool:
    try:
        return bool(redis_connection().exists(STORED_KEY.format(sid=message_sid)))
    except RedisError:
        return False


def spool_dir() -> Path:
    configured = current_app.config.get("SPOOL_DIR")
    return Path(configured) if configured else Path(current_app.instance_path) / "spool"


def keep(payload: InboundPayload, *, inline_ack: bool) -> str:
    """Store ``payload`` durably outside the database. Returns where ("redis" or "file").

    ``inline_ack`` says whether the webhook's answer acknowledged it: if so the drain
    records that acknowledgement as sent; if not, the outbox owes one.
    """
    record = {"payload": payload.to_dict(), "inline_ack": inline_ack}
    token = vault().encrypt(json.dumps(record))
    try:
        redis_connection().rpush(SPOOL_KEY, token)
        return "redis"
    except RedisError:
        log.error("Redis is unreachable too: spooling inbound message to disk")
    folder = spool_dir()
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{payload.message_sid}-{secrets.token_hex(4)}.spool"
    temporary = final.with_suffix(".tmp")
    with temporary.open("w") as handle:
        handle.write(token)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.rename(final)
    return "file"


class Outcome(Enum):
    """What became of one try of a spooled entry."""

    DONE = auto()  # in the database: the entry goes
    WAIT = auto()  # the database is down: it, and everything behind it, waits in order
    RETRY = auto()  # it failed: a later sweep tries it again, behind the others
    DEAD = auto()  # it failed MAX_ATTEMPTS times: set aside as a dead letter


def drain(limit: int = 500) -> int:
    """Ingest spooled messages; returns how many. Stops at the first sign the database is
    down; an entry that fails otherwise is passed over (see the module's docstring).

    A Redis entry moves to a processing list while it is ingested and leaves it only after
    the commit, so a crash mid-drain puts it back next time; ingesting twice is harmless
    because intake ignores a MessageSid it has seen.
    """
    connection = redis_connection()
    while connection.lmove(PROCESSING_KEY, SPOOL_KEY, "RIGHT", "LEFT") is not None:
        pass  # recover what a crashed drain left half-done
    ingested, waiting = _drain_redis(connection, limit)
    if not waiting:
        ingested += _drain_files(limit - ingested)
    if ingested:
        log.info("ingested %s spooled inbound messages", ingested)
    return ingested


def _drain_redis(connection: Redis, limit: int) -> tuple[int, bool]:
    """Ingest from the Redis spool: (how many, whether the database is down)."""
    ingested = 0
    tried: set[str] = set()
    for _ in range(limit):
        raw = connection.lmove(SPOOL_KEY, PROCESSING_KEY, "LEFT", "RIGHT")
        if raw is None:
            break
        token = _text(raw)
        if token in tried:
            # Round the whole list once: what is left failed this sweep already.
            _settle(connection, token, Outcome.WAIT)
            break
        outcome = _attempt(token, _ingest, "inbound message", DEAD_KEY)
        _settle(connection, token, outcome)
        if outcome is Outcome.WAIT:
            return ingested, True
        ingested += outcome is Outcome.DONE
        if outcome is Outcome.RETRY:
            tried.add(token)
    return ingested, False


def _settle(connection: Redis, token: str, outcome: Outcome) -> None:
    """Take ``token`` out of the processing list to where ``outcome`` sends it, in one
    transaction: a crash leaves it in one list or the other, never both or neither."""
    pipe = connection.pipeline()
    pipe.lrem(PROCESSING_KEY, 1, token)
    if outcome is Outcome.WAIT:
        pipe.lpush(SPOOL_KEY, token)
    elif outcome is Outcome.RETRY:
        pipe.rpush(SPOOL_KEY, token)
    elif outcome is Outcome.DEAD:
        pipe.rpush(DEAD_KEY, token)
    if outcome in (Outcome.DONE, Outcome.DEAD):
        pipe.hdel(ATTEMPTS_KEY, _fingerprint(token))
    pipe.execute()


def _drain_files(limit: int) -> int:
    """Ingest from the file spool, oldest name first; returns how many."""
    folder = spool_dir()
    if limit <= 0 or not folder.is_dir():
        return 0
    ingested = 0
    for path in sorted(folder.glob("*.spool"))[:limit]:
        # A damaged file still yields text, to fail decryption and be counted like any.
        token = path.read_text(errors="replace")
        outcome = _attempt(token, _ingest, "inbound message", str(folder / FAILED_FOLDER))
        if outcome is Outcome.WAIT:
            break
        _settle_file(path, token, outcome)
        ingested += outcome is Outcome.DONE
    return ingested


def _settle_file(path: Path, token: str, outcome: Outcome) -> None:
    if outcome is Outcome.DONE:
        path.unlink(missing_ok=True)
    elif outcome is Outcome.DEAD:
        failed = path.parent / FAILED_FOLDER
        failed.mkdir(exist_ok=True)
        path.rename(failed / path.name)
    if outcome in (Outcome.DONE, Outcome.DEAD):
        redis_connection().hdel(ATTEMPTS_KEY, _fingerprint(token))


def keep_status(sid: str, status: str, error_code: str | None) -> bool:
    """Keep a delivery status callback in Redis while the database is down. It holds no
    personal data (a SID and a status). False if Redis is down too."""
    event = {"sid": sid, "status": status, "error_code": error_code, "at": clock.now().isoformat()}
    try:
        redis_connection().rpush(STATUS_SPOOL_KEY, json.dumps(event))
    except RedisError:
        return False
    return True


def drain_statuses(limit: int = 500) -> int:
    """Apply kept status callbacks, oldest first; stops at the first sign the database is
    down, and passes over one that fails otherwise, as ``drain`` does.

    Applying one twice is harmless: statuses only move forward, and the SMS fallback is
    owed once per row.
    """
    connection = redis_connection()
    applied = 0
    tried: set[str] = set()
    for _ in range(limit):
        raw = connection.lindex(STATUS_SPOOL_KEY, 0)
        if raw is None:
            break
        event = _text(raw)
        if event in tried:
            break  # round the whole list once: what is left failed this sweep already
        outcome = _attempt(event, _apply_status, "status callback", STATUS_DEAD_KEY)
        if outcome is Outcome.WAIT:
            break
        _settle_status(connection, event, outcome)
        applied += outcome is Outcome.DONE
        if outcome is Outcome.RETRY:
            tried.add(event)
    return applied


def _settle_status(connection: Redis, event: str, outcome: Outcome) -> None:
    """Take ``event`` off the head of the list, to its tail for a retry or to the dead
    letters, in one transaction."""
    pipe = connection.pipeline()
    pipe.lrem(STATUS_SPOOL_KEY, 1, event)
    if outcome is Outcome.RETRY:
        pipe.rpush(STATUS_SPOOL_KEY, event)
    elif outcome is Outcome.DEAD:
        pipe.rpush(STATUS_DEAD_KEY, event)
    if outcome in (Outcome.DONE, Outcome.DEAD):
        pipe.hdel(ATTEMPTS_KEY, _fingerprint(event))
    pipe.execute()


def _attempt(entry: str, apply: Callable[[str], None], kind: str, dead_letters: str) -> Outcome:
    """Try ``apply`` on ``entry`` once; count a failure that is the entry's own."""
    try:
        apply(entry)
    except RedisError:
        raise  # Redis is down: the drain cannot go on, and the entry is not at fault
    except DATABASE_DOWN:
        log.warning("database still unavailable; spooled entries wait")
        return Outcome.WAIT
    except Exception as exc:
        return _failed(entry, exc, kind, dead_letters)
    return Outcome.DONE


def _failed(entry: str, exc: Exception, kind: str, dead_letters: str) -> Outcome:
    """Count a failed try of ``entry``; RETRY, or DEAD once it has had all its tries.

    Logged by type and place only: an exception's text can quote the member's message or
    number (SQLAlchemy's quotes the statement's parameters).
    """
    fingerprint = _fingerprint(entry)
    tries = int(redis_connection().hincrby(ATTEMPTS_KEY, fingerprint, 1))
    error = f"{type(exc).__name__} at {_where(exc)}"
    if tries < MAX_ATTEMPTS:
        log.error(
            "spooled %s %s failed (%s), try %s of %s; the entries behind it go on",
            kind,
            fingerprint[:12],
            error,
            tries,
            MAX_ATTEMPTS,
        )
        return Outcome.RETRY
    log.error(
        "spooled %s %s failed %s times (%s): set aside in the dead letters, %s",
        kind,
        fingerprint[:12],
        tries,
        error,
        dead_letters,
    )
    return Outcome.DEAD


def _where(exc: BaseException) -> str:
    """Where ``exc`` was raised (file, line, function), without its text."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "unknown place"
    last = frames[-1]
    return f"{Path(last.filename).name}:{last.lineno} in {last.name}"


def _fingerprint(entry: str) -> str:
    return hashlib.sha256(entry.encode()).hexdigest()


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _ingest(token: str) -> None:
    """Store a spooled message through the normal intake; raises whatever stops it."""
    from .intake import accept

    data = json.loads(vault().decrypt(token))
    payload = InboundPayload.from_dict(data["payload"])
    after_intake(accept(payload, inline_acknowledged=bool(data.get("inline_ack"))))


def _apply_status(entry: str) -> None:
    from .delivery import record_status

    event = json.loads(entry)
    received_at = datetime.fromisoformat(event["at"])
    record_status(event["sid"], event["status"], event["error_code"], received_at)
