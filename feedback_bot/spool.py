"""Where an inbound message waits when the database is down.

The webhook has already answered the member inline (a keyword excepted: intake answers
that); the payload must not be lost. It goes to Redis (shared by every web process and the
workers) or, if Redis is down too, to a file in ``SPOOL_DIR``. Either way it is encrypted:
it holds a phone number and a message. The sweeper drains both into the database through
the normal intake, so a spooled message is stored exactly like any other (and a Twilio
retry of it is still a no-op).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from datetime import datetime
from pathlib import Path

from flask import current_app
from redis.client import Pipeline
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from . import clock
from .jobs import after_intake, redis_connection
from .privacy import vault
from .webhooks.payload import InboundPayload

log = logging.getLogger(__name__)

SPOOL_KEY = "feedback:spool"
PROCESSING_KEY = "feedback:spool:processing"
STATUS_SPOOL_KEY = "feedback:spool:status"
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


def drain(limit: int = 500) -> int:
    """Ingest spooled messages; returns how many. Stops at the first database error.

    A Redis entry moves to a processing list while it is ingested and leaves it only after
    the commit, so a crash mid-drain puts it back next time; ingesting twice is harmless
    because intake ignores a MessageSid it has seen.
    """
    ingested = 0
    connection = redis_connection()
    while connection.lmove(PROCESSING_KEY, SPOOL_KEY, "RIGHT", "LEFT") is not None:
        pass  # recover what a crashed drain left half-done
    while ingested < limit:
        raw = connection.lmove(SPOOL_KEY, PROCESSING_KEY, "LEFT", "RIGHT")
        if raw is None:
            break
        token = raw.decode() if isinstance(raw, bytes) else str(raw)
        if not _ingest(token):
            connection.lmove(PROCESSING_KEY, SPOOL_KEY, "RIGHT", "LEFT")
            return ingested
        connection.lrem(PROCESSING_KEY, 1, token)
        ingested += 1
    folder = spool_dir()
    if folder.is_dir():
        for path in sorted(folder.glob("*.spool")):
            if ingested >= limit or not _ingest(path.read_text()):
                break
            path.unlink(missing_ok=True)
            ingested += 1
    if ingested:
        log.info("ingested %s spooled inbound messages", ingested)
    return ingested


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
    """Apply kept status callbacks, oldest first; stops at the first database error.

    Applying one twice is harmless: statuses only move forward, and the SMS fallback is
    owed once per row.
    """
    from .delivery import record_status

    connection = redis_connection()
    applied = 0
    while applied < limit:
        raw = connection.lindex(STATUS_SPOOL_KEY, 0)
        if raw is None:
            break
        event = json.loads(raw)
        try:
            record_status(
                event["sid"],
                event["status"],
                event["error_code"],
                datetime.fromisoformat(event["at"]),
            )
        except SQLAlchemyError:
            log.warning("database still unavailable; kept status callbacks wait")
            break
        connection.lpop(STATUS_SPOOL_KEY)
        applied += 1
    return applied


def _ingest(token: str) -> bool:
    from .intake import accept

    data = json.loads(vault().decrypt(token))
    payload = InboundPayload.from_dict(data["payload"])
    try:
        result = accept(payload, inline_acknowledged=bool(data.get("inline_ack")))
    except SQLAlchemyError:
        log.warning("database still unavailable; spooled messages wait")
        return False
    after_intake(result)
    return True
