"""FEEDBACK_ENCRYPTION_KEY against what it encrypted: a replaced key stops the web app and
the worker from starting, and ``flask keys rotate`` lets an old key go without losing a
number, a hash or an opt-out (feedback_bot/keys.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from feedback_bot import clock, opt_outs, spool
from feedback_bot.config import ConfigError
from feedback_bot.extensions import db
from feedback_bot.jobs import redis_connection
from feedback_bot.jobs.intake import process_alone
from feedback_bot.jobs.sweep import sweep
from feedback_bot.keys import ENCRYPTED_COLUMNS, check_stored
from feedback_bot.models import Channel, Contact, ForgottenNumber, InboundMessage
from feedback_bot.privacy import vault
from feedback_bot.webhooks.payload import InboundPayload

from .conftest import ENCRYPTION_KEY as OLD
from .conftest import SMS_NUMBER, drain, outbound, send_sms
from .test_forget_order import BEFORE, T0
from .test_guarantee import ROOT, worker_environment

NEW = Fernet.generate_key().decode()
STOPPED = "+447911123456"
TALKER = "+48512345678"
WAITING = "+380501234567"
SPOOLED = "+48512345679"
FORGETTER = "+380501234568"


def contacts(app) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(Contact))
        db.session.remove()
        return int(count or 0)


def test_keys_that_cannot_read_what_is_stored_are_refused(make_app):
    old = make_app()
    send_sms(old.test_client(), TALKER, "The bins were not collected this week.")
    drain(old)

    replaced = make_app(FEEDBACK_ENCRYPTION_KEY=NEW)
    with pytest.raises(ConfigError, match="cannot decrypt the phone numbers already stored"):
        check_stored(replaced)
    # The old key kept, but not last: numbers read, hashes would not match.
    new_last = make_app(FEEDBACK_ENCRYPTION_KEY=f"{OLD},{NEW}")
    with pytest.raises(ConfigError, match="hashes were made with"):
        check_stored(new_last)
    # As documented: the new key in front, the old one after it.
    check_stored(make_app(FEEDBACK_ENCRYPTION_KEY=f"{NEW},{OLD}"))


def test_nothing_stored_or_no_schema_yet_starts(make_app, tmp_path):
    check_stored(make_app(FEEDBACK_ENCRYPTION_KEY=NEW))  # an empty database
    # Not migrated yet (the web app started before the release step): a warning, a start.
    unmigrated = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'empty.db'}")
    check_stored(unmigrated)


def test_the_worker_and_the_web_app_refuse_a_replaced_key(
    app, client, database_url, redis_url, fake_twilio
):
    send_sms(client, TALKER, "The bins were not collected this week.")
    drain(app)
    env = worker_environment(database_url, redis_url, fake_twilio)
    env.update(FEEDBACK_ENCRYPTION_KEY=NEW, PRELOAD_LANGUAGE_MODELS="0")
    for command in ([sys.executable, "worker.py"], [sys.executable, "-c", "import wsgi"]):
        try:
            result = subprocess.run(
                command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"{command[-1]} started with a key that reads nothing stored")
        assert result.returncode != 0, command
        assert "FEEDBACK_ENCRYPTION_KEY cannot decrypt" in result.stderr, result.stderr


def every_ciphertext(app) -> list[str]:
    with app.app_context():
        tokens = [
            value
            for column in ENCRYPTED_COLUMNS
            for value in db.session.scalars(select(column).where(column.is_not(None)))
        ]
        db.session.remove()
        return tokens


def test_rotate_encrypts_everything_again_while_the_hashes_stay(make_app):
    old = make_app()
    client = old.test_client()
    send_sms(client, TALKER, "The bins were not collected this week.")
    drain(old)
    send_sms(client, WAITING, "The park gate is stuck.", process=False)

    both = make_app(FEEDBACK_ENCRYPTION_KEY=f"{NEW},{OLD}")
    result = both.test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert "flask keys rotate --rehash" in result.output  # the old key cannot go yet

    tokens = every_ciphertext(both)
    assert len(tokens) == 2  # the contact's number, the waiting payload (sent rows keep none)
    for token in tokens:
        Fernet(NEW).decrypt(token.encode())  # the newest key alone reads every one
    check_stored(both)
    drain(both)
    assert contacts(both) == 2


def test_rotate_with_rehash_lets_the_old_key_go(make_app):
    old = make_app()
    client = old.test_client()
    send_sms(client, STOPPED, "The lift in our block is broken again.")
    send_sms(client, STOPPED, "STOP")
    send_sms(client, TALKER, "The bins were not collected this week.")
    drain(old)
    # A FORGET processed before the message its sender sent earlier: the remembered FORGET
    # must still erase that message once the hashes are new.
    clock.freeze(T0)
    send_sms(client, FORGETTER, BEFORE, process=False)
    clock.freeze(T0 + timedelta(seconds=30))
    send_sms(client, FORGETTER, "FORGET", process=False)
    with old.app_context():
        earlier, forget = db.session.scalars(
            select(InboundMessage.id).order_by(InboundMessage.id.desc()).limit(2)
        ).all()[::-1]
        process_alone(forget)
        assert db.session.scalar(select(func.count()).select_from(ForgottenNumber)) == 1
        # A message waiting in the spool, as in a database outage, and a dead letter.
        payload = InboundPayload(
            message_sid="SM" + "5" * 32,
            channel=Channel.SMS,
            sender=SPOOLED,
            sender_valid=True,
            to=SMS_NUMBER,
            body="The streetlight outside number 4 is out.",
        )
        assert spool.keep(payload, inline_ack=True) == "redis"
        dead = spool.spool_dir() / spool.FAILED_FOLDER / "dead.spool"
        dead.parent.mkdir(parents=True)
        dead.write_text(vault().encrypt(json.dumps({"payload": payload.to_dict()})))
        db.session.remove()
    clock.freeze(None)
    send_sms(client, WAITING, "The park gate is stuck.", process=False)

    rotating = make_app(FEEDBACK_ENCRYPTION_KEY=f"{NEW},{OLD}")
    result = rotating.test_cli_runner().invoke(args=["keys", "rotate", "--rehash", "--yes"])
    assert result.exit_code == 0, result.output

    new = make_app(FEEDBACK_ENCRYPTION_KEY=NEW)
    check_stored(new)
    with pytest.raises(ConfigError):
        check_stored(rotating)  # the old key last again would not find anybody
    for token in every_ciphertext(new):
        Fernet(NEW).decrypt(token.encode())
    with new.app_context():
        [waiting] = redis_connection().lrange(spool.SPOOL_KEY, 0, -1)
        Fernet(NEW).decrypt(waiting)
        Fernet(NEW).decrypt(dead.read_bytes())
        assert opt_outs.opted_out(STOPPED) is True
        assert opt_outs.opted_out(TALKER) is False

    sent_before = len(outbound(new))
    with new.app_context():
        sweep()  # drains the spool
    drain(new)  # the waiting message, the spooled one, the earlier message of FORGETTER
    with new.app_context():
        message = db.session.get(InboundMessage, earlier)
        assert message is not None and message.disposition == "forgotten"
        numbers = {vault().decrypt(c.phone_ciphertext) for c in _live_contacts()}
        db.session.remove()
    assert numbers == {STOPPED, TALKER, WAITING, SPOOLED}

    # The member who sent STOP is recognised, and not texted.
    before = len(outbound(new))
    assert before > sent_before  # the waiting members were acknowledged
    send_sms(new.test_client(), STOPPED, "Is anybody reading this?")
    drain(new)
    assert contacts(new) == 5  # the four, and FORGETTER's forgotten row
    assert len(outbound(new)) == before


def _live_contacts() -> list[Contact]:
    return list(db.session.scalars(select(Contact).where(Contact.phone_ciphertext.is_not(None))))
