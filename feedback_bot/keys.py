"""The encryption keys against what they encrypted: checked at start, rotated on demand.

``FEEDBACK_ENCRYPTION_KEY`` is one or more Fernet keys, newest first (``privacy.Vault``).
Replacing it, rather than putting a new key in front, leaves every stored number
unreadable and every keyed hash unmatched: a member who sent STOP would be a stranger,
and texted. So the web app and the worker refuse to start unless the keys read one stored
number and make its stored hash (``check_stored``). One row: it costs a query at start,
nothing per request. It runs only where a deployment starts (``wsgi.py``, ``worker.py``,
in production): not in ``flask db upgrade`` (an empty or unmigrated database has nothing
to check), not in the embedded development run, not in tests' apps. If the database is
down or not migrated yet it warns and lets the process start: the webhook must answer
members through a database outage, and the worker waits for the database anyway.

``flask keys rotate`` encrypts every stored ciphertext again with the newest key, using
``MultiFernet.rotate`` (which keeps the time a token carries: the spool reads an old
entry's time from it). Each row is written only if it still holds what was read, so it
is safe while the service runs. The lookup hash is keyed by the *last* key, though, so
the older keys cannot go yet. ``flask keys rotate --rehash``, with the web app and the
workers stopped, also encrypts the spools again and makes every keyed hash with the
newest key, as the vault of the newest key alone will: the contacts', the waiting
messages', the remembered FORGETs' and the opted-out set in Redis. Then the older keys
are removed. It cannot run beside the service: a web process still keyed by the old key
would look members up by hashes that are no longer stored.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup
from redis import Redis
from sqlalchemy import delete, select, update
from sqlalchemy.exc import InterfaceError, OperationalError, ProgrammingError
from sqlalchemy.orm import InstrumentedAttribute

from .config import ConfigError
from .extensions import db
from .models import Contact, ForgottenNumber, InboundMessage, OutboundMessage, TwilioSearch
from .privacy import Vault, vault

log = logging.getLogger(__name__)

# Every column that holds a ciphertext. A new one belongs here, or rotation misses it.
ENCRYPTED_COLUMNS: tuple[InstrumentedAttribute[str | None], ...] = (
    Contact.phone_ciphertext,
    OutboundMessage.to_ciphertext,
    InboundMessage.pending_payload,
    TwilioSearch.address_ciphertext,
)
BATCH_SIZE = 500


# ------------------------------------------------------------------ the start-up check


def check_at_start(app: Flask) -> None:
    """``check_stored`` where a deployment starts: in production only."""
    if app.config.get("FEEDBACK_ENV") == "production":
        check_stored(app)


def check_stored(app: Flask) -> None:
    """Raise ``ConfigError`` unless the configured keys decrypt a stored phone number and
    their lookup key makes its stored hash. Opens and closes its own connection, so that
    a process that forks afterwards (gunicorn's preloading master) holds none."""
    with app.app_context():
        try:
            row = db.session.execute(
                select(Contact.id, Contact.phone_hash, Contact.phone_ciphertext)
                .where(Contact.phone_hash.is_not(None), Contact.phone_ciphertext.is_not(None))
                .order_by(Contact.id.desc())
                .limit(1)
            ).first()
        except (OperationalError, InterfaceError, ProgrammingError) as exc:
            log.warning(
                "could not check FEEDBACK_ENCRYPTION_KEY against the database (%s): "
                "starting without the check",
                type(exc).__name__,
            )
            return
        finally:
            db.session.remove()
            db.engine.dispose()
        if row is None:
            return  # nothing stored yet: any key will do
        contact_id, phone_hash, ciphertext = row
        assert ciphertext is not None  # as the query asked
        try:
            number = vault().decrypt(ciphertext)
        except ValueError:
            raise ConfigError(
                f"FEEDBACK_ENCRYPTION_KEY cannot decrypt the phone numbers already stored "
                f"(contact {contact_id}): keep the key they were encrypted with, after the "
                f"new one (new,old), until `flask keys rotate --rehash` has run"
            ) from None
        if vault().lookup_hash(number) != phone_hash:
            raise ConfigError(
                "FEEDBACK_ENCRYPTION_KEY's last key is not the one the stored phone-number "
                "hashes were made with, so members would not be recognised: keep the old key "
                "last (new,old), or, after `flask keys rotate --rehash`, set the newest key "
                "alone"
            )


# ------------------------------------------------------------------ rotation


def _batches(column: InstrumentedAttribute[str | None]) -> Iterator[list[tuple[int, str]]]:
    """(id, value) of the rows whose ``column`` is set, ``BATCH_SIZE`` at a time."""
    model = column.class_
    last = 0
    while True:
        rows = db.session.execute(
            select(model.id, column)
            .where(column.is_not(None), model.id > last)
            .order_by(model.id)
            .limit(BATCH_SIZE)
        ).all()
        if not rows:
            return
        yield [(row_id, value) for row_id, value in rows]
        last = rows[-1][0]


def reencrypt_database(current: Vault) -> int:
    """Encrypt every stored ciphertext again with the newest key; returns how many.

    A row changed meanwhile (a contact forgotten, a message processed) keeps its change:
    the update applies only where the column still holds what was read.
    """
    done = 0
    for column in ENCRYPTED_COLUMNS:
        model = column.class_
        for batch in _batches(column):
            for row_id, token in batch:
                db.session.execute(
                    update(model)
                    .where(model.id == row_id, column == token)
                    .values({column.key: current.rotate(token)})
                    .execution_options(synchronize_session=False)
                )
            db.session.commit()
            done += len(batch)
    return done


def _spool_senders(tokens: list[str], current: Vault) -> Iterator[str]:
    from .webhooks.payload import InboundPayload

    for token in tokens:
        try:
            payload = InboundPayload.from_dict(json.loads(current.decrypt(token))["payload"])
        except Exception:  # damaged or undecryptable: whose it is cannot be told
            log.warning("a spooled message cannot be read: its FORGET, if any, is not kept")
            continue
        if payload.sender_valid:
            yield payload.sender


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def _redis_spool_lists() -> tuple[str, ...]:
    from . import spool

    # Inbound messages only: status callbacks are not encrypted.
    return (spool.SPOOL_KEY, spool.PROCESSING_KEY, spool.DEAD_KEY)


def _spool_files() -> list[Path]:
    from . import spool

    folder = spool.spool_dir()
    files = sorted(folder.glob("*.spool")) if folder.is_dir() else []
    failed = folder / spool.FAILED_FOLDER
    return files + (sorted(failed.glob("*.spool")) if failed.is_dir() else [])


def spool_tokens(connection: Redis) -> list[str]:
    tokens: list[str] = []
    for key in _redis_spool_lists():
        tokens += [_text(raw) for raw in connection.lrange(key, 0, -1)]
    for path in _spool_files():
        tokens.append(path.read_text(errors="replace"))
    return tokens


def reencrypt_spools(connection: Redis, current: Vault) -> int:
    """Encrypt the Redis and file spools (and their dead letters) again; returns how many.

    Only with the service stopped: a drain running meanwhile could take an entry twice.
    An entry that cannot be decrypted is left as it is (a dead letter already, or soon).
    """
    rotated = 0
    for key in _redis_spool_lists():
        for index, raw in enumerate(connection.lrange(key, 0, -1)):
            try:
                connection.lset(key, index, current.rotate(_text(raw)))
                rotated += 1
            except ValueError:
                log.warning("spool entry %s of %s cannot be decrypted: left as it is", index, key)
    for path in _spool_files():
        try:
            token = current.rotate(path.read_text(errors="replace"))
        except ValueError:
            log.warning("spool file %s cannot be decrypted: left as it is", path.name)
            continue
        temporary = path.with_suffix(".rotating")
        temporary.write_text(token)
        temporary.replace(path)
        rotated += 1
    return rotated


def rehash_all(connection: Redis, current: Vault, target: Vault) -> dict[str, int]:
    """Make every keyed hash with ``target``'s lookup key; returns how many of each.

    Contacts and waiting messages are made again from the numbers they hold. A remembered
    FORGET holds only its hash: it is kept, hashed anew, if a message it may erase still
    waits (in the database or a spool), whose number gives the new hash; any other no
    message can need, and it goes, as the sweeper would delete it.
    """
    from . import opt_outs
    from .webhooks.payload import InboundPayload

    counts = {"contacts": 0, "waiting messages": 0, "forgotten numbers": 0}
    for batch in _batches(Contact.phone_ciphertext):
        for row_id, token in batch:
            db.session.execute(
                update(Contact)
                .where(Contact.id == row_id, Contact.phone_hash.is_not(None))
                .values(phone_hash=target.lookup_hash(current.decrypt(token)))
                .execution_options(synchronize_session=False)
            )
        db.session.commit()
        counts["contacts"] += len(batch)

    renamed: dict[str, str] = {}

    def remember(number: str) -> None:
        renamed[current.lookup_hash(number)] = target.lookup_hash(number)
        renamed[target.lookup_hash(number)] = target.lookup_hash(number)  # a second run

    for batch in _batches(InboundMessage.pending_payload):
        for row_id, token in batch:
            payload = InboundPayload.from_dict(json.loads(current.decrypt(token)))
            new_hash = target.lookup_hash(payload.sender) if payload.sender_valid else None
            if payload.sender_valid:
                remember(payload.sender)
            db.session.execute(
                update(InboundMessage)
                .where(InboundMessage.id == row_id, InboundMessage.sender_hash.is_not(None))
                .values(sender_hash=new_hash)
                .execution_options(synchronize_session=False)
            )
        db.session.commit()
        counts["waiting messages"] += len(batch)
    for number in _spool_senders(spool_tokens(connection), current):
        remember(number)

    for forgotten in db.session.scalars(select(ForgottenNumber)):
        if forgotten.phone_hash in renamed:
            forgotten.phone_hash = renamed[forgotten.phone_hash]
            counts["forgotten numbers"] += 1
    db.session.execute(
        delete(ForgottenNumber).where(ForgottenNumber.phone_hash.not_in(set(renamed.values())))
    )
    db.session.commit()

    # The opted-out set, made again from the contacts' new hashes (nothing else adds to it
    # while the service is stopped).
    connection.delete(opt_outs.OPTED_OUT_KEY, opt_outs.FILLED_KEY)
    counts["opted out"] = opt_outs.backfill()
    return counts


keys_cli = AppGroup("keys", help="Check and rotate FEEDBACK_ENCRYPTION_KEY.")


@keys_cli.command("check")
def check_command() -> None:
    """Check the keys against a stored phone number, as the web app and worker do at start."""
    from flask import current_app

    check_stored(current_app._get_current_object())  # type: ignore[attr-defined]
    click.echo("FEEDBACK_ENCRYPTION_KEY reads what is stored.")


@keys_cli.command("rotate")
@click.option(
    "--rehash",
    is_flag=True,
    help="Also make every lookup hash with the newest key, so that the older keys can be "
    "removed. Only with the web app and every worker stopped.",
)
@click.option("--yes", is_flag=True, help="Do not ask whether the service is stopped.")
def rotate_command(rehash: bool, yes: bool) -> None:
    """Encrypt everything stored again with the newest key (the first)."""
    from .jobs import redis_connection

    current = vault()
    if rehash and not yes:
        click.confirm(
            "Are the web app and every worker stopped? (They would look members up by "
            "hashes that are no longer stored.)",
            abort=True,
        )
    _report("ciphertexts in the database", reencrypt_database(current))
    if not rehash:
        if len(current.keys) > 1:
            click.echo(
                "The lookup hashes are still made with the last key, so it cannot be removed "
                "yet: stop the web app and the workers, run `flask keys rotate --rehash`, "
                "then set FEEDBACK_ENCRYPTION_KEY to the newest key alone."
            )
        return
    connection = redis_connection()
    _report("spooled messages", reencrypt_spools(connection, current))
    for what, count in rehash_all(connection, current, current.newest_only()).items():
        _report(f"{what} hashed anew", count)
    click.echo(
        "Done: set FEEDBACK_ENCRYPTION_KEY to the newest key alone, then start the web app "
        "and the workers."
    )


def _report(what: str, count: int) -> None:
    click.echo(f"{count:8} {what}")


def init_app(app: Flask) -> None:
    app.cli.add_command(keys_cli)
