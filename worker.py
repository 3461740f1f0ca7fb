"""Run a worker: ``python worker.py``.

Sends the outbox, runs scheduled retries (RQ's scheduler), and sweeps the outbox on a
schedule so that nothing a lost queue forgot stays unsent.
"""

from __future__ import annotations

import logging

from feedback_bot import create_app
from feedback_bot.jobs.worker import build_worker


def main() -> None:
    app = create_app()
    worker = build_worker(app)
    logging.getLogger(__name__).info("worker %s starting", worker.name)
    worker.work(with_scheduler=True, logging_level="INFO")


if __name__ == "__main__":
    main()
