"""What the health endpoints check.

Two audiences, two questions. A load balancer asks "can this web process take requests?"
(``ready``): the database and Redis reachable, the schema at this release's migrations.
A monitor asks "is the work getting done?" (``work``): messages processed, workers
alive, nothing set aside for an operator. Workers being down is the monitor's alarm, not
the load balancer's: the webhook still stores every message (the workers catch up when
they are back), and taking every web process out of rotation would turn a late reply
into a lost message.

Each check gives its state ("ok" or what is wrong) and, when it fails, what to do, so
that a page at night says what the morning's fix is.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from flask import current_app
from redis.exceptions import RedisError
from rq import Worker
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from .. import clock, spool
from ..extensions import db
from ..jobs import bulk_queue, queue, redis_connection
from ..models import Disposition, InboundMessage, OutboundMessage, OutboundStatus


@dataclass
class Report:
    """The checks' states, the details a monitor graphs, and what to do about failures."""

    checks: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    actions: dict[str, str] = field(default_factory=dict)

    def ok(self, name: str) -> None:
        self.checks[name] = "ok"

    def fail(self, name: str, state: str, action: str) -> None:
        self.checks[name] = state
        self.actions[name] = action

    @property
    def healthy(self) -> bool:
        return not self.actions

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": "ok" if self.healthy else "unavailable",
            "checks": self.checks,
        }
        if self.details:
            body["details"] = self.details
        if self.actions:
            body["actions"] = self.actions
        return body


def ready() -> Report:
    """Whether this web process can do its work: for a load balancer."""
    report = Report()
    try:
        db.session.execute(text("SELECT 1"))
        report.ok("database")
        _check_schema(report)
    except SQLAlchemyError:
        db.session.rollback()
        report.fail(
            "database", "unreachable", "check DATABASE_URL and that the database server is up"
        )
    try:
        redis_connection().ping()
        report.ok("redis")
    except RedisError:
        report.fail("redis", "unreachable", "check REDIS_URL and that the Redis server is up")
    return report


@functools.cache
def _script_heads(directory: str) -> frozenset[str]:
    """The migrations' heads: they are files shipped with the release, read once."""
    return frozenset(_scripts(directory).get_heads())


@functools.cache
def _scripts(directory: str) -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", directory)
    return ScriptDirectory.from_config(config)


def _check_schema(report: Report) -> None:
    """The database's revision against the migrations' head.

    Behind (or never migrated) fails: this release's code needs tables and columns the
    database does not have yet. A revision this release does not know is a newer release's
    (its migrations ran before its web processes started, while this one still serves):
    reported, not failed, or a rolling deployment would take every old web process out of
    rotation before a new one is up. Migrations add before a release uses, so the old code
    still works on the newer schema.
    """
    directory = current_app.extensions["migrate"].directory
    heads = _script_heads(directory)
    current = frozenset(MigrationContext.configure(db.session.connection()).get_current_heads())
    db.session.rollback()  # the read opened a transaction; give the connection back
    report.details["schema"] = {"database": sorted(current), "head": sorted(heads)}
    if current == heads:
        report.ok("schema")
        return
    scripts = _scripts(directory)
    try:
        for revision in current:
            scripts.get_revision(revision)
    except CommandError:
        report.checks["schema"] = "newer than this release"
        return
    report.fail(
        "schema",
        "migrations pending",
        "run 'flask --app feedback_bot db upgrade' (the Procfile's release step)",
    )


def work() -> Report:
    """Whether the work is getting done: for a monitor."""
    report = Report()
    config = current_app.config
    now = clock.now()
    try:
        _check_intake(report, now, config["INTAKE_BACKLOG_ALERT_SECONDS"])
        failed = db.session.scalar(
            select(func.count())
            .select_from(OutboundMessage)
            .where(OutboundMessage.status == OutboundStatus.FAILED)
        )
        # Reported, not failed on: a send fails for good for reasons of its own (a number
        # that cannot take SMS), and staff see each one in the panel.
        report.details["outbox_failed"] = failed
    except SQLAlchemyError:
        db.session.rollback()
        report.fail(
            "intake", "database unreachable", "see /healthz; messages wait in the spool meanwhile"
        )
    finally:
        db.session.rollback()
    try:
        _check_workers(report, now)
        _check_spool(report)
    except RedisError:
        report.fail("workers", "Redis unreachable", "check REDIS_URL and the Redis server")
    return report


def intake_backlog(now: datetime) -> tuple[int, float]:
    """Stored messages no intake job has processed yet, and the oldest one's age in seconds
    (0 if none): unanswered until a worker gets to them."""
    waiting, oldest = db.session.execute(
        select(func.count(), func.min(InboundMessage.received_at)).where(
            InboundMessage.disposition == Disposition.RECEIVED
        )
    ).one()
    age = (now - _aware(oldest)).total_seconds() if oldest is not None else 0.0
    return waiting, max(age, 0.0)


def _check_intake(report: Report, now: datetime, threshold: int) -> None:
    waiting, age = intake_backlog(now)
    report.details["intake"] = {
        "waiting": waiting,
        "oldest_seconds": round(age),
        "threshold_seconds": threshold,
    }
    if age > threshold:
        report.fail(
            "intake",
            "backlog",
            "messages are stored but not processed: check that workers run "
            "('worker:' in the Procfile) and their logs",
        )
    else:
        report.ok("intake")


def _aware(moment: datetime) -> datetime:
    # SQLite and RQ may hand back a naive time; both are UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


# A worker's heartbeat comes every few seconds while it waits or works; one silent for
# longer than this is gone (killed outright, its registry entry not yet cleaned).
HEARTBEAT_STALE = timedelta(minutes=2)


def _check_workers(report: Report, now: datetime) -> None:
    connection = redis_connection()
    queues = (queue(), bulk_queue())
    report.details["queues"] = {each.name: each.count for each in queues}
    alive: set[str] = set()
    for each in queues:
        for worker in Worker.all(connection=connection, queue=each):
            beat = worker.last_heartbeat
            if beat is not None and now - _aware(beat) <= HEARTBEAT_STALE:
                alive.add(worker.name)
    report.details["workers_alive"] = len(alive)
    if alive:
        report.ok("workers")
    else:
        report.fail(
            "workers",
            "none alive",
            "start the workers ('worker:' in the Procfile); replies wait until they run",
        )


def _check_spool(report: Report) -> None:
    connection = redis_connection()
    folder = spool.spool_dir()
    failed_folder = folder / spool.FAILED_FOLDER
    waiting = int(connection.llen(spool.SPOOL_KEY)) + int(connection.llen(spool.STATUS_SPOOL_KEY))
    waiting += len(list(folder.glob("*.spool"))) if folder.is_dir() else 0
    dead = int(connection.llen(spool.DEAD_KEY)) + int(connection.llen(spool.STATUS_DEAD_KEY))
    dead += len(list(failed_folder.glob("*.spool"))) if failed_folder.is_dir() else 0
    report.details["spool"] = {"waiting": waiting, "dead_letters": dead}
    if dead:
        report.fail(
            "spool",
            "dead letters",
            "entries the sweeper gave up on: read the worker log for why, fix it, and move "
            "them back (README, 'Health checks')",
        )
    else:
        report.ok("spool")
