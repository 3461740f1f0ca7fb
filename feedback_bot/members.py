"""Members (contacts): finding them by number, and what they can ask of us."""

from __future__ import annotations

from sqlalchemy import delete, select, update

from . import clock
from .dbutil import insert_entity_ignoring_conflict
from .extensions import db
from .messaging.language import choose_locale, region_of
from .models import (
    Contact,
    InboundMedia,
    InboundMessage,
    MessageTranslation,
    OutboundMessage,
    OutboundStatus,
)
from .privacy import vault


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


def _locked(lookup: str) -> Contact | None:
    return db.session.scalars(
        select(Contact).where(Contact.phone_hash == lookup).with_for_update()
    ).one_or_none()


def forget(contact: Contact, keep_row_id: int | None = None) -> None:
    """Erase the member's number and the text and media of their messages.

    Their feedback items stay, anonymised, so that counts stay true. Rows still owed to
    them are cancelled, except the confirmation of this very request, which carries its
    own encrypted address and is sent once.
    """
    from .media.storage import delete_files

    now = clock.now()
    messages = db.session.scalars(
        select(InboundMessage).where(InboundMessage.contact_id == contact.id)
    ).all()
    media = db.session.scalars(
        select(InboundMedia).where(InboundMedia.message_id.in_([m.id for m in messages]))
    ).all()
    delete_files([m.storage_path for m in media if m.storage_path])
    for item in media:
        db.session.delete(item)
    # Translations and transcripts repeat what the member said: they go too.
    db.session.execute(
        delete(MessageTranslation).where(
            MessageTranslation.message_id.in_([m.id for m in messages])
        )
    )
    for message in messages:
        message.body = None
        message.num_media = 0
        message.erased_at = now
    db.session.execute(
        update(OutboundMessage)
        .where(
            OutboundMessage.contact_id == contact.id,
            OutboundMessage.status == OutboundStatus.PENDING,
            OutboundMessage.id != (keep_row_id or 0),
        )
        .values(status=OutboundStatus.CANCELLED, error_message="member asked to be forgotten")
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.contact_id == contact.id, OutboundMessage.id != (keep_row_id or 0))
        .values(to_ciphertext=None)
        .execution_options(synchronize_session=False)
    )
    contact.phone_hash = None
    contact.phone_ciphertext = None
    contact.region = None
    contact.forgotten_at = now
