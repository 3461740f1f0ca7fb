"""Run a worker: ``python worker.py``.

Sends the outbox, runs scheduled retries (RQ's scheduler), and sweeps the outbox on a
schedule so that nothing a lost queue forgot stays unsent.
"""

from __future__ import annotations

import faulthandler
import logging
import signal

from feedback_bot import create_app
from feedback_bot.jobs.worker import run_until_stopped


def main() -> None:
    # ``kill -USR1 <pid>`` writes every thread's stack to stderr: where a worker that will
    # not stop, or has stopped making progress, is waiting.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    app = create_app()
    # The language models are not loaded here: sending needs none, so a worker restarted
    # into a backlog sends what is owed at once. The worker loads them once its queues are
    # empty, or with the first message that needs them (seconds; lingua holds the
    # interpreter meanwhile, so loading them in a thread beside the worker would not free
    # it either).
    logging.getLogger(__name__).info("worker starting")
    run_until_stopped(app)


if __name__ == "__main__":
    main()
