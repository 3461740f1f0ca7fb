"""The sweeper: whatever the queue lost, the database still knows.

Run by every worker on its maintenance tick (and by ``flask outbox sweep``); a Redis lock
lets only one of them sweep at a time.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from redis.exceptions import RedisError

from .. import members, spool
from ..intake import unprocessed
from ..loop import owe_interim_updates, unfinished_fan_outs
from ..media.fetch import due_media
from ..outbox import due_rows, release_stuck
from ..whatsapp.window import revive_waiting
from . import (
    enqueue_media,
    ensure_enqueued,
    ensure_fan_outs_enqueued,
    ensure_intake_enqueued,
    redis_connection,
)

log = logging.getLogger(__name__)

LOCK_KEY = "feedback:sweep-lock"


def sweep() -> dict[str, int]:
    config = current_app.config
    batch = config["SWEEP_BATCH_SIZE"]
    intake = ensure_intake_enqueued(
        unprocessed(batch, timedelta(seconds=config["INTAKE_STUCK_SECONDS"]))
    )
    fan_outs = ensure_fan_outs_enqueued(
        unfinished_fan_outs(batch, timedelta(seconds=config["FAN_OUT_STUCK_SECONDS"]))
    )
    released = release_stuck(timedelta(seconds=config["SENDING_STUCK_SECONDS"]), batch)
    enqueued = ensure_enqueued(due_rows(batch) + revive_waiting(batch))
    drained = spool.drain(batch)
    statuses = spool.drain_statuses(batch)
    interim = owe_interim_updates(batch)
    media = due_media(batch)
    enqueue_media(media)
    forgets = members.forget_expired()
    counts = {
        "intake_enqueued": intake,
        "fan_outs_enqueued": fan_outs,
        "released": len(released),
        "enqueued": enqueued,
        "spool_ingested": drained,
        "statuses_applied": statuses,
        "interim_owed": interim,
        "media_enqueued": len(media),
        "forgets_expired": forgets,
    }
    if any(counts.values()):
        log.info("sweep: %s", counts)
    return counts


def sweep_if_free() -> dict[str, int] | None:
    """Sweep unless another process is sweeping; None if it was."""
    interval = max(int(current_app.config["SWEEP_INTERVAL_SECONDS"]) - 1, 1)
    try:
        if not redis_connection().set(LOCK_KEY, "1", nx=True, ex=interval):
            return None
    except RedisError as exc:
        log.warning("sweep skipped, Redis unavailable: %s", exc)
        return None
    return sweep()
