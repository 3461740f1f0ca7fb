"""Several workers in one process tree: ``WORKER_PROCESSES=8 python worker.py``.

The parent builds the app and loads the language models once, then forks the workers
(RQ's ``WorkerPool``). They share those pages, about 600 MiB, where eight separate
``python worker.py`` processes each load their own copy. A worker that dies is forked
again, its models already there, instead of starting into a backlog with none: at once,
unless workers keep dying as soon as they start.
"""

from __future__ import annotations

import gc
import logging
import signal
import time
from multiprocessing.process import BaseProcess
from typing import Any

from flask import Flask
from rq.worker_pool import ForkProcess, WorkerData, WorkerPool

from ..extensions import db
from . import bulk_queue, queue, redis_connection
from .worker import FeedbackWorker, run_until_stopped

log = logging.getLogger(__name__)


# A worker that dies sooner than this after it started is failing, not just unlucky: the
# next is started after a pause that doubles with each such death, up to RESPAWN_MAX_DELAY.
SHORT_LIFE_SECONDS = 30.0
RESPAWN_MAX_DELAY = 60.0


class FeedbackWorkerPool(WorkerPool):
    """RQ's pool, with each process running ``run_until_stopped``: a worker built by
    ``build_worker`` (the app's context for every job, the sweep on every tick) that waits
    out a Redis outage instead of exiting. RQ's own process builds a plain worker.

    RQ forks a replacement for a dead worker on its next check, every second. A worker
    that fails as it starts (a setting only a worker reads, a full disk) would then be
    forked and fail again every second, for good, its traceback filling the log; so
    each such exit doubles the wait before the next start. A worker that lives past
    SHORT_LIFE_SECONDS, or is killed by a signal, is replaced at once and resets it.
    """

    flask_app: Flask

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._started_at: dict[str, float] = {}
        self._quick_deaths = 0
        self._respawn_after = 0.0

    def get_worker_process(
        self, name: str, burst: bool, _sleep: float = 0, logging_level: str = "INFO"
    ) -> BaseProcess:
        self._started_at[name] = time.monotonic()
        return ForkProcess(target=run_forked, args=(self.flask_app,), name=f"worker {name}")

    def handle_dead_worker(self, worker_data: WorkerData) -> None:
        super().handle_dead_worker(worker_data)
        now = time.monotonic()
        lived = now - self._started_at.pop(worker_data.name, now)
        exitcode = worker_data.process.exitcode
        if lived >= SHORT_LIFE_SECONDS or exitcode is None or exitcode < 0:
            # Lived long enough, or was killed by a signal (the OOM killer, an operator):
            # something outside it, which a new worker need not wait for.
            self._quick_deaths = 0
            return
        self._quick_deaths += 1
        delay = min(2.0 ** (self._quick_deaths - 1), RESPAWN_MAX_DELAY)
        self._respawn_after = max(self._respawn_after, now + delay)
        log.error(
            "worker %s exited with status %s %.1f s after it started (%d such exits in a "
            "row); the next starts in %.0f s",
            worker_data.name,
            exitcode,
            lived,
            self._quick_deaths,
            delay,
        )

    def start_worker(
        self,
        count: int | None = None,
        burst: bool = True,
        _sleep: float = 0,
        logging_level: str = "INFO",
    ) -> None:
        # RQ's check asks for one in place of each worker it found dead, the moment it
        # reaped them (``handle_dead_worker``, which set the pause): not before the pause ends.
        if time.monotonic() < self._respawn_after:
            return
        super().start_worker(count, burst=burst, _sleep=_sleep, logging_level=logging_level)


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
