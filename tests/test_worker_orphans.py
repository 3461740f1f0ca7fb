"""Nothing a worker forks outlives it: RQ's scheduler stops when its worker is killed, a
pool's workers when the pool is (feedback_bot/jobs/orphans.py)."""

from __future__ import annotations

import psutil
import pytest
from rq.scheduler import RQScheduler

from faults import stack
from feedback_bot.jobs import queue, redis_connection

from .test_guarantee import kill_worker, start_worker, wait_for, worker_environment


@pytest.mark.slow
def test_a_killed_workers_scheduler_stops_and_releases_its_lock(
    app, database_url, redis_url, fake_twilio, tmp_path
):
    log_path = tmp_path / "worker.log"
    worker = start_worker(worker_environment(database_url, redis_url, fake_twilio), log_path)
    try:
        parent = psutil.Process(worker.pid)
        wait_for(lambda: stack.live_children(parent.pid), 120, "RQ's scheduler, the worker's child")
        scheduler = stack.live_children(parent.pid)[0]
        with app.app_context():
            lock = RQScheduler.get_locking_key(queue().name)
            wait_for(lambda: redis_connection().exists(lock), 30, "the scheduler's lock")
            worker.kill()  # the worker alone, not its process group: the OOM killer's way
            worker.wait(timeout=10)
            _, alive = psutil.wait_procs([scheduler], timeout=30)
            assert alive == [], (
                "the scheduler outlived its worker:\n" + log_path.read_text()[-3000:]
            )
            # Stopped, not killed: the next worker's scheduler need not wait for the lock to
            # expire (a minute) before retries are enqueued again.
            assert not redis_connection().exists(lock)
    finally:
        kill_worker(worker)


@pytest.mark.slow
def test_a_pools_workers_stop_when_the_pool_is_killed(
    app, database_url, redis_url, fake_twilio, tmp_path
):
    # ``app`` empties Redis: a scheduler lock a killed worker of an earlier test left would
    # keep this pool's workers from starting a scheduler for a minute.
    env = worker_environment(database_url, redis_url, fake_twilio)
    env["WORKER_PROCESSES"] = "2"
    log_path = tmp_path / "pool.log"
    process = start_worker(env, log_path)
    try:
        pool = psutil.Process(process.pid)
        wait_for(lambda: len(stack.live_children(pool.pid)) == 2, 240, "the pool's workers")
        wait_for(lambda: len(pool.children(recursive=True)) == 3, 30, "a worker's scheduler")
        family = pool.children(recursive=True)
        pool.kill()  # the pool alone; started again, it must not find the old workers running
        process.wait(timeout=10)
        _, alive = psutil.wait_procs(family, timeout=30)
        assert alive == [], (
            f"{len(alive)} of the pool's processes outlived it:\n" + log_path.read_text()[-3000:]
        )
    finally:
        kill_worker(process)
