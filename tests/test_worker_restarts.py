"""A real ``python worker.py`` outlives a Redis restart, and still stops on SIGTERM.

RQ's own worker quits when Redis goes away under it; ``worker.py`` starts a new one in the
same process once Redis is back, so an outage pauses sending rather than ending it.
"""

from __future__ import annotations

import contextlib
import signal
import time

import pytest
from rq.exceptions import StopRequested

from faults.stack import RedisServer, free_port
from feedback_bot.jobs.worker import FeedbackWorker

from .conftest import send_sms
from .test_guarantee import kill_worker, start_worker, wait_for, worker_environment

MEMBERS = ("+447911123001", "+447911123002")


@pytest.mark.slow
def test_worker_process_survives_a_redis_restart(make_app, fake_twilio, database_url, tmp_path):
    redis = RedisServer(port=free_port(), workdir=tmp_path / "redis").start()
    worker = None
    try:
        app = make_app(REDIS_URL=redis.url)
        client = app.test_client()
        log_path = tmp_path / "worker.log"
        worker = start_worker(worker_environment(database_url, redis.url, fake_twilio), log_path)

        send_sms(client, MEMBERS[0], "The bus stop sign has fallen down.", process=False)
        wait_for(lambda: len(fake_twilio.messages) == 1, 60, "the first acknowledgement")

        redis.restart(down_seconds=2.0)  # everything Redis held is gone
        send_sms(client, MEMBERS[1], "The park gate is locked in the day.", process=False)
        try:
            wait_for(lambda: len(fake_twilio.messages) == 2, 60, "an acknowledgement after it")
        except AssertionError as exc:
            raise AssertionError(log_path.read_text()[-4000:]) from exc

        assert worker.poll() is None, log_path.read_text()[-3000:]
        assert [m["to"] for m in fake_twilio.messages] == list(MEMBERS)

        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=20) == 0, log_path.read_text()[-3000:]
    finally:
        if worker is not None and worker.poll() is None:
            kill_worker(worker)
        redis.stop()


def test_the_command_thread_stops_within_a_second(app):
    """A deployment gives a worker a few seconds between SIGTERM and SIGKILL. On its way
    out RQ unsubscribes from its command channel, then stops the thread that listens on
    it, and the Redis client waits for that thread. When the thread has read the
    unsubscribe's answer first (a loaded machine), it waits for a subscription again, for
    as long as it was told: RQ's 60 s, and the worker outlived SIGTERM by a minute (seen
    in CI, and as a 60 s stop of an idle ``python worker.py``). Here the thread reads the
    answer first for certain."""
    from feedback_bot.jobs.worker import build_worker

    worker = build_worker(app)
    worker.subscribe()
    worker.pubsub.unsubscribe()
    wait_for(lambda: not worker.pubsub.subscribed, 10, "the unsubscribe's answer")
    asked = time.monotonic()
    worker.pubsub_thread.stop()
    took = time.monotonic() - asked
    worker.pubsub.close()
    assert not worker.pubsub_thread.is_alive()
    assert took < 2, f"the command thread took {took:.1f} s to stop"


def test_a_stop_asked_for_during_the_sweep_is_not_swallowed(app, monkeypatch):
    """RQ stops an idle worker by raising StopRequested into whatever runs. A SIGTERM that
    lands during the sweep must still stop the worker, though every sweep step catches
    exceptions so that one failing step does not stop the others."""
    from feedback_bot.jobs import sweep as sweep_module
    from feedback_bot.jobs.worker import build_worker

    worker = build_worker(app)

    def sweep_with_signal() -> None:
        with contextlib.suppress(Exception):  # as a sweep step's catch-all does
            worker.request_stop(signal.SIGTERM, None)  # the signal arrives mid-step

    monkeypatch.setattr(sweep_module, "sweep_if_free", sweep_with_signal)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        with pytest.raises(StopRequested):  # raised again once the sweep is done
            worker.run_maintenance_tasks()
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        FeedbackWorker.stopping.clear()
    assert worker._stop_requested


def test_a_stop_asked_for_while_idle_stops_the_worker(make_app, monkeypatch):
    """An idle worker runs its maintenance (so the sweep) inside RQ's wait for a job, whose
    loop never looks at the stop flag: a SIGTERM that lands in that sweep must stop the
    worker all the same, not leave it sweeping until a job comes."""
    from feedback_bot.jobs import sweep as sweep_module
    from feedback_bot.jobs.worker import build_worker

    worker = build_worker(make_app(SWEEP_INTERVAL_SECONDS=1))
    sweeps: list[float] = []

    def sweep_with_signal() -> None:
        sweeps.append(time.monotonic())
        if len(sweeps) == 2:  # the first sweep is the main loop's; this one, the wait's
            with contextlib.suppress(Exception):  # as a sweep step's catch-all does
                worker.request_stop(signal.SIGTERM, None)
        elif len(sweeps) > 2:
            raise SystemExit("the worker swept on after it was asked to stop")

    monkeypatch.setattr(sweep_module, "sweep_if_free", sweep_with_signal)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        worker.work(with_scheduler=False)
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        FeedbackWorker.stopping.clear()
    assert len(sweeps) == 2


def test_an_idle_worker_loads_the_language_models_and_a_busy_one_leaves_them(app, monkeypatch):
    """A worker loads the models (seconds of CPU) while nothing waits, so the first message
    after a quiet start does not wait for them; a worker that starts into a backlog sends
    what is owed first and leaves them to the first message that needs them."""
    from feedback_bot.jobs import queue
    from feedback_bot.jobs.worker import build_worker
    from feedback_bot.messaging import language

    monkeypatch.setattr(language, "_preloaded", set())  # as in a new process
    worker = build_worker(app)
    with app.app_context():
        locales = language.offered_locales()
        job = queue().enqueue("builtins.print", "owed")
    try:
        worker.run_maintenance_tasks()
        assert not language.models_loaded(locales), "loaded with a job waiting"
    finally:
        job.cancel()
        job.delete()
    worker.run_maintenance_tasks()
    assert language.models_loaded(locales), "not loaded while idle"
