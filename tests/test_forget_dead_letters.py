"""FORGET reaches the spool's dead letters: messages that could not be stored after
repeated tries, kept (encrypted) outside the database for an operator. A member's among
them would keep what they asked us to erase, and replayed after their FORGET is long gone
they would bring the member back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from werkzeug.datastructures import MultiDict

from feedback_bot import clock, spool
from feedback_bot.jobs import redis_connection
from feedback_bot.webhooks.payload import parse

from .conftest import drain, send_sms, twilio_params
from .test_twilio_erasure import sweep_at

MEMBER = "+447911123456"
SOMEBODY_ELSE = "+447911654321"
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
BEFORE, AFTER = T0 - timedelta(hours=1), T0 + timedelta(seconds=30)


def dead_letter(app, sender: str, body: str, received_at: datetime, on_disk: bool = False) -> str:
    """A message kept in the spool as the webhook keeps one, then set aside as a dead
    letter as the drain sets one aside: in Redis, or in the file spool's folder."""
    with app.app_context():
        payload = parse(MultiDict(twilio_params(sender, body)), 1600, 10)
        spool.keep(payload, inline_ack=False, received_at=received_at)
        connection = redis_connection()
        token = connection.rpop(spool.SPOOL_KEY).decode()
        if on_disk:
            folder = spool.spool_dir() / spool.FAILED_FOLDER
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{payload.message_sid}.spool").write_text(token)
        else:
            connection.rpush(spool.DEAD_KEY, token)
        return token


def dead_letters(app) -> tuple[list[str], list[str]]:
    with app.app_context():
        kept = [raw.decode() for raw in redis_connection().lrange(spool.DEAD_KEY, 0, -1)]
        folder = spool.spool_dir() / spool.FAILED_FOLDER
        files = sorted(path.read_text() for path in folder.glob("*.spool"))
        return kept, files


def test_forget_erases_the_members_dead_letters_and_no_one_elses(app, client, fake_twilio):
    clock.freeze(BEFORE)
    send_sms(client, MEMBER, "The lift is broken.")
    drain(app)
    theirs = dead_letter(app, MEMBER, "It is still broken, flat 4B.", BEFORE)
    theirs_on_disk = dead_letter(app, f"whatsapp:{MEMBER}", "Photo of the lift", BEFORE, True)
    others = dead_letter(app, SOMEBODY_ELSE, "The bins were not collected.", BEFORE)
    others_on_disk = dead_letter(app, SOMEBODY_ELSE, "Still no bins.", BEFORE, True)
    with app.app_context():
        redis_connection().rpush(spool.DEAD_KEY, "not a token we can read")

    clock.freeze(T0)
    send_sms(client, MEMBER, "FORGET")
    drain(app)
    # Written after the FORGET: somebody new on that number, or the member again.
    later = dead_letter(app, MEMBER, "Hello again.", AFTER)
    assert theirs in dead_letters(app)[0] and theirs_on_disk in dead_letters(app)[1]

    sweep_at(app, T0 + timedelta(minutes=1))
    kept, files = dead_letters(app)
    assert kept == [others, "not a token we can read", later]
    assert files == [others_on_disk]

    # Done once: the number is gone, and a dead letter set aside later stays.
    again = dead_letter(app, MEMBER, "It is still broken.", BEFORE)
    sweep_at(app, T0 + timedelta(days=1))
    assert again in dead_letters(app)[0]
