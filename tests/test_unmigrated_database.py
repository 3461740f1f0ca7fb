"""A database that is up but not ready for us (not migrated yet, a missing grant) loses no
message, and no database error writes a member's message into the log.

A web process started before ``flask db upgrade`` meets a missing table: PostgreSQL says so
with a ProgrammingError (SQLite with an OperationalError). Twilio does not deliver a message
again after a 500, so the webhook keeps it in the spool, as for a database that is down, and
the drain waits for the schema rather than setting the message aside as a dead letter.
"""

from __future__ import annotations

import traceback
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DataError, ProgrammingError
from werkzeug.datastructures import MultiDict

from feedback_bot import clock, config, intake, spool
from feedback_bot.extensions import db
from feedback_bot.jobs import redis_connection
from feedback_bot.jobs.sweep import sweep
from feedback_bot.models import InboundMessage
from feedback_bot.webhooks.payload import parse

from .conftest import signed_post, twilio_params

MEMBER = "+447911123456"
SECRET = "The damp in flat 4 is making my daughter ill."
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def stored_bodies() -> list[str | None]:
    return [m.body for m in db.session.scalars(select(InboundMessage))]


def test_a_message_to_an_unmigrated_database_is_spooled_and_stored_once_migrated(
    make_app, unmigrated
):
    app = make_app()
    early = make_app(**unmigrated)
    clock.freeze(T0)
    response = signed_post(
        early.test_client(), "/webhooks/twilio/messages", twilio_params(MEMBER, SECRET)
    )
    assert response.status_code == 200
    assert "<Message>" in response.get_data(as_text=True)  # answered inline
    with app.app_context():
        assert redis_connection().llen(spool.SPOOL_KEY) == 1

    # Drained while the schema is still missing: it waits, counting no failed try.
    with early.app_context():
        assert spool.drain() == 0
        assert redis_connection().llen(spool.SPOOL_KEY) == 1
        assert redis_connection().llen(spool.DEAD_KEY) == 0
        assert redis_connection().hlen(spool.ATTEMPTS_KEY) == 0

    # Migrated (the app on the migrated database): the sweeper stores it.
    clock.freeze(T0 + timedelta(minutes=5))
    with app.app_context():
        assert sweep()["spool_ingested"] == 1
        assert stored_bodies() == [SECRET]
        assert db.session.scalars(select(InboundMessage)).one().received_at == T0


def test_a_status_callback_to_an_unmigrated_database_is_kept(make_app, unmigrated):
    app = make_app()
    early = make_app(**unmigrated)
    params = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered"}
    response = signed_post(early.test_client(), "/webhooks/twilio/status", params)
    assert response.status_code == 204
    with early.app_context():
        assert spool.drain_statuses() == 0  # waits for the schema
    with app.app_context():
        assert redis_connection().llen(spool.STATUS_SPOOL_KEY) == 1
        assert redis_connection().llen(spool.STATUS_DEAD_KEY) == 0


def permission_denied(*args: Any, **kwargs: Any) -> None:
    raise ProgrammingError(
        "INSERT INTO inbound_messages ...", None, Exception("permission denied for table")
    )


def test_a_missing_grant_spools_the_message_and_the_drain_waits(app, monkeypatch):
    # What PostgreSQL raises for a role without its grants (SQLite has no grants).
    monkeypatch.setattr(intake, "store", permission_denied)
    response = signed_post(
        app.test_client(), "/webhooks/twilio/messages", twilio_params(MEMBER, SECRET)
    )
    assert response.status_code == 200
    monkeypatch.setattr(intake, "accept", permission_denied)
    with app.app_context():
        for _ in range(spool.MAX_ATTEMPTS + 1):
            assert spool.drain() == 0
        assert redis_connection().llen(spool.SPOOL_KEY) == 1
        assert redis_connection().llen(spool.DEAD_KEY) == 0
    monkeypatch.undo()
    with app.app_context():
        assert spool.drain() == 1
        assert stored_bodies() == [SECRET]


def test_data_the_database_refuses_is_the_requests_fault_and_not_spooled(app, monkeypatch):
    def refused(*args: Any, **kwargs: Any) -> None:
        raise DataError("INSERT ...", None, Exception("value too long"))

    monkeypatch.setattr(intake, "store", refused)
    with pytest.raises(DataError):
        signed_post(app.test_client(), "/webhooks/twilio/messages", twilio_params(MEMBER, SECRET))
    with app.app_context():
        assert redis_connection().llen(spool.SPOOL_KEY) == 0


def test_a_database_error_never_quotes_the_message(make_app, unmigrated, caplog):
    make_app()
    early = make_app(**unmigrated)
    kept = parse(MultiDict(twilio_params(MEMBER, SECRET)), 1600, 10)
    with early.app_context():
        with pytest.raises(Exception) as raised:
            intake.store(kept)
        db.session.rollback()
        early.logger.error("store failed", exc_info=raised.value)
    text_of_error = "".join(traceback.format_exception(raised.value))
    assert "INSERT INTO inbound_message " in text_of_error  # the statement still says what
    assert SECRET not in text_of_error
    assert "hidden" in text_of_error
    assert SECRET not in caplog.text


def test_production_hides_sql_parameters():
    options = config.engine_options(
        {
            "FEEDBACK_ENV": "production",
            "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://db/feedback",
            "DATABASE_CONNECT_TIMEOUT_SECONDS": 5,
        }
    )
    assert options["hide_parameters"] is True
