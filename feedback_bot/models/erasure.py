"""What FORGET still owes outside our database: Twilio's own copy of each message, and a
search for the copies whose SIDs we never learned."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
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


class TwilioSearch(db.Model):  # type: ignore[name-defined]
    """A search of Twilio's logs, owed in the commit of a FORGET, for the messages sent to
    the member whose SIDs we never learned: the acknowledgement Twilio made from our TwiML
    during a database outage, and the replies Twilio's Advanced Opt-Out sent itself. Each
    one found is owed a deletion (``TwilioErasure``).

    It keeps the number, encrypted as the contact had it, until the search is done or
    given up: finding what still holds the number is the one thing it is kept for.
    """

    __tablename__ = "twilio_search"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The member's E.164 number, encrypted; None once searched (or given up).
    address_ciphertext: Mapped[str | None] = mapped_column(Text)
    # When the FORGET was processed: a message Twilio made later is somebody new's (the
    # number may write again at once), and is left alone.
    owed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # When to try next; None once done or given up.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    searched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # How many messages the search found (each owed a deletion unless owed already).
    found: Mapped[int | None] = mapped_column(Integer)
    # Twilio's error code of the last failure (codes only: Twilio's texts may hold numbers).
    last_error: Mapped[str | None] = mapped_column(String(32))
