"""Background jobs on RQ: the queue, and how the web process hands work to it.

Jobs take ids, reload their rows, and are idempotent; the database row, not the queue, is
the truth. Enqueueing happens only after the commit that created the row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app
from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError
from rq import Queue
from rq.utils import utcparse

from .. import clock

if TYPE_CHECKING:
    from ..intake import IntakeResult

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    url = app.config.get("REDIS_URL")
    if not url:
        raise RuntimeError("REDIS_URL is not set")
    connection = Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
    app.extensions["feedback_redis"] = connection
    # Replies to what a member just sent go first; bulk sends (a decision's fan-out,
    # interim updates) queue behind them, so a big publish never delays an acknowledgement.
    app.extensions["feedback_queue"] = Queue(app.config["QUEUE_NAME"], connection=connection)
    app.extensions["feedback_bulk_queue"] = Queue(
        app.config["BULK_QUEUE_NAME"], connection=connection
    )
    from .cli import register_cli

    register_cli(app)


def redis_connection() -> Redis:
    return current_app.extensions["feedback_redis"]


def queue() -> Queue:
    return current_app.extensions["feedback_queue"]


def bulk_queue() -> Queue:
    return current_app.extensions["feedback_bulk_queue"]


def queue_for(kind: str) -> Queue:
    from ..models import MessageKind

    return bulk_queue() if kind in MessageKind.UNPROMPTED else queue()


def intake_job_id(inbound_id: int) -> str:
    return f"intake-{inbound_id}"


def enqueue_intake(inbound_id: int, also: Callable[[Pipeline], object] | None = None) -> bool:
    """Have a worker process a message the webhook stored. Never raises: if Redis is down,
    the message stays "received" in the database and the sweeper enqueues it later.

    ``also`` adds its own commands to the same transaction: the webhook waits for this one
    round trip to Redis (RQ's own enqueue would take two), so it makes it count.
    """
    from .intake import process_inbound

    try:
        with redis_connection().pipeline() as pipe:
            queue().enqueue(
                process_inbound,
                inbound_id,
                job_id=intake_job_id(inbound_id),
                result_ttl=0,
                failure_ttl=86400,
                pipeline=pipe,
            )
            if also is not None:
                also(pipe)
            pipe.execute()
    except RedisError as exc:
        log.warning("could not enqueue inbound %s (%s); the sweeper will", inbound_id, exc)
        return False
    return True


def fan_out_job_id(decision_id: int, requests: int) -> str:
    """One job id per decision and request count: the sweeper can tell whether the fan-out
    owed since the last request still has a job waiting."""
    return f"fan-out-{decision_id}-{requests}"


def enqueue_fan_out(decision_id: int, revision: int, requests: int) -> bool:
    """Run a decision's fan-out on the bulk queue. Never raises: the decision remembers
    that a fan-out is owed, and the sweeper enqueues it if this one is lost."""
    from ..loop import notify_decision

    try:
        bulk_queue().enqueue(
            notify_decision,
            decision_id,
            revision,
            job_id=fan_out_job_id(decision_id, requests),
            result_ttl=0,
            failure_ttl=86400,
        )
    except RedisError as exc:
        log.warning(
            "could not enqueue the fan-out of decision %s (%s); the sweeper will", decision_id, exc
        )
        return False
    return True


def send_job_id(row_id: int, attempts: int, due: datetime | None = None) -> str:
    """One job id per row, attempt and due time (the row's ``next_attempt_at``): the
    sweeper, reading the row, can tell whether its job is alive.

    The due time is in it because a deferred row (quiet hours, the send rate) keeps its
    attempt count: without it the job taking the row up again would have the id of the job
    deferring it, and RQ, deleting that finished job by id, would delete its successor.
    """
    if due is None:
        return f"send-{row_id}-{attempts}"
    return f"send-{row_id}-{attempts}-{due.astimezone(UTC):%Y%m%dT%H%M%S%f}"


def enqueue_send(row_ids: Iterable[int], bulk: bool = False) -> int:
    """Wake a worker for each new outbox row (attempt 0). Returns how many were enqueued.

    Never raises: if Redis is unreachable the rows are safe in the database and the sweeper
    enqueues them when it is back.
    """
    from .send import send_outbound

    row_ids = list(row_ids)
    if not row_ids:
        return 0
    target = bulk_queue() if bulk else queue()
    if len(row_ids) == 1:
        return int(_enqueue(target, row_ids[0], 0, None))
    # A fan-out owes hundreds at once: one pipelined round trip to Redis for them all.
    jobs = [
        Queue.prepare_data(send_outbound, (row_id,), **_send_job_options(row_id, 0, None))
        for row_id in row_ids
    ]
    try:
        return len(target.enqueue_many(jobs))
    except RedisError as exc:
        log.warning("could not enqueue %s outbound rows (%s); the sweeper will", len(jobs), exc)
        return 0


def enqueue_media(media_ids: Iterable[int]) -> None:
    """Fetch each photo or voice note in a job; the sweeper catches what this misses."""
    from ..media.fetch import fetch_media

    _enqueue_each(queue(), fetch_media, media_ids)


def enqueue_erasures(erasure_ids: Iterable[int]) -> None:
    """Delete each message at Twilio in a job, on the bulk queue: nobody is waiting for
    it, and replies go first. The sweeper hands out what this misses."""
    from ..twilio_erasure import erase_at_twilio

    _enqueue_each(bulk_queue(), erase_at_twilio, erasure_ids)


def enqueue_searches(search_ids: Iterable[int]) -> None:
    """Search Twilio for a forgotten number's messages in a job, on the bulk queue, as
    deletions are; the sweeper hands out what this misses."""
    from ..twilio_erasure import search_at_twilio

    _enqueue_each(bulk_queue(), search_at_twilio, search_ids)


def _enqueue_each(target: Queue, job: Callable[[int], str], row_ids: Iterable[int]) -> None:
    """One job per row id; a row Redis would not take waits for the sweeper."""
    for row_id in row_ids:
        try:
            target.enqueue(job, row_id, result_ttl=0, failure_ttl=86400)
        except RedisError as exc:
            log.warning("could not enqueue %s %s (%s); the sweeper will", job.__name__, row_id, exc)


def after_intake(result: IntakeResult) -> None:
    """What an accepted message sets going once its transaction has committed."""
    enqueue_send(result.owed)
    enqueue_media(result.media_ids)


def enqueue_retry(row_id: int, attempts: int, due: datetime, kind: str) -> bool:
    """Schedule the job for a row put back with ``attempts`` and ``next_attempt_at`` ``due``.

    When due it goes to the front of its queue: its member has waited longer than anyone
    whose message is still queued behind it (a backlog of intake after an outage held
    retried acknowledgements back for its whole length)."""
    return _enqueue(queue_for(kind), row_id, attempts, due, scheduled=True, at_front=True)


def _send_job_options(row_id: int, attempts: int, due: datetime | None) -> dict[str, Any]:
    return {"job_id": send_job_id(row_id, attempts, due), "result_ttl": 0, "failure_ttl": 86400}


def _enqueue(
    target: Queue,
    row_id: int,
    attempts: int,
    due: datetime | None,
    scheduled: bool = False,
    at_front: bool = False,
) -> bool:
    """Enqueue the send job of a row with ``attempts`` and ``next_attempt_at`` ``due``; with
    ``scheduled``, for when it is due (through RQ's scheduler), else at once; with
    ``at_front``, ahead of the jobs already waiting."""
    from .send import send_outbound

    options = _send_job_options(row_id, attempts, due) | {"at_front": at_front}
    try:
        if not scheduled or due is None:
            target.enqueue(send_outbound, row_id, **options)
        else:
            # RQ's scheduler keeps whole seconds (it truncates), so a job due at :05.7 would
            # run at :05, claim() would find the row not yet due, and the retry would wait
            # for the sweeper. Schedule for the next whole second instead.
            when = due.astimezone(UTC)
            if when.microsecond:
                when = when.replace(microsecond=0) + timedelta(seconds=1)
            target.enqueue_at(when, send_outbound, row_id, **options)
    except RedisError as exc:
        log.warning("could not enqueue outbound %s (%s); the sweeper will", row_id, exc)
        return False
    return True


LIVE_JOB_STATUSES = {b"queued", b"scheduled", b"deferred"}


# How long after its time a scheduled job may still wait for RQ's scheduler, which moves
# due jobs to their queue every second. A scheduler killed with its worker holds its lock
# for another minute (RQ's lock lasts the scheduler's interval plus 60 s), and no other
# scheduler moves anything meanwhile: a retry due then would wait out that minute.
SCHEDULER_GRACE = timedelta(seconds=10)


# How long a job a worker has taken counts as running. RQ marks a job started a moment
# before the job claims its row (or, for intake, commits its message): the sweep, seeing
# the row still owed and the job not waiting, enqueued it again, and it ran twice. The
# claim let only one send, but whichever finished second failed in RQ's own cleanup (the
# first had deleted the job), a false error in the logs (the 10,000-member run of
# 2026-12-07). A worker killed before its claim leaves the job "started" for good: after
# this long it is replaced.
STARTED_GRACE = timedelta(seconds=10)


def waiting_jobs(job_ids: list[str], overdue: Collection[str] = ()) -> list[bool]:
    """For each job id, whether that job is still waiting in Redis to be run, or has only
    just been taken by a worker (``STARTED_GRACE``).

    A job can vanish with a Redis restart, or be left "started" by a worker killed
    mid-job; neither will ever run, so both count as not waiting.

    "queued" alone is no proof: RQ takes a job off its queue before it marks it started,
    and a worker killed in between leaves it "queued" in no queue at all, for good (RQ's
    cleanup rescues only "started" jobs). So a queued job must also be in its queue.

    Nor is "scheduled", for the jobs in ``overdue`` (due longer ago than
    ``SCHEDULER_GRACE``): no scheduler is moving them.
    """
    if not job_ids:
        return []
    connection = redis_connection()
    prefix = queue().job_class.redis_job_namespace_prefix
    with connection.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.hmget(prefix + job_id, "status", "origin", "started_at")
        found = pipe.execute()
    with connection.pipeline(transaction=False) as pipe:
        for job_id, (status, origin, _) in zip(job_ids, found, strict=True):
            if status == b"queued" and origin:
                pipe.lpos(Queue.redis_queue_namespace_prefix + origin.decode(), job_id)
        positions = iter(pipe.execute())
    # RQ stamps started_at with its own clock, the real one.
    just_now = datetime.now(UTC) - STARTED_GRACE
    waiting = []
    for job_id, (status, origin, started_at) in zip(job_ids, found, strict=True):
        live = status in LIVE_JOB_STATUSES
        if status == b"queued" and origin:
            live = next(positions) is not None
        elif status == b"scheduled" and job_id in overdue:
            live = False
        elif status == b"started" and started_at:
            live = utcparse(started_at.decode()) > just_now
        waiting.append(live)
    return waiting


def _forget_job(job_id: str) -> None:
    """Drop what is left of a job: its hash, and its place in a scheduled registry (a
    scheduler that comes back must not run the replaced job as well)."""
    with redis_connection().pipeline() as pipe:
        pipe.delete(queue().job_class.redis_job_namespace_prefix + job_id)
        for target in (queue(), bulk_queue()):
            pipe.zrem(target.scheduled_job_registry.key, job_id)
        pipe.execute()


def ensure_enqueued(rows: Iterable[tuple[int, int, str, datetime | None]]) -> int:
    """Enqueue each (row id, attempts, kind, next_attempt_at) of a due row whose job is not
    waiting in Redis any more.

    A pending row has no running job, but for the moment between a worker taking the job
    and claiming the row (``STARTED_GRACE``); so a job that is not waiting is stale and is
    replaced; so is one still scheduled long after its row fell due (``SCHEDULER_GRACE``).
    """
    rows = list(rows)
    late = clock.now() - SCHEDULER_GRACE
    overdue = {
        send_job_id(row_id, attempts, due)
        for row_id, attempts, _, due in rows
        if due is not None and due <= late
    }
    return _replace_lost_jobs(
        (
            (
                send_job_id(row_id, attempts, due),
                # Due already, and waited for: ahead of what was queued since.
                partial(_enqueue, queue_for(kind), row_id, attempts, due, at_front=True),
            )
            for row_id, attempts, kind, due in rows
        ),
        overdue,
    )


def ensure_intake_enqueued(inbound_ids: Iterable[int]) -> int:
    """Enqueue intake again for each stored message whose job is not waiting any more.

    A job running for longer than ``STARTED_GRACE`` (its worker killed, or stuck) may be
    enqueued a second time; if the first run ends after all, the second finds the message
    processed and does nothing.
    """
    return _replace_lost_jobs(
        (intake_job_id(inbound_id), partial(enqueue_intake, inbound_id))
        for inbound_id in inbound_ids
    )


def ensure_fan_outs_enqueued(decisions: Iterable[tuple[int, int, int]]) -> int:
    """Enqueue the fan-out again for each (decision id, revision, requests) whose job is not
    waiting any more. One still running may be enqueued a second time; the second run
    then owes nobody anything new."""
    return _replace_lost_jobs(
        (
            fan_out_job_id(decision_id, requests),
            partial(enqueue_fan_out, decision_id, revision, requests),
        )
        for decision_id, revision, requests in decisions
    )


def _replace_lost_jobs(
    jobs: Iterable[tuple[str, Callable[[], bool]]], overdue: Collection[str] = ()
) -> int:
    """For each (job id, how to enqueue it) whose job is not waiting (``waiting_jobs``),
    drop what is left of the old job and enqueue it afresh. Returns how many were
    enqueued."""
    jobs = list(jobs)
    waiting = waiting_jobs([job_id for job_id, _ in jobs], overdue)
    enqueued = 0
    for (job_id, enqueue), alive in zip(jobs, waiting, strict=True):
        if alive:
            continue
        _forget_job(job_id)
        if enqueue():
            enqueued += 1
    return enqueued
