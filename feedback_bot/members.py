"""Members (contacts): finding them by number, and what they can ask of us.

FORGET and the messages sent before it. Intake jobs may run out of order (two workers,
or the sweeper enqueueing a message again), so a message sent just before a FORGET can
be processed after it, when the number no longer finds the contact. Made a new member,
it would keep the number and the text the member asked us to erase, and be acknowledged
after "we have erased your phone number". So ``forget`` also records the FORGET as a
``ForgottenNumber`` (keyed hash and time only), and ``for_message`` refuses a contact to
a message sent before a recorded FORGET: intake erases that message unread. A message
sent after the FORGET is a new member writing in, as intended.

Why the check is race-free on PostgreSQL: ``for_message`` asks only once it holds the
contact (locked, or just inserted), in a statement of its own, so under READ COMMITTED it
sees every FORGET that committed before. A FORGET that has not committed by then needs
the same contact row (only one row holds a number's hash), so it waits for this message
and forgets it, and cancels its acknowledgement, like any message processed before a
FORGET. No lock is added: both jobs lock their own inbound row, then the contact, and the
record is read and inserted without locks (no unique key, so an insert never waits).
On SQLite (tests, development) FOR UPDATE does nothing, but one writer runs at a time;
the tests run the jobs one after the other, in either order.

The other design, erasing at FORGET time every still-waiting message from the number,
would have to decrypt each waiting payload to find the sender, and lock those inbound
rows while holding the contact, the reverse of intake's order (a deadlock waiting to
happen); and a job already holding such a row would still race it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, and_, delete, exists, or_, select, update

from . import clock, opt_outs, twilio_erasure
from .dbutil import insert_entity_ignoring_conflict
from .extensions import db
from .messaging.language import choose_locale, region_of
from .models import (
    Contact,
    Disposition,
    ForgottenNumber,
    InboundMedia,
    InboundMessage,
    MessageTranslation,
    OutboundMessage,
    OutboundStatus,
)
from .privacy import vault

# A FORGET is remembered at least this long: a message stamped just before it may still be
# committing in the webhook (or come from a web server whose clock is a little behind).
FORGET_REMEMBERED_AT_LEAST = timedelta(hours=1)
# ... and at most this long, even if some message waits longer (a job that always fails):
# a keyed hash of a forgotten number is not kept indefinitely.
FORGET_REMEMBERED_AT_MOST = timedelta(days=30)
# Rows not yet sent that no worker holds: FORGET cancels them. A row a worker holds, or
# one owed after the FORGET committed (a fan-out that read the contact before it), is
# cancelled by the send job, which sends nothing to a forgotten member but the
# confirmation of the FORGET (``jobs.send.send_outbound``).
STILL_OWED = (OutboundStatus.PENDING, OutboundStatus.NEEDS_TEMPLATE)


def find_or_create(
    e164: str, first_text: str | None, detected: str | None = None
) -> tuple[Contact, bool]:
    """The contact for ``e164``, locked for this transaction; True if new.

    SELECT ... FOR UPDATE, else insert-if-absent (the new row is locked until commit): two
    messages from one member arriving together serialise here, so they join one feedback
    item instead of racing to open two.
    """
    lookup = vault().lookup_hash(e164)
    contact = _locked(lookup)
    if contact is not None:
        return contact, False
    region = region_of(e164)
    choice = choose_locale(first_text, region, detected)
    now = clock.now()
    created = insert_entity_ignoring_conflict(
        Contact,
        {
            "phone_hash": lookup,
            "phone_ciphertext": vault().encrypt(e164),
            "region": region,
            "locale": choice.locale,
            "locale_source": choice.source,
            "uses_sms": False,
            "uses_whatsapp": False,
            "created_at": now,
        },
        key="phone_hash",
    )
    if created is not None:
        return created, True
    # Another message from the same member created it a moment ago: wait for it.
    contact = _locked(lookup)
    assert contact is not None
    return contact, False


def for_message(
    e164: str, written_at: datetime, first_text: str | None, detected: str | None = None
) -> Contact | None:
    """The contact of a message ``e164`` sent at ``written_at`` (``find_or_create``); None
    if the number asked to be forgotten after sending it, and the message is to be erased.
    """
    contact, created = find_or_create(e164, first_text, detected)
    # Asked only now, holding the contact: see the module docstring.
    if not _forgotten_after(contact.phone_hash, written_at):
        return contact
    if created:
        db.session.delete(contact)  # a member who asked to be forgotten is no new member
    return None


def _forgotten_after(lookup: str | None, written_at: datetime) -> bool:
    # Strictly after: a message stamped the same instant as the FORGET is let through as
    # a member writing afresh rather than erased.
    return bool(
        db.session.scalar(
            select(
                exists().where(
                    ForgottenNumber.phone_hash == lookup, ForgottenNumber.forgot_at > written_at
                )
            )
        )
    )


def lock(contact: Contact) -> None:
    """Hold ``contact``'s row, read afresh, until the caller commits, as intake holds it
    while it applies one of the member's messages (``find_or_create``)."""
    db.session.refresh(contact, with_for_update=True)


def _locked(lookup: str) -> Contact | None:
    return db.session.scalars(
        select(Contact).where(Contact.phone_hash == lookup).with_for_update()
    ).one_or_none()


