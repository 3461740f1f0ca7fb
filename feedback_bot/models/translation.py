"""Interpreters' work: feedback in the staff language, and message templates in members'."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .. import clock
from ..extensions import db
from .decision import ReviewState
from .feedback import InboundMessage
from .types import MEMBER_WORDS, UTCDateTime


class MessageTranslation(db.Model):  # type: ignore[name-defined]
    """A member's message (or the transcript of their voice note) in another language."""

    __tablename__ = "message_translation"
    __table_args__ = (UniqueConstraint("message_id", "locale"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("inbound_message.id", ondelete="CASCADE"), index=True
    )
    locale: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text, info={MEMBER_WORDS: True})
    # For a voice note: what was said, in the member's own language.
    transcript: Mapped[str | None] = mapped_column(Text, info={MEMBER_WORDS: True})
    # A machine draft stays a draft until an interpreter confirms it.
    machine_draft: Mapped[bool] = mapped_column(default=False)
    state: Mapped[str] = mapped_column(String(16), default=ReviewState.DRAFT)
    translated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, onupdate=clock.now)

    message: Mapped[InboundMessage] = relationship(back_populates="translations")

    @property
    def writer_region(self) -> str | None:
        """The region of the member whose words these are (``MEMBER_WORDS``)."""
        return self.message.writer_region


class MessageOverride(db.Model):  # type: ignore[name-defined]
    """An interpreter's version of a catalogue entry; it wins over the shipped .po file.

    Stored in the database so that an edit reaches every web and worker process at once,
    without a restart or a file written on a running server.
    """

    __tablename__ = "message_override"
    __table_args__ = (UniqueConstraint("locale", "context", "msgid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    locale: Mapped[str] = mapped_column(String(16))
    context: Mapped[str] = mapped_column(String(32), default="")
    msgid: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default=ReviewState.NEEDS_REVIEW)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, onupdate=clock.now)
