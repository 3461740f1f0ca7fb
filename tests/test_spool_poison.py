"""A spooled entry that can never be ingested must not hold up the spool, or the sweep.

Each entry that fails for a reason of its own is tried ``MAX_ATTEMPTS`` times, one sweep
apart, behind the others, then set aside as a dead letter; a database outage counts
against no entry. A sweep step that raises does not stop the steps after it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from redis.exceptions import RedisError
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from feedback_bot import spool
from feedback_bot.extensions import db
from feedback_bot.jobs import redis_connection
from feedback_bot.jobs import sweep as sweep_module
from feedback_bot.jobs.sweep import sweep
from feedback_bot.models import DeliveryEvent, InboundMessage
from feedback_bot.webhooks.payload import InboundPayload, parse

from .conftest import drain, signed_post, twilio_params

POISON = "gAAAAAB-this-was-never-a-fernet-token"
DOWN = "postgresql+psycopg://127.0.0.1:9/nothing"  # nothing listens on port 9


def payload(number: str, body: str) -> InboundPayload:
    return parse(MultiDict(twilio_params(number, body)), 1600, 10)


def redis_list(key: str) -> list[str]:
    return [raw.decode() for raw in redis_connection().lrange(key, 0, -1)]


def stored_bodies() -> list[str]:
    return list(db.session.scalars(select(InboundMessage.body).order_by(InboundMessage.id)))


def counting(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[int]:
    """Replace ``owner.name`` with itself, counting its calls."""
    calls: list[int] = []
    real: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)
    return calls


def test_a_corrupted_entry_does_not_stop_the_messages_behind_it(app: Flask, fake_twilio):
    members = ["+447911100001", "+447911100002"]
    with app.app_context():
        redis_connection().rpush(spool.SPOOL_KEY, POISON)  # at the head of the spool
        spool.keep(payload(members[0], "The lift is broken again."), inline_ack=False)
        spool.keep(payload(members[1], "No hot water since Monday."), inline_ack=False)

        counts = sweep()

        assert counts["spool_ingested"] == 2
        assert stored_bodies() == ["The lift is broken again.", "No hot water since Monday."]
        # The corrupted one keeps its place at the head, for its next try.
        assert redis_list(spool.SPOOL_KEY) == [POISON]
        assert redis_list(spool.PROCESSING_KEY) == []
    drain(app)
    assert sorted(m["to"] for m in fake_twilio.messages) == members  # each acknowledged


def test_an_entry_that_keeps_failing_is_dead_lettered_and_not_tried_again(
    app: Flask, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    with app.app_context():
        redis_connection().rpush(spool.SPOOL_KEY, POISON)
        for _ in range(spool.MAX_ATTEMPTS - 1):
            sweep()
        assert redis_list(spool.SPOOL_KEY) == [POISON]
        assert redis_list(spool.DEAD_KEY) == []

        sweep()

        assert redis_list(spool.SPOOL_KEY) == []
        assert redis_list(spool.DEAD_KEY) == [POISON]
        assert redis_connection().hlen(spool.ATTEMPTS_KEY) == 0
        [dead] = [r for r in caplog.records if "dead letters" in r.getMessage()]
        assert "ValueError" in dead.getMessage()  # the error's type, not its text

        tries = counting(monkeypatch, spool, "_ingest")
        sweep()
        assert tries == []
        assert redis_list(spool.DEAD_KEY) == [POISON]


def test_a_corrupted_spool_file_is_moved_to_failed_and_the_next_file_ingested(
    app: Flask, monkeypatch: pytest.MonkeyPatch
):
    with app.app_context():
        folder = spool.spool_dir()
        folder.mkdir(parents=True)
        poison = folder / "AA-corrupted.spool"  # no time in its name, none readable: first
        poison.write_text(POISON)
        with monkeypatch.context() as redis_down:

            class NoRedis:
                def rpush(self, *args: Any) -> None:
                    raise RedisError("down")

            redis_down.setattr(spool, "redis_connection", NoRedis)
            assert spool.keep(payload("+447911100003", "Bins left out."), inline_ack=True) == (
                "file"
            )

        assert sweep()["spool_ingested"] == 1
        assert stored_bodies() == ["Bins left out."]
        for _ in range(spool.MAX_ATTEMPTS - 1):
            sweep()
        assert list(folder.glob("*.spool")) == []
        assert [p.name for p in (folder / spool.FAILED_FOLDER).iterdir()] == [poison.name]


def test_a_corrupted_status_callback_does_not_stop_those_behind_it(app: Flask):
    with app.app_context():
        redis_connection().rpush(spool.STATUS_SPOOL_KEY, "{not json")
        assert spool.keep_status("SM" + "1" * 32, "delivered", None)

        assert sweep()["statuses_applied"] == 1
        assert [e.twilio_sid for e in db.session.scalars(select(DeliveryEvent))] == [
            "SM" + "1" * 32
        ]
        for _ in range(spool.MAX_ATTEMPTS - 1):
            sweep()
        assert redis_list(spool.STATUS_SPOOL_KEY) == []
        assert redis_list(spool.STATUS_DEAD_KEY) == ["{not json"]


def test_a_step_that_raises_does_not_stop_the_other_steps(
    app: Flask, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    def broken(*args: Any) -> Any:
        raise RuntimeError("a bug in one step")

    monkeypatch.setattr(sweep_module, "release_stuck", broken)
    ran = {
        name: counting(monkeypatch, sweep_module, name)
        for name in ("owe_interim_updates", "due_media", "enqueue_media")
    }
    ran["forget_expired"] = counting(monkeypatch, sweep_module.members, "forget_expired")
    with app.app_context():
        spool.keep(payload("+447911100004", "The streetlight flickers."), inline_ack=True)
        assert spool.keep_status("SM" + "2" * 32, "delivered", None)

        counts = sweep()

    assert counts["released"] == 0
    assert (counts["spool_ingested"], counts["statuses_applied"]) == (1, 1)
    assert {name: len(calls) for name, calls in ran.items()} == dict.fromkeys(ran, 1)
    assert any("sweep step released failed" in r.getMessage() for r in caplog.records)


def test_a_database_outage_while_draining_dead_letters_nothing(
    make_app: Any, fake_twilio, caplog: pytest.LogCaptureFixture
):
    app = make_app()
    broken = make_app(SQLALCHEMY_DATABASE_URI=DOWN)
    client = broken.test_client()
    bodies = ["The road is flooded.", "The school bus did not come.", "Thank you for the bench."]
    for index, body in enumerate(bodies):
        params = twilio_params(f"+44791110001{index}", body)
        assert signed_post(client, "/webhooks/twilio/messages", params).status_code == 200
    status = {"MessageSid": "SM" + "3" * 32, "MessageStatus": "delivered"}
    assert signed_post(client, "/webhooks/twilio/status", status).status_code == 204
    with broken.app_context():
        kept = redis_list(spool.SPOOL_KEY)
        assert len(kept) == 3

        for _ in range(spool.MAX_ATTEMPTS + 1):
            assert sweep()["spool_ingested"] == 0

        assert redis_list(spool.SPOOL_KEY) == kept  # all there, in order
        waited = [r for r in caplog.records if "spooled entries wait" in r.getMessage()]
        assert len(waited) == 2 * (spool.MAX_ATTEMPTS + 1)  # messages and statuses, each sweep
        assert redis_list(spool.STATUS_SPOOL_KEY) != []
        assert redis_list(spool.DEAD_KEY) == redis_list(spool.STATUS_DEAD_KEY) == []
        assert redis_connection().hlen(spool.ATTEMPTS_KEY) == 0
    with app.app_context():
        counts = sweep()
        assert (counts["spool_ingested"], counts["statuses_applied"]) == (3, 1)
        assert stored_bodies() == bodies
