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
from feedback_bot.messaging.language import warm_up


def main() -> None:
    # ``kill -USR1 <pid>`` writes every thread's stack to stderr: where a worker that will
    # not stop, or has stopped making progress, is waiting.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    app = create_app()
    # The intake job detects the language of every message. Loaded before the first job,
    # not beside it: lingua holds the interpreter while it loads (seconds), so a worker
    # could not send meanwhile either.
    warm_up(tuple(app.config["SHIPPED_LOCALES"]))
    logging.getLogger(__name__).info("worker starting")
    run_until_stopped(app)


if __name__ == "__main__":
    main()
