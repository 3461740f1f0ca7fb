"""The RQ worker: the app context for every job, and the sweeper on every tick."""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

from flask import Flask
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker
from rq.exceptions import StopRequested
from rq.job import Job

log = logging.getLogger(__name__)

# Logged once an idle worker has loaded the language models (the benchmarks wait for it).
MODELS_LOADED = "language models loaded while idle"


def job_class_for(app: Flask) -> type[Job]:
    """A Job class whose jobs run inside ``app``'s context.

    The app is built once, when the worker starts; each job gets a fresh app context (and
    so a fresh database session) which is popped when it ends.
    """

    class AppContextJob(Job):
        def perform(self) -> Any:
            with app.app_context():
                return super().perform()

    return AppContextJob


class FeedbackWorker(SimpleWorker):
    """Runs jobs in-process (no fork per job) and sweeps the outbox on each maintenance tick.

    In-process keeps the send path fast; a job that hangs is still stopped by RQ's job
    timeout, and a worker killed outright leaves its row "sending", which the sweeper
    releases.
    """

    flask_app: Flask
    # Set by SIGTERM or SIGINT: the worker is to stop, not be started again.
    stopping = threading.Event()
    in_maintenance = False
    # How long the thread that listens for RQ's commands waits at a time (RQ's own: 60 s).
    COMMAND_POLL_SECONDS = 1.0

    def subscribe(self) -> None:
        """RQ's, with a thread that looks at its stop flag every second. On its way out RQ
        unsubscribes, then stops that thread, and redis-py's stop waits for it; a thread no
        longer subscribed sleeps out its whole wait, so a worker told to stop took up to a
        minute to exit, past a deployment's grace period before SIGKILL."""
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]
            sleep_time=self.COMMAND_POLL_SECONDS,
            daemon=True,
            exception_handler=self._pubsub_exception_handler,
        )

    def request_stop(self, signum: Any, frame: Any) -> None:
        FeedbackWorker.stopping.set()
        try:
            super().request_stop(signum, frame)
        except StopRequested:
            if not self.in_maintenance:
                raise
            # An idle worker's stop is an exception raised into whatever runs. Inside the
            # sweep, a step's catch-all would swallow it and the worker would never stop;
            # it is raised again once the maintenance tasks are done.
            self._stop_requested = True

    def run_maintenance_tasks(self) -> None:
        self.in_maintenance = True
        try:
            super().run_maintenance_tasks()
            self._sweep()
            self._load_language_models_if_idle()
        finally:
            self.in_maintenance = False
        if self._stop_requested:
            # RQ's main loop looks at the flag after the maintenance tasks, but an idle
            # worker runs them inside its wait for a job, whose loop never does: it would
            # sweep on, stopped, until a job came. Out of both loops, as RQ stops an idle one.
            raise StopRequested()

    def _load_language_models_if_idle(self) -> None:
        """Load the language models (seconds of CPU) while no job waits, so that the first
        message after a quiet start does not wait for them. With jobs queued (a worker
        restarted into a backlog) they are left for the first message that needs them:
        sending needs none, and what is owed goes first."""
        from ..messaging.language import models_loaded, offered_locales, warm_up

        with self.flask_app.app_context():
            try:
                locales = offered_locales()
                if models_loaded(locales) or any(queue.count for queue in self.queues):
                    return
                started = time.monotonic()
                warm_up(locales)
                log.info(MODELS_LOADED + " in %.1f s", time.monotonic() - started)
            except Exception:
                # Only a head start: the first message that needs them loads them anyway.
                log.exception("loading the language models failed")

    def _sweep(self) -> None:
        from .sweep import sweep_if_free

        with self.flask_app.app_context():
            try:
                sweep_if_free()
            except Exception:
                # A failed sweep must not kill the worker; the next tick tries again.
                log.exception("sweep failed")


def build_worker(app: Flask) -> FeedbackWorker:
    from . import bulk_queue, queue, redis_connection

    with app.app_context():
        connection = redis_connection()
        # In order: RQ always takes from the first queue that has a job.
        queues: list[Queue] = [queue(), bulk_queue()]
    interval = int(app.config["SWEEP_INTERVAL_SECONDS"])
    worker = FeedbackWorker(
        queues,
        connection=connection,
        job_class=job_class_for(app),
        maintenance_interval=interval,
        # The worker blocks on Redis for worker_ttl - 15 seconds when idle; keep that short
        # so that an idle worker still sweeps on time.
        worker_ttl=interval + 15,
    )
    worker.flask_app = app
    return worker


RESTART_DELAY_SECONDS = (1.0, 30.0)


def run_until_stopped(app: Flask) -> None:
    """Run a worker; if it quits on its own, start a new one, until SIGTERM or SIGINT.

    RQ's worker quits when Redis goes away under it (a restart, a failover) and cannot
    start while Redis is down. Waiting and starting again here means a Redis outage
    pauses sending instead of ending it, with or without a process manager.
    """
    delay, longest = RESTART_DELAY_SECONDS
    while not FeedbackWorker.stopping.is_set():
        ran = False
        try:
            worker = build_worker(app)  # talks to Redis already
            worker.work(with_scheduler=True, logging_level="INFO")
            ran = True
        except RedisError as exc:
            log.error("worker could not start, Redis unavailable: %s", exc)
        # RQ's signal handlers belong to the worker that just ended; between workers a
        # signal only has to say "stop".
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: FeedbackWorker.stopping.set())
        if FeedbackWorker.stopping.is_set():
            return
        if ran:
            log.error("the worker quit on its own; starting a new one")
            delay = RESTART_DELAY_SECONDS[0]  # it ran: a new failure starts the backoff afresh
        if FeedbackWorker.stopping.wait(delay):
            return
        delay = min(delay * 2, longest)
