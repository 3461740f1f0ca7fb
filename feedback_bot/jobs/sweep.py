"""The sweeper: whatever the queue lost, the database still knows.

Run by every worker on its maintenance tick (and by ``flask outbox sweep``); a Redis lock
lets only one of them sweep at a time. Each step runs on its own: one that fails is logged
and counted as 0, and the others still run, so a step that fails on every tick cannot
starve the rest.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from .. import members, opt_outs, spool, twilio_erasure
from ..dberrors import database_unusable
from ..extensions import db
from ..intake import unprocessed
from ..loop import owe_interim_updates, unfinished_fan_outs
from ..media.fetch import due_media
from ..outbox import due_rows, release_stuck
from ..whatsapp.window import revive_waiting
from . import (
    enqueue_erasures,
    enqueue_media,
    enqueue_searches,
    ensure_enqueued,
    ensure_fan_outs_enqueued,
    ensure_intake_enqueued,
    redis_connection,
)

log = logging.getLogger(__name__)

LOCK_KEY = "feedback:sweep-lock"


def sweep() -> dict[str, int]:
    counts = {name: _run(name, step) for name, step in _steps(current_app.config).items()}
    if any(counts.values()):
        log.info("sweep: %s", counts)
    return counts


def _steps(config: Mapping[str, Any]) -> dict[str, Callable[[], int]]:
    """Each step by the name of its count, in the order they run."""
    batch = config["SWEEP_BATCH_SIZE"]

    def ago(setting: str) -> timedelta:
        return timedelta(seconds=config[setting])

    return {
        "intake_enqueued": lambda: ensure_intake_enqueued(
            unprocessed(batch, ago("INTAKE_STUCK_SECONDS"))
        ),
        "fan_outs_enqueued": lambda: ensure_fan_outs_enqueued(
            unfinished_fan_outs(batch, ago("FAN_OUT_STUCK_SECONDS"))
        ),
        "released": lambda: len(release_stuck(ago("SENDING_STUCK_SECONDS"), batch)),
        "enqueued": lambda: ensure_enqueued(due_rows(batch) + revive_waiting(batch)),
        "spool_ingested": lambda: spool.drain(batch),
        "statuses_applied": lambda: spool.drain_statuses(batch),
        "interim_owed": lambda: owe_interim_updates(batch),
        "media_enqueued": lambda: _handed_out(due_media(batch), enqueue_media),
        "forgets_expired": lambda: members.forget_expired(),
        "twilio_searches_enqueued": lambda: _handed_out(
            twilio_erasure.searches_due(batch), enqueue_searches
        ),
        "twilio_erasures_enqueued": lambda: _handed_out(
            twilio_erasure.due(batch), enqueue_erasures
        ),
        # The set the webhook consults during a database outage; Redis may have lost it.
        "opt_outs_backfilled": lambda: opt_outs.backfill_if_lost(),
    }


def _handed_out(ids: list[int], enqueue: Callable[[list[int]], None]) -> int:
    """Enqueue the jobs of the rows a step found due; how many."""
    enqueue(ids)
    return len(ids)


def _run(name: str, step: Callable[[], int]) -> int:
    """Run one step; if it fails, log it and count 0, for the next step to run."""
    try:
        return step()
    except Exception as exc:
        if database_unusable(exc):
            # Every step fails alike while the database is down (or not migrated yet): a
            # line each, not a traceback.
            log.warning(
                "sweep step %s skipped, database unavailable (%s)", name, type(exc).__name__
            )
        else:
            log.exception("sweep step %s failed; the other steps still run", name)
    _rollback()
    return 0


def _rollback() -> None:
    # A step that failed mid-transaction leaves the session unusable until it is rolled
    # back, and the next step would fail on that instead of doing its work.
    with contextlib.suppress(SQLAlchemyError):
        db.session.rollback()


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
