"""Accepting an inbound message, in two steps: the webhook stores it, a job processes it.

``store`` is all the webhook does: one INSERT of the message (Twilio's parameters kept
encrypted, since they hold the sender's number) and a commit, so that Twilio gets its
answer in milliseconds and no message is ever lost once answered. The intake job then
calls ``process_stored``: it finds or creates the member, detects the language, opens the
feedback item and owes the acknowledgement, all in one transaction that the caller
commits. A message the job never reached stays "received", and the sweeper enqueues it
again; processing twice is a no-op because the row is locked and its disposition checked.

A member's messages take effect in the order they sent them: the intake job processes the
sender's earlier messages still waiting before its own (``waiting_before``). A message can
still be processed after a later one (kept in the spool through a database outage, its own
processing failed, or two webhooks a moment apart committed in the other order), so what a
message changes goes by when the member sent it
(``received_at``: when our webhook took it), not by when a job gets to it:
a message sent before a FORGET but processed after it is erased, never made a new member
(``members.for_message``, whose docstring says why that holds under concurrency); a STOP
or START sent before the one already applied changes nothing and is not answered
(``apply_opt_change``).

``accept`` does both steps in one transaction, for callers that are already off the
request path (the spool drain, the phone simulator, demo data).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import aliased

from . import clock, members, opt_outs
from .dbutil import insert_committed_ignoring_conflict, insert_ignoring_conflict
from .extensions import db
from .loop import (
    TEXT_CHANGED,
    UNSENT,
    WHAT_NEXT_KINDS,
    asked_about,
    cancel_unsent,
    fan_out_for_member,
    rating_item,
    record_rating,
)
from .messaging import keywords, our_numbers
from .messaging.language import (
    UNRECOGNISED,
    Detection,
    detection,
    is_sentence,
    menu_choice,
    menu_options,
    named_languages,
    offered_locale_for,
    region_of,
)
from .messaging.templates import UnknownTemplate, render
from .models import (
    Contact,
    Decision,
    Disposition,
    FeedbackItem,
    InboundMedia,
    InboundMessage,
    ItemStatus,
    LocaleSource,
    MessageKind,
    OutboundMessage,
    OutboundStatus,
)
from .outbox import owe_message
from .privacy import vault
from .webhooks.payload import InboundPayload

log = logging.getLogger(__name__)

# A language given to a member before any of their messages said which they write in: the
# first message that does says it (``adopt_detected_language``).
GUESSED_SOURCES = (LocaleSource.COUNTRY, LocaleSource.DEFAULT)


@dataclass
class IntakeResult:
    duplicate: bool = False
    disposition: str | None = None
    item_id: int | None = None
    owed: list[int] = field(default_factory=list)
    media_ids: list[int] = field(default_factory=list)
    # The member whose language this message changed: decisions they wait to hear of may
    # have a summary in it (``loop.fan_out_for_member``, once this commits).
    switched_language: int | None = None


def store(payload: InboundPayload, received_at: datetime | None = None) -> int | None:
    """Store ``payload``, received at ``received_at`` (now by default), for the intake job,
    committed. None if it was stored before."""
    return insert_committed_ignoring_conflict(
        InboundMessage, _received_row(payload, received_at, keep_payload=True), key="message_sid"
    )


def process_stored(inbound_id: int) -> IntakeResult:
    """Process a message ``store`` kept; the caller commits. A no-op if already processed."""
    message = db.session.scalars(
        select(InboundMessage).where(InboundMessage.id == inbound_id).with_for_update()
    ).one_or_none()
    if message is None or message.disposition != Disposition.RECEIVED:
        return IntakeResult(duplicate=True)
    if message.pending_payload is None:  # pragma: no cover - store always sets it
        raise ValueError(f"inbound {inbound_id} has no stored payload")
    payload = InboundPayload.from_dict(json.loads(vault().decrypt(message.pending_payload)))
    return _process(message, payload, inline_acknowledged=False)


def accept(
    payload: InboundPayload,
    inline_acknowledged: bool = False,
    received_at: datetime | None = None,
) -> IntakeResult:
    """Store and process ``payload`` in one transaction, then commit.

    ``inline_acknowledged`` says the member was already answered in the webhook's own
    response (the database was down then), so no further acknowledgement is owed.
    ``received_at``: when our webhook took the message, if not now (the spool keeps it).
    """
    try:
        inbound_id = _receive(payload, received_at)
        if inbound_id is None:
            # Twilio delivered this message before; everything it needed is already owed.
            result = IntakeResult(duplicate=True)
        else:
            message = db.session.get(InboundMessage, inbound_id)
            assert message is not None
            result = _process(message, payload, inline_acknowledged)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    if result.switched_language is not None:
        fan_out_for_member(result.switched_language)
    return result


def waiting_before(inbound_id: int) -> list[int]:
    """The sender's messages stored before ``inbound_id`` and still waiting for intake,
    oldest first: the intake job processes them first, so that a member's messages take
    effect in the order they sent them. Going by ``received_at`` alone cannot undo what a
    later message's job already did: an acknowledgement sent for feedback written after a
    STOP, or feedback written after a FORGET erased with the rest."""
    # One statement, and no row loaded: every message's job asks, and almost always the
    # answer is "none".
    this, earlier = aliased(InboundMessage), InboundMessage
    return list(
        db.session.scalars(
            select(earlier.id)
            .join(this, and_(this.id == inbound_id, this.sender_hash == earlier.sender_hash))
            .where(
                this.disposition == Disposition.RECEIVED,
                earlier.disposition == Disposition.RECEIVED,
                or_(
                    earlier.received_at < this.received_at,
                    and_(earlier.received_at == this.received_at, earlier.id < this.id),
                ),
            )
            .order_by(earlier.received_at, earlier.id)
        )
    )


def unprocessed(limit: int, older_than: timedelta) -> list[int]:
    """Stored messages no intake job has processed, oldest first, for the sweeper.

    Only those stored a little while ago: a message stored this instant normally has its
    job on the way.
    """
    return list(
        db.session.scalars(
            select(InboundMessage.id)
            .where(
                InboundMessage.disposition == Disposition.RECEIVED,
                InboundMessage.received_at <= clock.now() - older_than,
            )
            .order_by(InboundMessage.id)
            .limit(limit)
        )
    )


def _receive(payload: InboundPayload, received_at: datetime | None) -> int | None:
    """INSERT the message as received, in the session's transaction; None if its
    MessageSid is stored already."""
    return insert_ignoring_conflict(
        InboundMessage, _received_row(payload, received_at, keep_payload=False), key="message_sid"
    )


def _received_row(
    payload: InboundPayload, received_at: datetime | None, keep_payload: bool
) -> dict[str, Any]:
    """The columns of a message just received; with ``keep_payload``, Twilio's parameters
    kept (encrypted) for the intake job."""
    return {
        "message_sid": payload.message_sid,
        "channel": payload.channel,
        "to_address": payload.to,
        "body": payload.body,
        "num_media": len(payload.media),
        "disposition": Disposition.RECEIVED,
        "received_at": received_at or clock.now(),
        "pending_payload": (
            vault().encrypt(json.dumps(payload.to_dict())) if keep_payload else None
        ),
        "sender_hash": (
            vault().lookup_hash(payload.sender) if keep_payload and payload.sender_valid else None
        ),
    }


def _process(
    message: InboundMessage, payload: InboundPayload, inline_acknowledged: bool
) -> IntakeResult:
    # The member's times are when they wrote, not when a worker got to it.
    now = message.received_at
    inbound_id = message.id
    action = keywords.match(payload.body) if not payload.media else None
    # A keyword is too short for lingua; its language is the catalogue that lists it, if any.
    region = region_of(payload.sender) if payload.sender_valid else None
    found = (
        Detection(keywords.language_of(payload.body)) if action else detection(payload.body, region)
    )
    detected = found.locale
    # The message's own language, whatever its writer's: a sentence partly in the language
    # of their country is in that one, for reading it; a sentence lingua could not place is
    # marked so, and never takes the language we answer them in (see ``UNRECOGNISED``).
    unplaced = not action and found == Detection() and is_sentence(payload.body)
    message.detected_locale = UNRECOGNISED if unplaced else (detected or found.mixed_with)
    message.pending_payload = None
    message.sender_hash = None
    message.disposition = Disposition.FEEDBACK
    media = [
        InboundMedia(
            message_id=inbound_id,
            position=position,
            content_type=ref.content_type,
            source_url=ref.url,
            fetch_attempts=0,
            next_fetch_at=now,  # due at once; the media job fetches it after the commit
        )
        for position, ref in enumerate(payload.media)
    ]
    if media:
        db.session.add_all(media)
        db.session.flush()

    result = IntakeResult(disposition=Disposition.FEEDBACK, media_ids=[m.id for m in media])
    if payload.to not in our_numbers():
        log.warning("inbound %s was sent to a number we do not run; kept for review", inbound_id)
        message.disposition = result.disposition = Disposition.NOT_OURS
        return result
    if not payload.sender_valid:
        log.warning("inbound %s comes from no valid phone number; kept, never answered", inbound_id)
        message.disposition = result.disposition = Disposition.INVALID_SENDER
        return result

    # No autoflush while looking things up: the message's and member's changes go to the
    # database in one UPDATE each, not one per query.
    with db.session.no_autoflush:
        contact = members.for_message(
            payload.sender, now, None if action else payload.body, detected
        )
    if contact is None:
        # Sent before a FORGET from this number that was processed first: erased as the
        # FORGET would have erased it, and never answered (see ``members``).
        members.erase_unread(message)
        message.disposition = result.disposition = Disposition.FORGOTTEN
        result.media_ids = []
        return result
    message.contact_id = contact.id
    note_contact_activity(contact, payload.channel, now)
    if detected and contact.locale_source in GUESSED_SOURCES:
        if adopt_detected_language(contact, detected):
            result.switched_language = contact.id

    if payload.opt_out_type:
        # Twilio's Advanced Opt-Out has answered this keyword itself; we only record it,
        # and after a START acknowledge what was sent while stopped, as for our own START.
        was_opted_out = contact.opted_out
        if apply_twilio_opt_out(contact, payload.opt_out_type, now) and was_opted_out:
            result.owed = owe_held_acknowledgements(contact, payload)
        message.disposition = result.disposition = Disposition.KEYWORD
        return result

    if action:
        message.disposition = result.disposition = Disposition.KEYWORD
        result.owed = owe_keyword_reply(action, contact, message, payload)
        return result

    # A photo captioned "2" is feedback, as a photo captioned "STOP" is (``action``).
    # An answer to a question that waits comes before the item a message sent a moment
    # ago keeps open for more (``open_item``): "English please" or "👍" is no more of it.
    chosen = menu_reply(contact, payload.body, now) if not payload.media else None
    rated = rating_item(contact, payload.body, now) if not payload.media else None
    if chosen and rated:
        # Both the language menu and "Did we listen?" are waiting for a digit: it answers
        # the one the member was asked last.
        menu_sent = contact.language_menu_sent_at
        if menu_sent is not None and rated.asked_at > menu_sent:
            chosen = None
        else:
            rated = None
    if chosen:
        message.disposition = result.disposition = Disposition.MENU_REPLY
        change_language(contact, chosen)
        result.switched_language = contact.id
        contact.language_menu_sent_at = None
        owed = owe_message(
            key=f"language_set:in:{inbound_id}",
            kind=MessageKind.LANGUAGE_SET,
            contact=contact,
            channel=payload.channel,
            to_e164=payload.sender,
        )
        result.owed = [owed] if owed else []
        return result

    if rated and rated.comment and (action := keywords.match(rated.comment)):
        # "3 STOP": the keyword comes first, as it would alone (a STOP must stop us).
        message.disposition = result.disposition = Disposition.KEYWORD
        result.owed = owe_keyword_reply(action, contact, message, payload)
        return result

    if rated:
        # With what the member wrote after their answer, if anything ("2 - but it is
        # late"): the message is kept whole on the item, in their words, where staff read
        # it, and erased with the rest of their words.
        rated_item = rated.items[0]  # the one the question was about
        message.disposition = result.disposition = Disposition.RATING
        message.item_id = result.item_id = rated_item.id
        reply_kind = record_rating(rated.items, rated.answer, now)
        refs = ", ".join(item.ref for item in sorted(rated.items, key=lambda item: item.id))
        extra: dict[str, Any] = (
            {"ref": refs, "days": current_app.config["INTERIM_UPDATE_DAYS"]}
            if reply_kind == MessageKind.RATING_REOPENED
            else {}
        )
        owed = owe_message(
            key=f"{reply_kind}:in:{inbound_id}",
            kind=reply_kind,
            contact=contact,
            channel=payload.channel,
            item=rated_item,
            to_e164=payload.sender,
            **extra,
        )
        result.owed = [owed] if owed else []
        return result

    asked_again = ask_again(contact, message, payload) if not payload.media else None
    if asked_again is not None:
        message.disposition = result.disposition = Disposition.ASKED_AGAIN
        result.owed = asked_again
        return result

    with db.session.no_autoflush:
        item = open_item(contact, payload.channel, now)
    if item is not None:
        item.last_message_at = latest(item.last_message_at, now)
        message.item_id = result.item_id = item.id
        return result

    thanked = courtesy_reply(contact, payload, now)
    if thanked is not None:
        message.disposition = result.disposition = Disposition.COURTESY
        message.item_id = result.item_id = thanked.item_id
        return result

    item = FeedbackItem(
        contact_id=contact.id,
        channel=payload.channel,
        locale=contact.locale,
        status=ItemStatus.NEW,
        created_at=now,
        last_message_at=now,
    )
    db.session.add(item)
    message.item = item  # the flush inserts the item, then updates the message once
    db.session.flush()
    result.item_id = item.id
    if contact.opted_out:
        log.info("item %s is from a member who opted out: stored, not acknowledged", item.id)
        return result
    owed = owe_acknowledgement(
        item,
        contact,
        payload,
        kind=MessageKind.ACK_INLINE if inline_acknowledged else ack_kind(payload),
        status=OutboundStatus.SENT if inline_acknowledged else OutboundStatus.PENDING,
    )
    result.owed = [owed] if owed and not inline_acknowledged else []
    offered = offer_languages(contact, message, payload, detected)
    if offered:
        result.owed.append(offered)
    return result


# How long after our last message a "Thanks" or a "👍" is taken as the answer to it.
COURTESY_WINDOW = timedelta(days=7)


def courtesy_reply(
    contact: Contact, payload: InboundPayload, now: datetime
) -> OutboundMessage | None:
    """A "Thanks", "thank you!" or "👍" in answer to a message of ours from the last week:
    that message, whose item (if any: a HELP reply has none) is where staff see the thanks;
    None if the message is anything more, or answers nothing of ours.

    Made a feedback item, it was acknowledged ("A person will read it") and the member
    thanked us again; it says nothing to act on, and wants no answer.
    """
    if payload.media or not keywords.courtesy(payload.body):
        return None
    return db.session.scalars(
        select(OutboundMessage)
        .where(
            OutboundMessage.contact_id == contact.id,
            OutboundMessage.accepted_at.is_not(None),
            OutboundMessage.accepted_at <= now,
            OutboundMessage.accepted_at >= now - COURTESY_WINDOW,
        )
        .order_by(OutboundMessage.accepted_at.desc(), OutboundMessage.id.desc())
        .limit(1)
    ).first()


def offer_languages(
    contact: Contact, message: InboundMessage, payload: InboundPayload, detected: str | None
) -> int | None:
    """The language menu, once, after the acknowledgement of a text long enough to tell its
    language that lingua could not place among those we offer, from a member whose language
    is still a guess: the acknowledgement went in the guess (English, say, to somebody who
    wrote in French or Tigrinya), and the menu shows them, each in its own name, what they
    can choose."""
    if detected or contact.locale_source not in GUESSED_SOURCES:
        return None
    if contact.language_menu_sent_at is not None:  # offered, or asked for, before
        return None
    if not is_sentence(payload.body):
        return None
    contact.language_menu_sent_at = message.received_at
    return owe_message(
        key=f"language:offered:in:{message.id}",
        kind=MessageKind.LANGUAGE_MENU,
        contact=contact,
        channel=payload.channel,
        to_e164=payload.sender,
        options=menu_options(),
    )


def note_contact_activity(contact: Contact, channel: str, now: datetime) -> None:
    # Never back in time: an earlier message can be processed after a later one.
    contact.last_inbound_at = latest(contact.last_inbound_at, now)
    if channel == "whatsapp":
        contact.uses_whatsapp = True
        # WhatsApp allows free-form replies for 24 hours after the member's last message.
        contact.whatsapp_last_inbound_at = latest(contact.whatsapp_last_inbound_at, now)
    else:
        contact.uses_sms = True


def latest(known: datetime | None, now: datetime) -> datetime:
    return now if known is None else max(known, now)


def apply_twilio_opt_out(contact: Contact, opt_out_type: str, now: datetime) -> bool:
    """Record the STOP or START Twilio's Advanced Opt-Out answered; True for a START that
    took effect (``apply_opt_change``)."""
    if opt_out_type not in ("STOP", "START"):
        return False
    return apply_opt_change(contact, opt_out_type == "STOP", now) and opt_out_type == "START"


def apply_opt_change(contact: Contact, opt_out: bool, sent_at: datetime) -> bool:
    """Apply a STOP (``opt_out``) or a START the member sent at ``sent_at``; False if it is
    older than the STOP or START already applied, and changes nothing.

    Jobs can run out of order: the member's latest word wins, whichever job ran last. The
    caller holds the contact's row lock (``members.find_or_create``), so two jobs of one
    member check and set this one after the other.
    """
    if contact.opt_changed_at is not None and sent_at < contact.opt_changed_at:
        return False
    contact.opted_out_at = sent_at if opt_out else None
    contact.opt_changed_at = sent_at
    opt_outs.note(contact.phone_hash, opt_out)
    return True


def adopt_detected_language(contact: Contact, detected: str) -> bool:
    """The member's language was only guessed (from their country, or the default: their
    first messages were a keyword, a greeting, an emoji or a voice note), and this message
    says which it is: it becomes theirs, as if their first message had said it. So does
    the language of their items still waiting to be read, which were given the guess.
    True if that changed their language.

    Detection decides only once. After it, a message in another language changes nothing
    (a member may quote a sign or write a word in English); LANGUAGE changes it.
    """
    locale = offered_locale_for(detected, contact.region) or detected
    changed = locale != contact.locale
    if changed:
        guessed = contact.locale
        switch_language(contact, locale, LocaleSource.DETECTED)
        db.session.execute(
            update(FeedbackItem)
            .where(
                FeedbackItem.contact_id == contact.id,
                FeedbackItem.status == ItemStatus.NEW,
                FeedbackItem.locale == guessed,
            )
            .values(locale=locale)
            .execution_options(synchronize_session="fetch")
        )
    contact.locale_source = LocaleSource.DETECTED
    return changed


def change_language(contact: Contact, locale: str) -> None:
    """The member chose ``locale`` from the LANGUAGE menu (``switch_language``)."""
    switch_language(contact, locale, LocaleSource.CHOSEN)


def switch_language(contact: Contact, locale: str, source: str) -> None:
    """Switch the member to ``locale``, with what we owe them and have not sent yet.

    A row's body is rendered when it is owed, so a row still waiting (quiet hours, the
    send rate, a WhatsApp template) would go in the old language, and a message owed after
    it (the rating question) in the new one. So, in the caller's transaction, each unsent
    row that can still change (no worker holds it, and no attempt left it in doubt) is
    rendered again in ``locale``: from its kind and stored values, and a "what happened
    next" with the decision's summary in ``locale``. If nobody has translated that summary
    yet, the row is cancelled as one whose text changed before it went
    (``loop.TEXT_CHANGED``), and the member waits for the translation like anyone else in
    that language: saving it runs the fan-out, which owes them the message afresh. Each
    row is changed by a compare-and-set against ``claim``: a row a worker takes meanwhile
    goes as it was.
    """
    contact.locale, contact.locale_source = locale, source
    staff_locale = current_app.config["STAFF_LOCALE"]
    rows = db.session.scalars(
        select(OutboundMessage).where(
            OutboundMessage.contact_id == contact.id,
            OutboundMessage.status.in_(UNSENT),
            OutboundMessage.unconfirmed_since.is_(None),
            OutboundMessage.locale != locale,
        )
    ).all()
    untranslated = []
    why = "chose" if source == LocaleSource.CHOSEN else "wrote in"
    for row in rows:
        values = {key: str(value) for key, value in (row.variables or {}).items()}
        if row.kind in WHAT_NEXT_KINDS:
            decision = db.session.get(Decision, row.decision_id) if row.decision_id else None
            summary = decision.summary_in(locale, staff_locale) if decision else None
            if summary is None:
                untranslated.append(row.id)
                continue
            values["summary"] = summary
        try:
            body = render(row.kind, locale, **values)
        except (UnknownTemplate, ValueError):
            # A row from before its values were stored: it goes as it was written.
            log.warning("outbound %s (%s) could not be rendered in %s", row.id, row.kind, locale)
            continue
        note = f"rendered again in {locale}: the member {why} it before this went"
        if row.routing_note and not row.content_sid:
            note = f"{row.routing_note}; {note}"
        db.session.execute(
            update(OutboundMessage)
            .where(
                OutboundMessage.id == row.id,
                OutboundMessage.status.in_(UNSENT),
                OutboundMessage.unconfirmed_since.is_(None),
            )
            .values(
                locale=locale,
                body=body,
                variables=values,
                # A WhatsApp template chosen for the old language: routed again when sent.
                content_sid=None,
                routing_note=note,
                updated_at=clock.now(),
            )
            .execution_options(synchronize_session=False)
        )
    if untranslated:
        cancel_unsent(
            f"the member {why} {locale}, which has no translation of this decision yet; "
            "owed again when it has",
            OutboundMessage.id.in_(untranslated),
            code=TEXT_CHANGED,
        )


def ack_kind(payload: InboundPayload) -> str:
    if payload.body.strip() or not payload.media:
        return MessageKind.ACK
    if any(ref.content_type.startswith("audio/") for ref in payload.media):
        return MessageKind.ACK_VOICE
    return MessageKind.ACK_PHOTO


def open_item(contact: Contact, channel: str, now: datetime) -> FeedbackItem | None:
    """The item a message sent moments after another should join, if any."""
    window = current_app.config["ACK_COALESCE_SECONDS"]
    if window <= 0:
        return None
    return db.session.scalars(
        select(FeedbackItem)
        .where(
            FeedbackItem.contact_id == contact.id,
            FeedbackItem.channel == channel,
            FeedbackItem.status == ItemStatus.NEW,
            FeedbackItem.last_message_at >= now - timedelta(seconds=window),
        )
        .order_by(FeedbackItem.id.desc())
        .limit(1)
    ).first()


def menu_reply(contact: Contact, body: str, now: datetime) -> str | None:
    return menu_choice(body) if menu_open(contact, now) else None


def menu_open(contact: Contact, now: datetime) -> bool:
    """The member was sent the language menu recently enough for a number to answer it."""
    sent = contact.language_menu_sent_at
    minutes = current_app.config["LANGUAGE_MENU_REPLY_MINUTES"]
    return sent is not None and now - sent <= timedelta(minutes=minutes)


def ask_again(
    contact: Contact, message: InboundMessage, payload: InboundPayload
) -> list[int] | None:
    """A number that answers nothing while a question waits for one ("4" to "Did we
    listen?", "12" to the language menu): the question again, which says what to reply,
    rather than "a person will read it" for a "4". The one asked last, as for an answer.
    None if no question waits: the number is feedback.

    So too a language we do not offer named in answer to the menu ("Français", "German",
    "Tagalog"), or a word or two that name a language we cannot tell ("in English",
    "Deutsch bitte"): the menu again, which shows what we do offer. Taken for feedback, it
    joined the item the menu followed, unanswered, or was told "a person will read it" in
    a language its writer had just said they do not read. Only the menu asks for a name.

    Number words count as numbers ("four"), and polite words are no answer ("4 please").
    A longer message is feedback, even one that names a language."""
    now = message.received_at
    menu_sent = contact.language_menu_sent_at if menu_open(contact, now) else None
    number = keywords.bare_number(payload.body)
    if not number and not (menu_sent is not None and names_a_language(payload.body)):
        return None
    asked = asked_about(contact, now) if number else None
    # accepted_at: set on every question ``asked_about`` finds (it reached Twilio).
    if asked is not None and (menu_sent is None or (asked[0].accepted_at or now) > menu_sent):
        question, item = asked
        owed = owe_message(
            key=f"rating_question:again:in:{message.id}",
            kind=MessageKind.RATING_QUESTION,
            contact=contact,
            channel=payload.channel,
            item=item,
            decision_id=question.decision_id,
            to_e164=payload.sender,
        )
    elif menu_sent is not None:
        contact.language_menu_sent_at = now
        owed = owe_message(
            key=f"language:again:in:{message.id}",
            kind=MessageKind.LANGUAGE_MENU,
            contact=contact,
            channel=payload.channel,
            to_e164=payload.sender,
            options=menu_options(),
        )
    else:
        return None
    return [owed] if owed else []


def names_a_language(body: str) -> bool:
    """``body`` names a language in answer to the menu and nothing else, polite words
    aside ("Deutsch", "French please"). Not a language's name with another word: "Polish
    shop" and "Welsh Water" are feedback, which the menu again would keep from staff."""
    return bool(named_languages(keywords.without_polite(body)))


def owe_keyword_reply(
    action: str, contact: Contact, message: InboundMessage, payload: InboundPayload
) -> list[int]:
    now = clock.now()
    org = current_app.config["ORG_NAME"]

    def reply(kind: str, **values: Any) -> int | None:
        return owe_message(
            key=f"{action}:in:{message.id}",
            kind=kind,
            contact=contact,
            channel=payload.channel,
            to_e164=payload.sender,
            **values,
        )

    opt_change = action in ("stop", "start")
    was_opted_out = contact.opted_out
    if opt_change and not apply_opt_change(contact, action == "stop", message.received_at):
        # The member sent a STOP or START after this one, and has had its answer: this
        # one's would contradict their latest word (or repeat it), so nothing is sent.
        log.info("inbound %s: a %s sent before the latest one, ignored", message.id, action)
        return []
    owed: int | None
    if action == "stop":
        owed = reply(MessageKind.STOP, org=org)
    elif action == "start" and was_opted_out:
        owed = reply(MessageKind.START)
        return ([owed] if owed else []) + owe_held_acknowledgements(contact, payload)
    elif action in ("start", "help"):
        # START from somebody who never stopped us has nothing to restart: "Welcome back"
        # would puzzle them. They get what HELP says: what we are, and the keywords.
        owed = reply(MessageKind.HELP, org=org)
    elif action == "language":
        contact.language_menu_sent_at = now
        owed = reply(MessageKind.LANGUAGE_MENU, options=menu_options())
    elif action == "forget":
        # The member's time, not the worker's: what they sent before it is erased too.
        owed = members.forget_and_confirm(
            contact, lambda: reply(MessageKind.FORGET), asked_at=message.received_at
        )
    else:  # pragma: no cover - keywords.match only returns known actions
        raise ValueError(action)
    return [owed] if owed else []


# Feedback that "a person will read": not yet told, nor closed.
READ_LATER = (ItemStatus.NEW, ItemStatus.TRIAGED, ItemStatus.LINKED, ItemStatus.REOPENED)


def owe_held_acknowledgements(contact: Contact, payload: InboundPayload) -> list[int]:
    """After START, the acknowledgement of each feedback of the member's that has none and
    is still open: sent while they were stopped, it was stored and not answered, and
    without it the next message about it ("About your feedback W3XB") would name a
    reference they never saw. After the START reply, on the channel they restarted on;
    never twice (the key is the acknowledgement's own). One owed before a STOP and
    cancelled by it is not owed again: the member had stopped us."""
    acknowledged = select(OutboundMessage.id).where(
        OutboundMessage.item_id == FeedbackItem.id,
        OutboundMessage.kind.in_(MessageKind.ACKNOWLEDGEMENTS),
    )
    items = db.session.scalars(
        select(FeedbackItem)
        .where(
            FeedbackItem.contact_id == contact.id,
            FeedbackItem.status.in_(READ_LATER),
            ~acknowledged.exists(),
        )
        .order_by(FeedbackItem.created_at, FeedbackItem.id)
    )
    owed = [owe_acknowledgement(item, contact, payload) for item in items]
    return [row for row in owed if row]


def owe_acknowledgement(
    item: FeedbackItem,
    contact: Contact,
    payload: InboundPayload,
    kind: str = MessageKind.ACK,
    status: str = OutboundStatus.PENDING,
) -> int | None:
    """Owe ``item``'s acknowledgement, with its reference and when the member hears next,
    to the sender of ``payload`` on its channel: once, whoever owes it (the key is the
    item's)."""
    return owe_message(
        key=f"ack:item:{item.id}",
        kind=kind,
        contact=contact,
        channel=payload.channel,
        item=item,
        to_e164=payload.sender,
        status=status,
        ref=item.ref,
        days=current_app.config["INTERIM_UPDATE_DAYS"],
    )
