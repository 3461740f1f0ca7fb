"""``WORKER_PROCESSES=N python worker.py``: one process builds the app and loads the
language models, then forks N workers that share them, and forks a new one when one dies
(feedback_bot/jobs/pool.py)."""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest
from redis import Redis

from faults import stack
from feedback_bot.jobs import pool as pool_module
from feedback_bot.jobs import redis_connection
from feedback_bot.jobs.pool import FeedbackWorkerPool
from feedback_bot.jobs.worker import MODELS_LOADED

from .conftest import send_sms
from .test_guarantee import kill_worker, start_worker, wait_for, worker_environment

MIB = 1024 * 1024
PROCESSES = 2
MEMBERS = ("+447911123101", "+447911123102", "+447911123103")


def database_handles(process: psutil.Process) -> list[str]:
    """The process's connections to PostgreSQL and its open SQLite files."""
    sockets = [f"{c.raddr}" for c in process.net_connections("all") if c.raddr]
    files = [f.path for f in process.open_files() if ".sqlite3" in f.path]
    return [s for s in sockets if s.endswith("5432)")] + files


@pytest.mark.slow
def test_pooled_workers_share_the_models_and_a_dead_one_is_replaced(
    client, database_url, redis_url, fake_twilio, tmp_path
):
    env = worker_environment(database_url, redis_url, fake_twilio)
    env["WORKER_PROCESSES"] = str(PROCESSES)
    log_path = tmp_path / "pool.log"
    process = start_worker(env, log_path)
    try:
        pool = psutil.Process(process.pid)
        wait_for(lambda: len(stack.live_children(pool.pid)) == PROCESSES, 240, "the pool's workers")
        # A connection the parent opened and its workers inherited would be used by them
        # all at once.
        assert database_handles(pool) == []

        send_sms(client, MEMBERS[0], "The bus stop sign has fallen down.", process=False)
        wait_for(lambda: len(fake_twilio.messages) == 1, 60, "the first acknowledgement")

        victim = stack.live_children(pool.pid)[0]
        victim.kill()  # as the kernel's OOM killer would
        victim.wait(timeout=10)
        wait_for(
            lambda: (
                len(stack.live_children(pool.pid)) == PROCESSES
                and victim not in stack.live_children(pool.pid)
            ),
            30,
            "a worker forked in the dead one's place",
        )
        for index, member in enumerate(MEMBERS[1:], start=2):
            send_sms(client, member, "The park gate is locked in the day.", process=False)
            wait_for(lambda n=index: len(fake_twilio.messages) == n, 60, f"acknowledgement {index}")
        assert [m["to"] for m in fake_twilio.messages] == list(MEMBERS)

        # Idle workers load the models they lack within a maintenance tick (a second here):
        # give them two, then look. Each worker's own memory (USS: pages no other process
        # shares) is a small part of the parent's, which holds the models; a worker that
        # loaded its own copy would hold some 600 MiB.
        time.sleep(2.5)
        parent_rss = pool.memory_info().rss
        assert parent_rss > 300 * MIB, f"the parent holds {parent_rss / MIB:.0f} MiB"
        for worker in stack.live_children(pool.pid):
            own = worker.memory_full_info().uss
            assert own < parent_rss / 4, (
                f"worker {worker.pid} holds {own / MIB:.0f} MiB of its own; "
                f"the parent {parent_rss / MIB:.0f} MiB"
            )
        assert MODELS_LOADED not in log_path.read_text()

        workers = stack.live_children(pool.pid)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log_path.read_text()[-3000:]
        assert not any(worker.is_running() for worker in workers)
    finally:
        if process.poll() is None:
            print(log_path.read_text()[-3000:])
        kill_worker(process)  # its process group: a scheduler the killed worker left too


def starts_within(pool, seconds: float) -> int:
    """How many workers the pool starts while it checks on them, as it does every second
    (here every 50 ms, so that a restart at once shows as many)."""
    started = 0
    original = pool.get_worker_process

    def counted(*args, **kwargs):
        nonlocal started
        started += 1
        return original(*args, **kwargs)

    pool.get_worker_process = counted  # each worker started is a process made
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pool.check_workers()
        time.sleep(0.05)
    pool.get_worker_process = original
    return started


def connection_of(app) -> Redis:
    with app.app_context():
        return redis_connection()


def exits_at_once() -> None:
    raise SystemExit(1)  # as a worker that fails as it starts


def test_a_worker_that_fails_as_it_starts_is_restarted_ever_more_slowly(app, monkeypatch, caplog):
    monkeypatch.setattr(pool_module, "run_forked", lambda _app: exits_at_once())
    pool = FeedbackWorkerPool(["feedback"], connection=connection_of(app), num_workers=1)
    pool.flask_app = app
    pool.status = pool.Status.STARTED
    pool.start_worker()

    # Started, exited; again after 1 s, exited; again after 2 s: three starts in 3.6 s,
    # where restarting at once every check would have made some seventy.
    assert starts_within(pool, 3.6) == 2
    said = [r.getMessage() for r in caplog.records if r.name == "feedback_bot.jobs.pool"]
    assert "exited with status 1" in said[0] and "the next starts in 1 s" in said[0]
    assert "the next starts in 2 s" in said[1]


def test_a_worker_killed_by_a_signal_is_replaced_at_once(app, monkeypatch):
    monkeypatch.setattr(pool_module, "run_forked", lambda _app: time.sleep(30))
    pool = FeedbackWorkerPool(["feedback"], connection=connection_of(app), num_workers=1)
    pool.flask_app = app
    pool.status = pool.Status.STARTED
    pool.start_worker()
    try:
        for _ in range(3):  # as the OOM killer would, three times in a row
            [worker] = pool.worker_dict.values()
            os.kill(worker.pid, signal.SIGKILL)
            worker.process.join(5)
            assert starts_within(pool, 0.2) == 1
    finally:
        for worker in pool.worker_dict.values():
            os.kill(worker.pid, signal.SIGKILL)
            worker.process.join(5)
