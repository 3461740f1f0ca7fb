"""Run a worker: ``python worker.py``; with ``WORKER_PROCESSES=N``, N workers that share
one copy of the language models.

Sends the outbox, runs scheduled retries (RQ's scheduler), and sweeps the outbox on a
schedule so that nothing a lost queue forgot stays unsent.
"""

from __future__ import annotations

import faulthandler
import logging
import signal
import sys

from feedback_bot import create_app
from feedback_bot.config import ConfigError, cautions
from feedback_bot.jobs.orphans import stop_children_with_this_process
from feedback_bot.jobs.pool import run_pool
from feedback_bot.jobs.worker import run_until_stopped
from feedback_bot.keys import check_at_start


def main() -> None:
    # ``kill -USR1 <pid>`` writes every thread's stack to stderr: where a worker that will
    # not stop, or has stopped making progress, is waiting.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    # RQ's scheduler and a pool's workers are forked from here: none outlives its parent.
    stop_children_with_this_process()
    try:
        app = create_app()
        # Refuse to work with keys that cannot read what is stored (feedback_bot/keys.py).
        check_at_start(app)
    except ConfigError as exc:
        # The operator's mistake, said in one line (and exit 1), not a traceback to read
        # through; any other exception is a bug, and keeps its traceback.
        sys.exit(f"Error: {exc}")
    log = logging.getLogger(__name__)
    for caution in cautions(app.config):
        log.warning("%s", caution)
    processes = int(app.config["WORKER_PROCESSES"])
    if processes > 1:
        # The pool's parent loads the models before forking, so that its workers share
        # them; one it forks again later has them at once (feedback_bot/jobs/pool.py).
        run_pool(app, processes)
        return
    # One worker does not load the language models here: sending needs none, so a worker
    # restarted into a backlog sends what is owed at once. It loads them once its queues
    # are empty, or with the first message that needs them (seconds; lingua holds the
    # interpreter meanwhile, so loading them in a thread beside the worker would not free
    # it either).
    log.info("worker starting")
    run_until_stopped(app)


if __name__ == "__main__":
    main()
