"""Several workers in one process tree: ``WORKER_PROCESSES=8 python worker.py``.

The parent builds the app and loads the language models once, then forks the workers
(RQ's ``WorkerPool``). They share those pages, about 600 MiB, where eight separate
``python worker.py`` processes each load their own copy. A worker that dies is forked
again at once, its models already there, instead of starting into a backlog with none.
"""

from __future__ import annotations

import gc
import logging
import signal
from multiprocessing.process import BaseProcess

from flask import Flask
from rq.worker_pool import ForkProcess, WorkerPool

from ..extensions import db
from . import bulk_queue, queue, redis_connection
from .worker import FeedbackWorker, run_until_stopped

log = logging.getLogger(__name__)


class FeedbackWorkerPool(WorkerPool):
    """RQ's pool, with each process running ``run_until_stopped``: a worker built by
    ``build_worker`` (the app's context for every job, the sweep on every tick) that waits
    out a Redis outage instead of exiting. RQ's own process builds a plain worker."""

    flask_app: Flask

    def get_worker_process(
        self, name: str, burst: bool, _sleep: float = 0, logging_level: str = "INFO"
    ) -> BaseProcess:
        return ForkProcess(target=run_forked, args=(self.flask_app,), name=f"worker {name}")


def run_forked(app: Flask) -> None:
    # Until RQ's worker installs its own handlers, a stop is only a flag. Inherited from
    # the pool, its handler would send every sibling a stop of its own.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: FeedbackWorker.stopping.set())
    run_until_stopped(app)


def run_pool(app: Flask, processes: int) -> None:
    """Load the models, fork ``processes`` workers, and keep that many running until
    SIGTERM or SIGINT, which each worker gets in turn (it finishes its job first)."""
    from ..messaging.language import offered_locales, warm_up

    with app.app_context():
        warm_up(offered_locales())
        queues = [queue(), bulk_queue()]
        connection = redis_connection()
        # Reading the offered languages opened a connection: no worker may inherit it and
        # use it beside its siblings. Redis's pool sees the fork and starts afresh itself.
        db.session.remove()  # the session's connection goes back to the pool, and then
        db.engine.dispose()  # the pool closes it
    # Out of the garbage collector's reach: its passes would write to the objects the
    # workers share, and each write copies a page into the worker that made it.
    gc.freeze()
    pool = FeedbackWorkerPool(queues, connection=connection, num_workers=processes)
    pool.flask_app = app
    log.info("starting %d workers, sharing the language models", processes)
    pool.start(burst=False, logging_level="INFO")
