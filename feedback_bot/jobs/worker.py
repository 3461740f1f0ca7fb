"""The RQ worker: the app context for every job, and the sweeper on every tick."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from rq import Queue, SimpleWorker
from rq.job import Job

log = logging.getLogger(__name__)


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

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()
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
