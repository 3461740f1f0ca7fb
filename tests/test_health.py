"""/healthz tells a load balancer whether a web process can take requests (the database at
this release's migrations included); /healthz/work tells a monitor whether the work gets
done (messages processed, workers alive, nothing set aside for an operator)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from alembic.script import ScriptDirectory
from flask import Flask
from rq import Worker
from sqlalchemy import text

from feedback_bot import clock, spool
from feedback_bot.extensions import db
from feedback_bot.jobs import queue, redis_connection

from .conftest import run_worker, send_sms

MEMBER = "+447911123456"


def test_healthz_is_ok_on_a_migrated_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["checks"] == {"database": "ok", "schema": "ok", "redis": "ok"}
    assert body["details"]["schema"]["database"] == body["details"]["schema"]["head"]


def test_healthz_fails_while_migrations_are_pending(make_app, unmigrated):
    make_app()
    early = make_app(**unmigrated)
    response = early.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["schema"] == "migrations pending"
    assert body["checks"]["database"] == "ok"
    assert "db upgrade" in body["actions"]["schema"]
    assert body["details"]["schema"]["database"] == []


def test_a_schema_newer_than_this_release_keeps_it_in_rotation(make_app, unmigrated):
    # A newer release migrated the database; this one still serves until it is replaced.
    make_app()
    early = make_app(**unmigrated)
    with early.app_context():
        db.session.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32))"))
        db.session.execute(text("INSERT INTO alembic_version VALUES ('9999_from_the_future')"))
        db.session.commit()
    response = early.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["checks"]["schema"] == "newer than this release"


def test_the_migrations_head_is_read_once(client, monkeypatch):
    client.get("/healthz")
    read = []
    real = ScriptDirectory.from_config
    monkeypatch.setattr(
        ScriptDirectory, "from_config", lambda config: read.append(1) or real(config)
    )
    for _ in range(3):
        response = client.get("/healthz")
        assert response.get_json()["details"]["schema"]["head"] != []
    assert read == []


@pytest.fixture
def live_worker(app: Flask) -> Iterator[Worker]:
    """A worker registered and heart-beating, as a running ``worker.py`` is."""
    with app.app_context():
        worker = Worker([queue()], connection=redis_connection())
        worker.register_birth()
        worker.heartbeat()
    yield worker
    with app.app_context():
        worker.register_death()


def test_work_fails_on_an_intake_backlog_with_no_worker_while_healthz_stays_up(app, client):
    t0 = datetime.now(UTC).replace(microsecond=0)
    clock.freeze(t0)
    assert send_sms(client, MEMBER, "The lift is broken again.", process=False).status_code == 200
    clock.freeze(t0 + timedelta(minutes=10))
    response = client.get("/healthz/work")
    assert response.status_code == 503
    body = response.get_json()
    assert body["checks"]["intake"] == "backlog"
    assert body["checks"]["workers"] == "none alive"
    assert body["details"]["intake"] == {
        "waiting": 1,
        "oldest_seconds": 600,
        "threshold_seconds": app.config["INTAKE_BACKLOG_ALERT_SECONDS"],
    }
    assert body["details"]["queues"][app.config["QUEUE_NAME"]] == 1  # its intake job
    assert "worker" in body["actions"]["workers"]
    # The web process still stores every message: it stays in rotation.
    assert client.get("/healthz").status_code == 200


def test_work_is_ok_once_a_worker_runs(app, client, live_worker):
    send_sms(client, MEMBER, "The lift is broken again.", process=False)
    run_worker(app)
    response = client.get("/healthz/work")
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["checks"] == {"intake": "ok", "workers": "ok", "spool": "ok"}
    assert body["details"]["workers_alive"] == 1
    assert body["details"]["intake"]["waiting"] == 0
    assert body["details"]["outbox_failed"] == 0
    assert body["details"]["spool"] == {"waiting": 0, "dead_letters": 0}


def test_work_fails_on_spool_dead_letters(app, client, live_worker):
    with app.app_context():
        redis_connection().rpush(spool.DEAD_KEY, "gAAAAAB-an-entry-given-up-on")
    response = client.get("/healthz/work")
    assert response.status_code == 503
    body = response.get_json()
    assert body["checks"]["spool"] == "dead letters"
    assert body["details"]["spool"]["dead_letters"] == 1
    assert set(body["actions"]) == {"spool"}
