"""``flask outbox status`` shows everything that waits: outbox rows, and stored messages no
worker has processed yet (with the workers down, the outbox stays empty and only these
say that members are waiting)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from feedback_bot import clock

from .conftest import drain, send_sms

MEMBER = "+447911123456"
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def status(app) -> str:
    # ``flask`` pushes an app context for every command; the test runner only for those
    # made with Flask's own decorators.
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["outbox", "status"])
    assert result.exit_code == 0, result.output
    return result.output


def test_an_empty_outbox_and_intake_say_nothing_waits(app):
    assert status(app) == "nothing waiting\n"


def test_messages_not_processed_yet_are_counted(app, client):
    clock.freeze(T0)
    send_sms(client, MEMBER, "The lift is broken.", process=False)
    send_sms(client, "+447911123457", "The bins were not collected.", process=False)
    clock.freeze(T0 + timedelta(seconds=90))
    assert status(app) == "inbound messages not processed yet: 2 (oldest 90s ago)\n"


def test_outbox_rows_are_counted_by_status(app, client):
    clock.freeze(T0)
    send_sms(client, MEMBER, "The lift is broken.")
    drain(app)
    assert status(app) == "queued       1\n"  # Twilio accepted it
