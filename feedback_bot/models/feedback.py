"""What members send: inbound messages, their media, and the feedback items they form."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .. import clock
from ..extensions import db
from ..refs import encode_ref
from .contact import Contact
from .decision import Decision, Topic, item_topic
from .types import MEMBER_WORDS, UTCDateTime

if TYPE_CHECKING:
    from .translation import MessageTranslation


class Channel:
    SMS = "sms"
    WHATSAPP = "whatsapp"
    ALL = (SMS, WHATSAPP)


class ItemStatus:
    NEW = "new"
    TRIAGED = "triaged"
    LINKED = "linked"
    TOLD = "told"
    CLOSED = "closed"
    REOPENED = "reopened"  # the member answered "no" to "Did we listen?"


class Disposition:
    """What intake made of an inbound message."""

    # Stored by the webhook, not yet processed by the intake job (see ``intake``).
    RECEIVED = "received"
    FEEDBACK = "feedback"  # part of a feedback item
    KEYWORD = "keyword"  # STOP, HELP, LANGUAGE, ... handled, not feedback
    MENU_REPLY = "menu_reply"  # a number answering the language menu
    RATING = "rating"  # 1, 2 or 3 (or its words) answering "Did we listen?"
    # A number that answered no question while one waited, or a language we do not offer
    # named in answer to the language menu: the question went again.
    ASKED_AGAIN = "asked_again"
    # "Thanks" or an emoji answering a message of ours: kept with its item, not answered.
    COURTESY = "courtesy"
    NOT_OURS = "not_ours"  # sent to a number we do not run: kept for review, not answered
    INVALID_SENDER = "invalid_sender"  # not a phone number we could ever answer
    # Sent before a FORGET from the same number but processed after it: erased unread.
    FORGOTTEN = "forgotten"


class FeedbackItem(db.Model):  # type: ignore[name-defined]
    __tablename__ = "feedback_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    locale: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=ItemStatus.NEW, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
    last_message_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("decision.id"), index=True)
    # Why staff closed it as "no action", for staff: the member gets a set message in their
    # language instead (loop.close_no_action), as this text is in the staff language.
    closed_reason: Mapped[str | None] = mapped_column(Text)
    # The member's answer to "Did we listen?": yes, partly or no.
    rating: Mapped[str | None] = mapped_column(String(8))
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    told_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reopened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    interim_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    contact: Mapped[Contact | None] = relationship()
    decision: Mapped[Decision | None] = relationship()
    topics: Mapped[list[Topic]] = relationship(secondary=item_topic, order_by="Topic.name")
    messages: Mapped[list[InboundMessage]] = relationship(
        back_populates="item", order_by="InboundMessage.id"
    )

    @property
    def ref(self) -> str:
        return encode_ref(self.id)


class InboundMessage(db.Model):  # type: ignore[name-defined]
    __tablename__ = "inbound_message"
    __table_args__ = (
        # The sweeper's question, "which messages has no intake job processed yet?", stays
        # cheap however many messages are stored.
        Index(
            "ix_inbound_message_received",
            "id",
            postgresql_where=text("disposition = 'received'"),
            sqlite_where=text("disposition = 'received'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Twilio retries a webhook it thinks failed; the unique SID turns a retry into a no-op.
    message_sid: Mapped[str] = mapped_column(String(64), unique=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id"), index=True)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("feedback_item.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    # The number of ours it was sent to (not personal data).
    to_address: Mapped[str] = mapped_column(String(64))
    body: Mapped[str | None] = mapped_column(Text, info={MEMBER_WORDS: True})
    num_media: Mapped[int] = mapped_column(Integer, default=0)
    disposition: Mapped[str] = mapped_column(String(16))
    # The language of the message itself (not its writer's): "und" for a sentence in none we
    # could place (``messaging.language.UNRECOGNISED``), None when too short to tell.
    detected_locale: Mapped[str | None] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Twilio's parameters, encrypted (they hold the sender's number), from when the webhook
    # stores a message until the intake job has processed it; then cleared.
    pending_payload: Mapped[str | None] = mapped_column(Text)
    # The sender's keyed hash (as ``Contact.phone_hash``) for as long as ``pending_payload``:
    # the intake job finds by it the sender's earlier messages still waiting, and processes
    # those first (``intake.waiting_before``).
    sender_hash: Mapped[str | None] = mapped_column(String(64), index=True)

    item: Mapped[FeedbackItem | None] = relationship(back_populates="messages")
    media: Mapped[list[InboundMedia]] = relationship(
        back_populates="message", order_by="InboundMedia.position", cascade="all, delete-orphan"
    )
    translations: Mapped[list[MessageTranslation]] = relationship(
        back_populates="message", order_by="MessageTranslation.locale", cascade="all, delete-orphan"
    )

    @property
    def writer_region(self) -> str | None:
        """The region of the member's number: a number they typed is written the way
        numbers are there ("07911 123456" is British), and found by it (``MEMBER_WORDS``)."""
        contact = self.item.contact if self.item is not None else None
        return contact.region if contact is not None else None


class InboundMedia(db.Model):  # type: ignore[name-defined]
    """A photo or voice note as Twilio described it; the file is fetched by a job."""

    __tablename__ = "inbound_media"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("inbound_message.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(128))
    source_url: Mapped[str | None] = mapped_column(Text)
    storage_path: Mapped[str | None] = mapped_column(Text)
    size_bytes: Mapped[int | None] = mapped_column(Integer)
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fetch_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # When the sweeper should try again; NULL once fetched or given up.
    next_fetch_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    fetch_error: Mapped[str | None] = mapped_column(Text)

    message: Mapped[InboundMessage] = relationship(back_populates="media")
