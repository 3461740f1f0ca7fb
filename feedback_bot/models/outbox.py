"""The outbox: every message we owe a member, and what Twilio told us about it.

A row is the truth about a message; the RQ job that sends it is only a wake-up call. The
sweeper re-enqueues any row the queue lost, so losing Redis loses nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .. import clock
from ..extensions import db
from .contact import Contact
from .feedback import FeedbackItem
from .types import UTCDateTime


class OutboundStatus:
    PENDING = "pending"  # waiting for a worker (maybe until next_attempt_at)
    SENDING = "sending"  # a worker claimed it and is talking to Twilio
    QUEUED = "queued"  # Twilio accepted it
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"  # WhatsApp only
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    CANCELLED = "cancelled"  # never sent on purpose (opted out, forgotten)
    # WhatsApp outside the 24-hour window, no approved template for this message in this
    # language and no SMS route: waits, visibly, until an admin adds the template.
    NEEDS_TEMPLATE = "needs_template"

    # Status callbacks only ever move a row forward through these ranks.
    RANK = {
        PENDING: 0,
        SENDING: 1,
        QUEUED: 2,
        SENT: 3,
        DELIVERED: 4,
        UNDELIVERED: 4,
        FAILED: 4,
        READ: 5,
    }
    ACCEPTED_BY_TWILIO = (QUEUED, SENT, DELIVERED, READ, UNDELIVERED)
    OPEN = (PENDING, SENDING)


class MessageKind:
    ACK = "ack"
    ACK_INLINE = "ack_inline"
    ACK_PHOTO = "ack_photo"
    ACK_VOICE = "ack_voice"
    HELP = "help"
    STOP = "stop"
    START = "start"
    LANGUAGE_MENU = "language_menu"
    LANGUAGE_SET = "language_set"
    FORGET = "forget"
    WHAT_NEXT = "what_next"
    WHAT_NEXT_UPDATE = "what_next_update"
    RATING_QUESTION = "rating_question"
    RATING_THANKS = "rating_thanks"
    RATING_REOPENED = "rating_reopened"
    INTERIM = "interim"
    # Staff closed the feedback as "no action": we read it and are not taking it further.
    CLOSED_NO_ACTION = "closed_no_action"

    # Not answers to something the member just sent: these wait out quiet hours and go
    # through the bulk queue.
    UNPROMPTED = (WHAT_NEXT, WHAT_NEXT_UPDATE, RATING_QUESTION, INTERIM, CLOSED_NO_ACTION)

    # Each way an item is acknowledged: at most one of them per item ("ack:item:42").
    ACKNOWLEDGEMENTS = (ACK, ACK_INLINE, ACK_PHOTO, ACK_VOICE)

    # Sent even to a member who opted out: they confirm just that, or answer HELP, which
    # carriers require to work always.
    SENT_WHEN_OPTED_OUT = (STOP, FORGET, HELP)


class OutboundMessage(db.Model):  # type: ignore[name-defined]
    __tablename__ = "outbound_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    # One row per thing we owe: "ack:item:42". Re-running any step cannot owe it twice.
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id"), index=True)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("feedback_item.id"), index=True)
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("decision.id"), index=True)
    # Which revision of the decision a "what happened next" row tells (a follow-up, like an
    # SMS fallback, carries the revision of the row it follows).
    decision_revision: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    locale: Mapped[str] = mapped_column(String(16))
    body: Mapped[str | None] = mapped_column(Text)
    # The values the body was rendered with: WhatsApp templates and SMS fallbacks are
    # filled from exactly the same content.
    variables: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    # Set when the row goes out as an approved WhatsApp template instead of free text.
    content_sid: Mapped[str | None] = mapped_column(String(64))
    # An SMS sent because this WhatsApp row was not delivered points back to it.
    fallback_of_id: Mapped[int | None] = mapped_column(ForeignKey("outbound_message.id"))
    # Why the row left its usual path (a template, SMS instead of WhatsApp), kept for staff.
    routing_note: Mapped[str | None] = mapped_column(Text)
    # The destination, encrypted, kept on the row so that the confirmation of a FORGET can
    # still be sent after the contact's number is erased; cleared once the row is final.
    to_ciphertext: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=OutboundStatus.PENDING, index=True)
    twilio_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sending_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when an attempt ended without knowing whether Twilio took the message (timeout,
    # dropped connection, worker killed). The next attempt first asks Twilio for messages
    # to this member since then, so that doubt never turns into a duplicate.
    unconfirmed_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error_code: Mapped[str | None] = mapped_column(String(16))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, onupdate=clock.now)

    contact: Mapped[Contact | None] = relationship()
    item: Mapped[FeedbackItem | None] = relationship()


class DeliveryEvent(db.Model):  # type: ignore[name-defined]
    """Every status callback as received.

    A callback can overtake the commit that stores the SID it names; keeping the event
    lets the send job apply it afterwards instead of dropping it.
    """

    __tablename__ = "delivery_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    twilio_sid: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class WhatsAppTemplate(db.Model):  # type: ignore[name-defined]
    """An approved WhatsApp template (Twilio Content API) for one kind of message and language.

    Its variables are the message's placeholders in order: for "what_next"
    ("About your feedback %(ref)s: %(summary)s") {{1}} is the reference, {{2}} the summary.
    """

    __tablename__ = "whatsapp_template"
    __table_args__ = (UniqueConstraint("kind", "locale"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    locale: Mapped[str] = mapped_column(String(16))
    content_sid: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, onupdate=clock.now)
