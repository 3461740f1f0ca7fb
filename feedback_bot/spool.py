"""Where an inbound message waits when the database is down.

The webhook has already answered the member inline, or decided not to (a keyword, which
intake answers; a member who opted out, or may have: see ``opt_outs``); the payload must
not be lost. It goes to Redis (shared by every web process and the workers) or, if Redis
is down too, to a file in ``SPOOL_DIR``. Either way it is encrypted: it holds a phone
number and a message. The sweeper drains both into the database through the normal
intake, so a spooled message is stored exactly like any other (and a Twilio retry of it
is still a no-op).

Each entry keeps when the webhook received the message, and the message is stored with
that time, not the drain's: what a message changes goes by when the member sent it (a
FORGET erases what was sent before it, the later of a STOP and a START wins; see
``intake``). The drain takes the oldest entry of either spool first: files are named after
that time (then the MessageSid), and the Redis list is in the order the webhooks pushed.
An entry written before the time was kept (by an earlier version) has the time it was
encrypted, which a Fernet token carries, to the second.

An entry that fails for a reason of its own (it cannot be decrypted or parsed, the database
refuses its data, intake has a bug) keeps its place and is tried again on the next sweeps,
once the entries behind it have had their turn, ``MAX_ATTEMPTS`` times in all; then it is
set aside as a dead letter and logged, so that it cannot hold up the entries behind it for
ever. The dead letters are the Redis lists ``feedback:spool:failed`` (inbound messages,
still encrypted) and ``feedback:spool:status:failed`` (status callbacks), and
``SPOOL_DIR/failed/`` for the file spool. Nothing there is retried, nor deleted but by a
FORGET from its sender (``forget_dead_letters``): once the cause is fixed, move an entry
back (``LMOVE feedback:spool:failed feedback:spool LEFT LEFT``, to the head, as it is
older than what waits; or the file back up into ``SPOOL_DIR``) and the next sweep takes
it. A database outage is no entry's fault, nor is a database not migrated yet or a
missing grant (``dberrors``): they count against none, and every entry waits, in order.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import secrets
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum, auto
from pathlib import Path
from typing import Any

from flask import current_app
from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError

from . import clock
from .dberrors import database_unusable
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
STORED_KEY = "feedback:stored:{sid}"
# Twilio's retries of a webhook come within minutes; a day covers them all.
STORED_TTL_SECONDS = 86400
# A spool file's name starts with the time the message was received, in UTC.
FILE_TIME_FORMAT = "%Y%m%dT%H%M%S%fZ"
# Before everything: an entry whose time cannot be read (a damaged one) is tried first.
UNKNOWN_TIME = datetime.min.replace(tzinfo=UTC)


def note_stored(message_sid: str, pipe: Pipeline) -> None:
    """Remember outside the database that ``message_sid`` is stored and its reply owed, in
    the round trip ``pipe`` makes to Redis anyway (the intake job's enqueue).

    If Twilio delivers it again while the database is down (it missed our answer), the
    webhook then does not acknowledge it inline too: the outbox already owes that.
    """
    pipe.set(STORED_KEY.format(sid=message_sid), "1", ex=STORED_TTL_SECONDS)


def known_stored(message_sid: str) -> bool | None:
    """Whether ``note_stored`` noted ``message_sid``; None if Redis cannot say."""
    try:
        return bool(redis_connection().exists(STORED_KEY.format(sid=message_sid)))
    except RedisError:
        return None


def spool_dir() -> Path:
    configured = current_app.config.get("SPOOL_DIR")
    return Path(configured) if configured else Path(current_app.instance_path) / "spool"


def keep(payload: InboundPayload, *, inline_ack: bool, received_at: datetime | None = None) -> str:
    """Store ``payload``, received at ``received_at`` (now by default), durably outside the
    database. Returns where ("redis" or "file").

    ``inline_ack`` says whether the webhook's answer acknowledged it: if so the drain
    records that acknowledgement as sent; if not, the outbox owes one.
    """
    received_at = (received_at or clock.now()).astimezone(UTC)
    record = {
        "payload": payload.to_dict(),
        "inline_ack": inline_ack,
        "received_at": received_at.isoformat(),
    }
    token = vault().encrypt(json.dumps(record))
    try:
        redis_connection().rpush(SPOOL_KEY, token)
        return "redis"
    except RedisError:
        log.error("Redis is unreachable too: spooling inbound message to disk")
    folder = spool_dir()
    folder.mkdir(parents=True, exist_ok=True)
    # Named to sort by time, then MessageSid: the drain takes the oldest first.
    stamp = received_at.strftime(FILE_TIME_FORMAT)
    final = folder / f"{stamp}-{payload.message_sid}-{secrets.token_hex(4)}.spool"
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
    """Ingest spooled messages, oldest first across the Redis and the file spool; returns
    how many. Stops at the first sign the database is down; an entry that fails otherwise
    is passed over for now (see the module's docstring).

    A Redis entry moves to a processing list while it is ingested and leaves it only after
    the commit; one that failed stays there until the drain ends, then every entry left
    in it goes back to the head of the spool, in order. So a crash mid-drain puts them back
    next time, and ingesting twice is harmless because intake ignores a MessageSid it has
    seen. A file stays where it is until its message is stored.
    """
    connection = redis_connection()
    _put_back(connection)  # recover what a crashed drain left half-done
    files = _spool_files()
    file_time = _file_time(files[0]) if files else None
    ingested = 0
    try:
        for _ in range(limit):
            head = connection.lindex(SPOOL_KEY, 0)
            if file_time is not None and (head is None or file_time <= _entry_time(_text(head))):
                outcome = _drain_file(files.pop(0))
                file_time = _file_time(files[0]) if files else None
            elif head is not None:
                outcome = _drain_redis_head(connection)
            else:
                break
            if outcome is Outcome.WAIT:
                break
            ingested += outcome is Outcome.DONE
    finally:
        _put_back(connection)  # what failed this time, at the head, for the next sweep
    if ingested:
        log.info("ingested %s spooled inbound messages", ingested)
    return ingested


def _put_back(connection: Redis) -> None:
    """Move the processing list back to the head of the spool, in its order."""
    while connection.lmove(PROCESSING_KEY, SPOOL_KEY, "RIGHT", "LEFT") is not None:
        pass


def _drain_redis_head(connection: Redis) -> Outcome | None:
    """Ingest the entry at the head of the Redis spool (None if another drain took it)."""
    raw = connection.lmove(SPOOL_KEY, PROCESSING_KEY, "LEFT", "RIGHT")
    if raw is None:
        return None
    token = _text(raw)
    outcome = _attempt(token, _ingest, "inbound message", DEAD_KEY)
    _settle(connection, token, outcome)
    return outcome


def _settle(connection: Redis, token: str, outcome: Outcome) -> None:
    """Take ``token`` out of the processing list if it is stored or a dead letter now
    (into the dead letters), in one transaction: a crash leaves it in one list or the
    other, never both or neither. One that waits or failed stays, for ``drain`` to put
    back."""
    if outcome not in (Outcome.DONE, Outcome.DEAD):
        return
    pipe = connection.pipeline()
    pipe.lrem(PROCESSING_KEY, 1, token)
    if outcome is Outcome.DEAD:
        pipe.rpush(DEAD_KEY, token)
    pipe.hdel(ATTEMPTS_KEY, _fingerprint(token))
    pipe.execute()


def _spool_files() -> list[Path]:
    """The spool's files, oldest first."""
    folder = spool_dir()
    if not folder.is_dir():
        return []
    return sorted(folder.glob("*.spool"), key=lambda path: (_file_time(path), path.name))


def _file_time(path: Path) -> datetime:
    """When the message in ``path`` was received: in its name, or else (a file an earlier
    version named after the MessageSid alone) inside it."""
    stamp = path.name.split("-", 1)[0]
    try:
        return datetime.strptime(stamp, FILE_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        pass
    try:
        return _entry_time(path.read_text(errors="replace"))
    except OSError:
        return UNKNOWN_TIME  # gone (another drain took it) or unreadable: its turn is now


def _drain_file(path: Path) -> Outcome | None:
    """Ingest the message in spool file ``path`` (None if another drain took it)."""
    try:
        # A damaged file still yields text, to fail decryption and be counted like any.
        token = path.read_text(errors="replace")
    except FileNotFoundError:
        return None
    outcome = _attempt(token, _ingest, "inbound message", str(path.parent / FAILED_FOLDER))
    _settle_file(path, token, outcome)
    return outcome


def _settle_file(path: Path, token: str, outcome: Outcome) -> None:
    """Delete a stored file, move a dead letter aside; leave one that waits or failed."""
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
    except Exception as exc:
        # The database cannot store anything now (down, busy, not migrated, not
        # permitted), as the webhook decides it: the entry is not at fault, and a missing
        # table must not make a dead letter of every message kept through it.
        if database_unusable(exc):
            log.warning("database unavailable (%s); spooled entries wait", type(exc).__name__)
            return Outcome.WAIT
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
    inline_ack = bool(data.get("inline_ack"))
    after_intake(accept(payload, inline_ack, received_at=_received_at(token, data)))


def _received_at(token: str, data: dict[str, Any]) -> datetime | None:
    """When the message of ``token``, decrypted as ``data``, was received."""
    kept = data.get("received_at")
    if kept is not None:
        return datetime.fromisoformat(kept).astimezone(UTC)
    # Kept by an earlier version, without the time: the time it was encrypted is that of
    # the webhook that kept it, to the second.
    return _sealed_at(token)


def _entry_time(token: str) -> datetime:
    """When the message of ``token`` was received, for the drain's order; UNKNOWN_TIME if
    the entry cannot be read (it is tried first, fails, and is passed over)."""
    try:
        return _received_at(token, json.loads(vault().decrypt(token))) or UNKNOWN_TIME
    except Exception:  # whatever is wrong with it, ``_ingest`` meets it again and counts it
        return UNKNOWN_TIME


def forget_dead_letters(e164: str, until: datetime) -> int:
    """Delete the dead letters of inbound messages from ``e164`` received up to ``until``
    (when its member asked to be forgotten); returns how many went.

    Kept for an operator, outside the database, they would keep what the member asked us
    to erase, and one replayed once the member's FORGET is no longer remembered would bring
    them back. One that cannot be decrypted cannot be told apart, and stays. A message from
    the number after ``until`` is not the FORGET's: somebody new, or the member again.
    """
    connection = redis_connection()
    erased = 0
    for raw in connection.lrange(DEAD_KEY, 0, -1):
        token = _text(raw)
        if _sent_by(token, e164, until):
            erased += int(connection.lrem(DEAD_KEY, 1, token))
    folder = spool_dir() / FAILED_FOLDER
    for path in sorted(folder.glob("*.spool")) if folder.is_dir() else []:
        try:
            token = path.read_text(errors="replace")
        except FileNotFoundError:
            continue  # an operator moved it back meanwhile
        if _sent_by(token, e164, until):
            path.unlink(missing_ok=True)
            erased += 1
    if erased:
        log.info("forgotten: %s of the spool's dead letters", erased)
    return erased


def _sent_by(token: str, e164: str, until: datetime) -> bool:
    """Whether spooled ``token`` is a message from ``e164`` received up to ``until``."""
    try:
        data = json.loads(vault().decrypt(token))
        sender = InboundPayload.from_dict(data["payload"]).sender
    except Exception:  # undecryptable or damaged: whose it is cannot be told
        return False
    received_at = _received_at(token, data)
    return sender == e164 and received_at is not None and received_at <= until


def _sealed_at(token: str) -> datetime | None:
    """When ``token`` was encrypted: a Fernet token is a version byte, then the time in
    whole seconds as 8 bytes big-endian, then the rest. Only for a token that decrypted."""
    try:
        raw = base64.urlsafe_b64decode(token.encode())
        return datetime.fromtimestamp(int.from_bytes(raw[1:9], "big"), UTC)
    except (binascii.Error, ValueError, OverflowError, OSError):
        return None


def _apply_status(entry: str) -> None:
    from .delivery import record_status

    event = json.loads(entry)
    received_at = datetime.fromisoformat(event["at"])
    record_status(event["sid"], event["status"], event["error_code"], received_at)
