"""What FORGET still owes outside our database: Twilio's own copy of each message."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .. import clock
from ..extensions import db
from .types import UTCDateTime


class TwilioErasure(db.Model):  # type: ignore[name-defined]
    """A message (and its media) to delete from Twilio's logs, owed in the commit of the
    FORGET and retried until Twilio has deleted it: Twilio refuses while a message is
    still on its way (error 20009), for minutes or, rarely, days.

    Only the message's SID: Twilio's record is the only place it leads, and once that is
    deleted it leads nowhere.
    """

    __tablename__ = "twilio_erasure"

    id: Mapped[int] = mapped_column(primary_key=True)
    sid: Mapped[str] = mapped_column(String(64), unique=True)
    owed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # When to try next; None once done or given up.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Twilio's error code of the last refusal (codes only: Twilio's texts may hold numbers).
    last_error: Mapped[str | None] = mapped_column(String(32))
