"""``gunicorn wsgi:app`` as deployed: the app and its language models are built once, in
the master, and shared by the workers it forks (gunicorn.conf.py)."""

from __future__ import annotations

import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import psutil
from sqlalchemy import func, select

from faults import stack
from feedback_bot.extensions import db
from feedback_bot.models import InboundMessage
from feedback_bot.testing.fake_twilio import sign_request

from .conftest import AUTH_TOKEN, PUBLIC_BASE_URL, twilio_params
from .test_guarantee import ROOT, SENTENCES, member_number, worker_environment

WORKERS = 2
MIB = 1024 * 1024


def post_inbound(port: int, params: dict[str, str]) -> int:
    path = "/webhooks/twilio/messages"
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=urlencode(params).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            # Signed for the public URL, as Twilio signs it; the app checks against that.
            "X-Twilio-Signature": sign_request(AUTH_TOKEN, PUBLIC_BASE_URL + path, params),
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


def test_workers_share_the_masters_app_and_models(
    app, database_url, redis_url, fake_twilio, tmp_path
):
    env = worker_environment(database_url, redis_url, fake_twilio)
    port = stack.free_port()
    # From the checkout, where gunicorn finds gunicorn.conf.py, as in production.
    server = stack.start_process(
        "gunicorn",
        [str(Path(ROOT, ".venv", "bin", "gunicorn")), "wsgi:app"],
        {**env, "PORT": str(port), "WEB_CONCURRENCY": str(WORKERS)},
        tmp_path / "gunicorn.log",
    )
    try:
        stack.wait_healthy(server, port, timeout=180)
        master = psutil.Process(server.pid)
        # Forking is safe only if the master holds no connection a worker would inherit
        # and use beside its siblings (the database, Redis).
        assert [c.raddr for c in master.net_connections("all") if c.raddr] == []

        for index in range(10):
            params = twilio_params(member_number(index), SENTENCES["en"])
            assert post_inbound(port, params) == 200
        with app.app_context():
            assert db.session.scalar(select(func.count()).select_from(InboundMessage)) == 10
            db.session.remove()

        workers = master.children()
        assert len(workers) == WORKERS
        # The models live in the master, loaded once; each worker's own memory (USS: the
        # pages no other process shares) is a small part of them. Built in each worker,
        # as without preloading, every worker held its own copy of about 600 MiB.
        master_rss = master.memory_info().rss
        assert master_rss > 300 * MIB, f"the master holds {master_rss / MIB:.0f} MiB"
        for worker in workers:
            own = worker.memory_full_info().uss
            assert own < master_rss / 4, (
                f"worker {worker.pid} holds {own / MIB:.0f} MiB of its own; "
                f"the master {master_rss / MIB:.0f} MiB"
            )
    finally:
        server.stop(timeout=30)
