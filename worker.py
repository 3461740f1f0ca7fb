"""Run a worker: ``python worker.py``.

Sends the outbox, runs scheduled retries (RQ's scheduler), and sweeps the outbox on a
schedule so that nothing a lost queue forgot stays unsent.
"""

from __future__ import annotations

import logging
import os

from feedback_bot import create_app
from feedback_bot.jobs.worker import run_until_stopped


def main() -> None:
    # The intake job detects the language of every message: load the models before the
    # first job rather than in it.
    os.environ.setdefault("PRELOAD_LANGUAGE_MODELS", "1")
    app = create_app()
    logging.getLogger(__name__).info("worker starting")
    run_until_stopped(app)


if __name__ == "__main__":
    main()
