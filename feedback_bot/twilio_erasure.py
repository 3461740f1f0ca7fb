"""FORGET reaches Twilio too: its copy of every message the member sent or was sent.

Twilio keeps each message, with the member's number, text and media, in the account's
logs. FORGET owes a deletion per message (``owe``) in its own commit; the sweeper hands
each one to a job when it is due (``due``), and the job (``erase_at_twilio``) deletes the
message at Twilio, or puts the deletion back for later: Twilio refuses to delete a message
still on its way (error 20009) for a few minutes, rarely for days. A deletion is owed
until Twilio has it done or answers that the message is not there, for up to
``GIVE_UP_AFTER``; no deletion is ever lost with a job, as the row is the record.

Some messages sent to the member we never know the SID of: the acknowledgement Twilio
makes from our TwiML during a database outage, the replies Twilio's Advanced Opt-Out
sends itself. For those, FORGET also owes a search (``owe_search``): a job
(``search_at_twilio``) lists what Twilio sent to the number up to the FORGET and owes each
a deletion, then drops the number. It is retried like a deletion. The same job, while it
has the number, deletes the member's messages among the spool's dead letters, the one
other place outside the database their words can wait (``spool.forget_dead_letters``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import update

from . import clock, spool
from .dbutil import hand_out_due, insert_many_ignoring_conflict
from .extensions import db
from .messaging import transport
from .messaging.transport import SendError, TransientSendError, credentials_refused_advice
from .models import TwilioErasure, TwilioSearch
from .privacy import vault

log = logging.getLogger(__name__)

# Twilio asks for a minute between a message's last event and its deletion.
FIRST_TRY_AFTER = timedelta(minutes=1)
# The sweeper defers each row it hands to a job by this much, so the next sweep skips it.
SWEEP_DEFER = timedelta(minutes=5)
# Twilio says a message can take up to 14 days to become deletable; twice that, then stop.
GIVE_UP_AFTER = timedelta(days=30)
NOT_FOUND = "20404"


def owe(sids: Iterable[str | None]) -> int:
    """Owe the deletion of each message ``sid`` at Twilio; the caller commits."""
    now = clock.now()
    rows = [
        {"sid": sid, "owed_at": now, "next_attempt_at": now + FIRST_TRY_AFTER}
        for sid in sorted({sid for sid in sids if sid})
    ]
    return len(insert_many_ignoring_conflict(TwilioErasure, rows, key="sid"))


def owe_search(address_ciphertext: str) -> None:
    """Owe a search of Twilio's logs for what was sent, up to now, to the number in
    ``address_ciphertext`` (the contact's, as encrypted); the caller commits."""
    now = clock.now()
    db.session.add(
        TwilioSearch(address_ciphertext=address_ciphertext, owed_at=now, next_attempt_at=now)
    )


def due(limit: int) -> list[int]:
    """Deletions due now, each pushed back so that one sweep does not hand it out twice."""
    return hand_out_due(TwilioErasure.next_attempt_at, clock.now(), limit, SWEEP_DEFER)


def erase_at_twilio(erasure_id: int) -> str:
    """The job: delete one message at Twilio. Idempotent: done rows are left alone, and a
    message deleted already (by a duplicate job) answers "not found", which is done too."""
    row = db.session.get(TwilioErasure, erasure_id)
    if row is None or row.next_attempt_at is None:  # done or given up
        return "nothing to do"
    sid, owed_at, attempts = row.sid, row.owed_at, row.attempts + 1
    try:
        transport().delete_message(sid)
    except SendError as exc:
        if exc.code != NOT_FOUND:
            return _failed(TwilioErasure, erasure_id, attempts, owed_at, exc)
    _record(
        TwilioErasure, erasure_id, attempts=attempts, erased_at=clock.now(), next_attempt_at=None
    )
    return "erased"


def searches_due(limit: int) -> list[int]:
    """Searches due now, handed out as ``due`` hands out deletions."""
    return hand_out_due(TwilioSearch.next_attempt_at, clock.now(), limit, SWEEP_DEFER)


def search_at_twilio(search_id: int) -> str:
    """The job: find what Twilio keeps that was sent to the forgotten number, by SMS or
    WhatsApp, up to the FORGET; owe each a deletion and drop the number, in one commit.
    Idempotent: a done search is left alone, and a deletion owed twice is owed once."""
    row = db.session.get(TwilioSearch, search_id)
    if row is None or row.address_ciphertext is None or row.next_attempt_at is None:
        return "nothing to do"
    e164 = vault().decrypt(row.address_ciphertext)
    until, attempts = row.owed_at, row.attempts + 1
    # Before Twilio, which may fail and put the search back: this needs only Redis and the
    # disk, and is idempotent. If Redis is down the job fails, and the sweeper retries it.
    spool.forget_dead_letters(e164, until)
    try:
        found = {sid for to in (e164, f"whatsapp:{e164}") for sid in transport().sent_to(to, until)}
    except SendError as exc:
        # Given up, the number goes even so: it was kept for this search alone.
        return _failed(TwilioSearch, search_id, attempts, until, exc, address_ciphertext=None)
    owe(found)
    _record(
        TwilioSearch,
        search_id,
        attempts=attempts,
        address_ciphertext=None,
        searched_at=clock.now(),
        next_attempt_at=None,
        found=len(found),
        last_error=None,
    )
    return f"found {len(found)}"


def _failed(
    model: type[TwilioErasure | TwilioSearch],
    row_id: int,
    attempts: int,
    owed_at: datetime,
    exc: SendError,
    **given_up: object,
) -> str:
    """Put a deletion or search back for later, or give it up once ``GIVE_UP_AFTER`` has
    passed, recording ``given_up`` with it."""
    code = exc.code
    now = clock.now()
    what = model.__tablename__.removeprefix("twilio_")
    if now - owed_at >= GIVE_UP_AFTER:
        _record(
            model, row_id, attempts=attempts, last_error=code[:32], next_attempt_at=None, **given_up
        )
        log.error("twilio %s %s: given up after %s attempts (%s)", what, row_id, attempts, code)
        return f"given up: {code}"
    _record(
        model,
        row_id,
        attempts=attempts,
        last_error=code[:32],
        next_attempt_at=now + backoff(attempts),
    )
    if isinstance(exc, TransientSendError) and exc.credentials_refused:
        # Nothing is erased at Twilio until an operator fixes the settings: say so as an
        # error each time, as the send path does, not among the routine retries.
        log.error(
            "twilio %s %s attempt %s: %s. Will retry",
            what,
            row_id,
            attempts,
            credentials_refused_advice(code),
        )
    else:
        log.info("twilio %s %s attempt %s: %s; will retry", what, row_id, attempts, code)
    return f"will retry: {code}"


def backoff(attempts: int) -> timedelta:
    """A minute, doubling, at most a day: 20009 lasts minutes, and rarely days."""
    return timedelta(seconds=min(60 * 2 ** (attempts - 1), 86400))


def _record(model: type[TwilioErasure | TwilioSearch], row_id: int, **values: object) -> None:
    """Record an attempt, and commit it with what it owed, unless another job has finished
    the row first (a finished or given-up row has no next attempt)."""
    db.session.execute(
        update(model)
        .where(model.id == row_id, model.next_attempt_at.is_not(None))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
