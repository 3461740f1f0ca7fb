"""A message kept in the spool through a database outage keeps the time the webhook took it,
and the drain takes the oldest first, whichever spool it is in.

What a message changes goes by when the member sent it (a FORGET erases what was sent
before it; the later of a STOP and a START wins): a spooled message stamped with the time
of the drain would count as sent after messages the member sent after it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from redis.exceptions import RedisError
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from feedback_bot import clock, intake, spool
from feedback_bot.extensions import db
from feedback_bot.jobs import redis_connection
from feedback_bot.jobs.sweep import sweep
from feedback_bot.messaging.templates import render
from feedback_bot.models import Contact, Disposition, FeedbackItem, InboundMessage
from feedback_bot.privacy import vault
from feedback_bot.webhooks.payload import InboundPayload, parse

from .conftest import drain, outbound, send_sms, signed_post, twilio_params

MEMBER = "+447911123456"
SECRET = "My neighbour at 12 Elm St is loud every night."
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DATABASE_DOWN = {"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://127.0.0.1:9/nothing"}
REDIS_DOWN = {"REDIS_URL": "redis://127.0.0.1:1/0"}  # nothing listens on port 1


class NoRedis:
    def rpush(self, *args: Any) -> None:
        raise RedisError("down")


def payload(number: str, body: str, sid: str | None = None) -> InboundPayload:
    return parse(MultiDict(twilio_params(number, body, sid=sid)), 1600, 10)


def keep_at(
    monkeypatch: pytest.MonkeyPatch, at: datetime, where: str, kept: InboundPayload
) -> None:
    """Keep ``kept`` as the webhook does at ``at``, in Redis or (Redis down) in a file."""
    clock.freeze(at)
    with monkeypatch.context() as patch:
        if where == "file":
            patch.setattr(spool, "redis_connection", NoRedis)
        assert spool.keep(kept, inline_ack=True) == where


def stored() -> list[tuple[str | None, datetime]]:
    """(body, received_at) of every stored message, in the order they were stored."""
    return [
        (m.body, m.received_at)
        for m in db.session.scalars(select(InboundMessage).order_by(InboundMessage.id))
    ]


def test_a_message_spooled_before_forget_is_erased_not_made_a_new_member(make_app, fake_twilio):
    app = make_app()
    client = app.test_client()
    clock.freeze(T0 - timedelta(days=1))
    send_sms(client, MEMBER, "The lift in Block C is broken.")
    drain(app)
    # The database is down: the member is answered inline, the message spooled.
    clock.freeze(T0)
    broken = make_app(**DATABASE_DOWN)
    response = signed_post(
        broken.test_client(), "/webhooks/twilio/messages", twilio_params(MEMBER, SECRET)
    )
    assert "<Message>" in response.get_data(as_text=True)
    # It is back; the member asks to be forgotten; then the sweeper drains the spool.
    clock.freeze(T0 + timedelta(seconds=60))
    send_sms(client, MEMBER, "FORGET")
    clock.freeze(T0 + timedelta(seconds=75))
    with app.app_context():
        assert sweep()["spool_ingested"] == 1
    drain(app)

    with app.app_context():
        assert (
            db.session.scalars(
                select(Contact).where(Contact.phone_hash == vault().lookup_hash(MEMBER))
            ).all()
            == []
        )
        spooled = db.session.scalars(
            select(InboundMessage).order_by(InboundMessage.id.desc()).limit(1)
        ).one()
        assert (spooled.disposition, spooled.body, spooled.contact_id) == (
            Disposition.FORGOTTEN,
            None,
            None,
        )
        assert spooled.received_at == T0
        assert len(db.session.scalars(select(FeedbackItem)).all()) == 1  # the first only
        forget_text = render("forget", "en")
    assert [row.kind for row in outbound(app)] == ["ack", "forget"]
    assert [m["body"] for m in fake_twilio.messages_to(MEMBER)][1:] == [forget_text]


@pytest.mark.parametrize("where", ["redis", "file"])
def test_a_spooled_message_is_stored_with_the_time_the_webhook_took_it(
    make_app, fake_twilio, where
):
    app = make_app()
    broken = make_app(**DATABASE_DOWN, **(REDIS_DOWN if where == "file" else {}))
    clock.freeze(T0)
    params = twilio_params(MEMBER, "The streetlights on Mill Lane are out.")
    assert signed_post(broken.test_client(), "/webhooks/twilio/messages", params).status_code == (
        200
    )
    with app.app_context():
        assert redis_connection().llen(spool.SPOOL_KEY) == (where == "redis")

    clock.freeze(T0 + timedelta(minutes=10))
    with app.app_context():
        assert sweep()["spool_ingested"] == 1
        [message] = db.session.scalars(select(InboundMessage)).all()
        assert message.received_at == T0
        item = db.session.scalars(select(FeedbackItem)).one()
        assert (item.created_at, item.last_message_at) == (T0, T0)
        contact = db.session.scalars(select(Contact)).one()
        assert contact.last_inbound_at == T0


def test_the_drain_takes_the_oldest_message_first_from_either_spool(
    app: Flask, monkeypatch: pytest.MonkeyPatch
):
    # File names must not decide: the earlier file's MessageSid sorts after the later's.
    entries = [
        (T0, "file", "+447911100001", "first", "SM" + "f" * 32),
        (T0 + timedelta(seconds=10), "redis", "+447911100002", "second", None),
        (T0 + timedelta(seconds=20), "file", "+447911100003", "third", "SM" + "0" * 32),
        (T0 + timedelta(seconds=30), "redis", "+447911100004", "fourth", None),
    ]
    with app.app_context():
        for at, where, number, body, sid in entries:
            keep_at(monkeypatch, at, where, payload(number, body, sid))
        clock.freeze(T0 + timedelta(hours=1))

        assert sweep()["spool_ingested"] == 4

        assert stored() == [(body, at) for at, _, _, body, _ in entries]
        assert list(spool.spool_dir().glob("*.spool")) == []


def test_an_entry_that_fails_keeps_its_place_ahead_of_later_ones(
    app: Flask, monkeypatch: pytest.MonkeyPatch
):
    failing = payload("+447911100001", "first, fails once")
    times = [T0 + timedelta(seconds=s) for s in (0, 10, 20)]
    real_accept = intake.accept
    failures: list[str] = []

    def accept_failing_once(kept: InboundPayload, *args: Any, **kwargs: Any) -> Any:
        if kept.message_sid == failing.message_sid and not failures:
            failures.append(kept.message_sid)
            raise RuntimeError("a bug fixed by the next deploy")
        return real_accept(kept, *args, **kwargs)

    monkeypatch.setattr(intake, "accept", accept_failing_once)
    with app.app_context():
        keep_at(monkeypatch, times[0], "redis", failing)
        keep_at(monkeypatch, times[1], "redis", payload("+447911100002", "second"))
        keep_at(monkeypatch, times[2], "redis", payload("+447911100003", "third"))

        assert spool.drain(limit=2) == 1  # the first fails; the second is stored
        assert spool.drain() == 2

        assert failures == [failing.message_sid]
        assert stored() == [
            ("second", times[1]),
            ("first, fails once", times[0]),  # before the third, as it was sent before it
            ("third", times[2]),
        ]
        assert redis_connection().llen(spool.SPOOL_KEY) == 0
        assert redis_connection().hlen(spool.ATTEMPTS_KEY) == 0


def test_entries_kept_by_the_previous_version_still_drain_in_order(
    app: Flask, monkeypatch: pytest.MonkeyPatch
):
    """Written before the upgrade: no time in the record, a file named after the
    MessageSid. They drain, before newer entries, with the time they were encrypted."""
    before = datetime.now(UTC).replace(microsecond=0)
    with app.app_context():
        old_in_redis = payload("+447911100001", "kept in Redis by the old version")
        old_in_file = payload("+447911100002", "kept in a file by the old version")
        for kept in (old_in_redis, old_in_file):
            record = {"payload": kept.to_dict(), "inline_ack": True}
            token = vault().encrypt(json.dumps(record))
            if kept is old_in_redis:
                redis_connection().rpush(spool.SPOOL_KEY, token)
            else:
                folder = spool.spool_dir()
                folder.mkdir(parents=True)
                (folder / f"{kept.message_sid}-0123abcd.spool").write_text(token)
        after = datetime.now(UTC)
        newer = before + timedelta(hours=1)
        keep_at(monkeypatch, newer, "file", payload("+447911100003", "kept after the upgrade"))
        clock.freeze(newer + timedelta(minutes=5))

        assert sweep()["spool_ingested"] == 3

        [(first, first_at), (second, second_at), (third, third_at)] = stored()
        assert {first, second} == {"kept in Redis by the old version", old_in_file.body}
        assert before <= first_at <= second_at <= after
        assert (third, third_at) == ("kept after the upgrade", newer)
