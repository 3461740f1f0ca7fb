"""A member: one phone number, kept encrypted, found by a keyed hash."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .. import clock
from ..extensions import db
from .types import UTCDateTime


class LocaleSource:
    DETECTED = "detected"
    COUNTRY = "country"
    DEFAULT = "default"
    CHOSEN = "chosen"


class Contact(db.Model):  # type: ignore[name-defined]
    __tablename__ = "contact"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Keyed hash of the E.164 number: lookups without decrypting. NULL once forgotten, so a
    # later text from the same phone starts afresh as somebody new.
    phone_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    phone_ciphertext: Mapped[str | None] = mapped_column(Text)
    # ISO 3166 region of the number: language fallback and local time for quiet hours.
    region: Mapped[str | None] = mapped_column(String(2))
    locale: Mapped[str] = mapped_column(String(16))
    locale_source: Mapped[str] = mapped_column(String(16))
    uses_sms: Mapped[bool] = mapped_column(Boolean, default=False)
    uses_whatsapp: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    whatsapp_last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    language_menu_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the member sent the STOP or START that set opted_out_at: intake jobs can run out
    # of order, and a keyword sent before the one already applied must not undo it.
    opt_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    forgotten_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def label(self) -> str:
        """A pseudonym staff can use without seeing the number."""
        return self.label_of(self.id)

    @staticmethod
    def label_of(contact_id: int) -> str:
        """The pseudonym of the contact with this id, without loading it."""
        from ..refs import encode_ref

        return f"Member {encode_ref(contact_id, salt=7)}"

    @property
    def opted_out(self) -> bool:
        return self.opted_out_at is not None

    @property
    def forgotten(self) -> bool:
        return self.forgotten_at is not None


class ForgottenNumber(db.Model):  # type: ignore[name-defined]
    """A number that asked to be forgotten, for as long as a message it sent before asking
    may still wait for its intake job (see ``members.forget_expired``).

    Only the keyed hash of the number and the time of the FORGET, nothing else: enough for
    intake to erase such a message instead of making it a new member, no way back to the
    number without the hash key, and no link to the forgotten contact or their feedback.
    """

    __tablename__ = "forgotten_number"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Not unique: a member may write again after FORGET, then ask again.
    phone_hash: Mapped[str] = mapped_column(String(64), index=True)
    # When the FORGET was received (the member's time, like ``InboundMessage.received_at``).
    forgot_at: Mapped[datetime] = mapped_column(UTCDateTime)