def forget(
    contact: Contact, keep_row_id: int | None = None, asked_at: datetime | None = None
) -> None:
    """Erase the member's number and the text and media of their messages.

    Their feedback items stay, anonymised, so that counts stay true. Rows still owed to
    them are cancelled, except the confirmation of this very request, which carries its
    own encrypted address and is sent once; the send job cancels any other that escapes
    (held by a worker now, in doubt after an attempt that may have reached Twilio, or owed
    by a transaction that read the contact before this one committed). ``asked_at``: when
    the member asked (their message's ``received_at``); messages they sent before then and
    not yet processed are erased when they are (``for_message``).
    """
    now = clock.now()
    if contact.phone_hash is not None:
        db.session.add(ForgottenNumber(phone_hash=contact.phone_hash, forgot_at=asked_at or now))
    messages = db.session.scalars(
        select(InboundMessage).where(InboundMessage.contact_id == contact.id)
    ).all()
    _erase(messages, now)
    others = (OutboundMessage.contact_id == contact.id, OutboundMessage.id != (keep_row_id or 0))
    # Error texts that may once have held the number (stored unmasked before). First, and on
    # every row: the UPDATE waits for a send job committing a SID on one of them, so the
    # SELECT below sees that SID; a send job committing after this FORGET sees it and owes
    # the deletion itself (``jobs.send.accept``).
    db.session.execute(
        update(OutboundMessage)
        .where(*others)
        .values(error_message=None)
        .execution_options(synchronize_session=False)
    )
    # The number, except on rows that may be at Twilio already without our knowing their
    # SID: one a worker is sending, or one whose last attempt may have arrived. The send job
    # looks those up at Twilio first, to delete the copy there too, then cancels them
    # (``jobs.send.forgotten``).
    in_doubt = OutboundMessage.unconfirmed_since.is_not(None)
    # One parked for a WhatsApp template after such an attempt goes back to the send job,
    # which never sends it now, but asks.
    db.session.execute(
        update(OutboundMessage)
        .where(*others, in_doubt, OutboundMessage.status == OutboundStatus.NEEDS_TEMPLATE)
        .values(status=OutboundStatus.PENDING, next_attempt_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    in_flight = or_(
        OutboundMessage.status == OutboundStatus.SENDING,
        and_(OutboundMessage.status == OutboundStatus.PENDING, in_doubt),
    )
    db.session.execute(
        update(OutboundMessage)
        .where(*others, ~in_flight)
        .values(to_ciphertext=None)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(OutboundMessage)
        .where(*others, ~in_flight, OutboundMessage.status.in_(STILL_OWED))
        .values(
            status=OutboundStatus.CANCELLED,
            error_code="cancelled",
            error_message="member asked to be forgotten",
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    # Twilio's copies: what they sent, and what we sent them that reached Twilio. One that
    # reaches it later (this FORGET's own confirmation, a row in flight) is owed when it
    # does (``jobs.send``).
    twilio_erasure.owe(
        [
            *(message.message_sid for message in messages),
            *db.session.scalars(
                select(OutboundMessage.twilio_sid).where(
                    OutboundMessage.contact_id == contact.id,
                    OutboundMessage.twilio_sid.is_not(None),
                )
            ),
        ]
    )
    # And those whose SIDs we never learned, found by the number before it goes.
    if contact.phone_ciphertext is not None:
        twilio_erasure.owe_search(contact.phone_ciphertext)
    contact.phone_hash = None
    contact.phone_ciphertext = None
    contact.region = None
    contact.forgotten_at = now


def forget_and_confirm(
    contact: Contact, confirmation: Callable[[], int | None], asked_at: datetime
) -> int | None:
    """A FORGET, texted or done by staff at the member's request: owe the confirmation
    (``confirmation`` returns its row, or None if none can go) while the number it needs
    is still here, then ``forget``, sparing that row. Returns it."""
    owed = confirmation()
    phone_hash = contact.phone_hash
    forget(contact, keep_row_id=owed, asked_at=asked_at)
    # Whoever writes from this number next is somebody new, and not opted out.
    opt_outs.note(phone_hash, False)
    return owed


def erase_unread(message: InboundMessage) -> None:
    """Erase a message sent before its member's FORGET and processed after it, as the
    FORGET would have erased it had it been processed first."""
    _erase([message], clock.now())
    twilio_erasure.owe([message.message_sid])


def _erase(messages: Sequence[InboundMessage], now: datetime) -> None:
    """Erase the text and media of ``messages``; the rows stay, so that counts stay true."""
    from .media.storage import delete_files

    ids = [m.id for m in messages]
    # The messages first: an interpreter saving a translation of one waits, then finds it
    # erased (``save_message_translation``) instead of saving after the delete below.
    db.session.execute(
        select(InboundMessage.id).where(InboundMessage.id.in_(ids)).with_for_update()
    )
    # Locked: a fetch storing its file meanwhile either commits first (and its file is seen
    # and deleted here) or waits, then finds the row gone and deletes its own file.
    media = db.session.scalars(
        select(InboundMedia).where(InboundMedia.message_id.in_(ids)).with_for_update()
    ).all()
    delete_files([m.storage_path for m in media if m.storage_path])
    for item in media:
        db.session.delete(item)
    # Translations and transcripts repeat what the member said: they go too.
    db.session.execute(delete(MessageTranslation).where(MessageTranslation.message_id.in_(ids)))
    for message in messages:
        message.body = None
        message.num_media = 0
        message.pending_payload = None  # the sender's number, when intake never got to it
        message.erased_at = now


def forget_expired() -> int:
    """Delete, and commit, the records of FORGETs that no waiting message can need any
    more: none received before them is still waiting for intake. For the sweeper."""
    now = clock.now()
    earlier_waiting = exists().where(
        InboundMessage.disposition == Disposition.RECEIVED,
        InboundMessage.received_at < ForgottenNumber.forgot_at,
    )
    result = db.session.execute(
        delete(ForgottenNumber)
        .where(
            ForgottenNumber.forgot_at <= now - FORGET_REMEMBERED_AT_LEAST,
            or_(ForgottenNumber.forgot_at <= now - FORGET_REMEMBERED_AT_MOST, ~earlier_waiting),
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return cast("CursorResult[Any]", result).rowcount
