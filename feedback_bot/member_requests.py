"""A member's request to stop messages or be forgotten, asked in their own words and carried
out by staff.

Texting STOP or FORGET works in every language a catalogue lists, and in the phrases people
use (``messaging.keywords``). A member who asks another way ("I'm moving, take me off your
list", or in a language we do not offer) asks just as clearly, and their request is in
their feedback, where staff read it. Staff act for them from the feedback's page; the effect
is the keyword's, and so is the reply, in the member's language: a STOP's confirmation says
how to come back, a FORGET's is our last message.

Each action holds the member's row lock, as intake does while it applies a keyword, so a
STOP, START or FORGET the member texts meanwhile is applied before or after, never half.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from flask import current_app
from sqlalchemy import func, select

from . import clock, members
from .extensions import db
from .intake import apply_opt_change
from .messaging.pacing import quiet_until
from .models import Channel, Contact, FeedbackItem, InboundMessage, MessageKind
from .outbox import owe_message
from .privacy import vault
from .whatsapp.window import window_open


class Outcome(Enum):
    DONE = "done"
    ALREADY = "already"  # opted out already, or forgotten already
    FORGOTTEN = "forgotten"  # nobody to stop: they asked to be forgotten
    STARTED_SINCE = "started since"  # they texted START after this feedback


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    # The confirmation owed to the member; None when nothing can reach them (below).
    owed: int | None = None
    # When the START that stands came, for STARTED_SINCE.
    started_at: datetime | None = None
    # When the confirmation goes, if not at once (night where the member is).
    held_until: datetime | None = None


def reply_channel(contact: Contact, channel: str, now: datetime) -> str | None:
    """The channel the confirmation can go by: the feedback's, unless it is WhatsApp and
    the member last wrote there more than a day ago. A WhatsApp message then needs an
    approved template, and a STOP's or FORGET's confirmation has none (it answers the
    member, and a reply to a keyword is always inside the window): SMS if they have
    written by SMS, else it cannot go, and waiting for it would keep their number."""
    if channel != Channel.WHATSAPP or window_open(contact, now):
        return channel
    return Channel.SMS if contact.uses_sms else None


def stop(item: FeedbackItem) -> Result:
    """Stop messages to the member of ``item``, as if they had texted STOP when they last
    wrote on it. The caller commits, then enqueues ``owed``.

    A START sent after that message wins, as it would over the STOP itself: the member's
    latest word stands (``intake.apply_opt_change``).
    """
    contact = _locked_contact(item)
    if contact.forgotten:
        return Result(Outcome.FORGOTTEN)
    if contact.opted_out:
        return Result(Outcome.ALREADY)
    asked_at = _last_written(item)
    if not apply_opt_change(contact, True, asked_at):
        return Result(Outcome.STARTED_SINCE, started_at=contact.opt_changed_at)
    now = clock.now()
    channel = reply_channel(contact, item.channel, now)
    if channel is None:
        return Result(Outcome.DONE)
    held_until = stop_confirmation_held_until(contact, now)
    owed = owe_message(
        key=f"stop:staff:{contact.id}:{now.isoformat()}",
        kind=MessageKind.STOP,
        contact=contact,
        channel=channel,
        item=item,
        not_before=held_until,
        org=current_app.config["ORG_NAME"],
    )
    return Result(Outcome.DONE, owed, held_until=held_until if owed is not None else None)


def stop_confirmation_held_until(contact: Contact, now: datetime) -> datetime | None:
    """When quiet hours end for the member, if it is night where they are now.

    A STOP's confirmation goes at once when it answers the member's STOP: they are
    waiting for it. Done by staff, hours or days after the member asked, it is a message
    out of the blue, and waits for the morning like every other such message. A FORGET's
    does not wait: it is the last use of a number we have been asked to erase.
    """
    if contact.phone_ciphertext is None:
        return None
    return quiet_until(vault().decrypt(contact.phone_ciphertext), now)


def forget(item: FeedbackItem) -> Result:
    """Erase the member of ``item`` as a FORGET would (``members.forget``): their number,
    and the text and media of every message they sent until now, here and at Twilio. The
    caller commits, then enqueues ``owed``."""
    contact = _locked_contact(item)
    if contact.forgotten:
        return Result(Outcome.ALREADY)
    now = clock.now()
    channel = reply_channel(contact, item.channel, now)

    def confirmation() -> int | None:
        if channel is None:
            return None
        return owe_message(
            key=f"forget:staff:{contact.id}",
            kind=MessageKind.FORGET,
            contact=contact,
            channel=channel,
        )

    # Now, not when they asked: what they sent up to this moment, and any message of theirs
    # not processed yet, goes too.
    owed = members.forget_and_confirm(contact, confirmation, asked_at=now)
    return Result(Outcome.DONE, owed)


def _locked_contact(item: FeedbackItem) -> Contact:
    contact = item.contact
    if contact is None:  # pragma: no cover - every item has its member
        raise ValueError(f"item {item.id} has no member")
    members.lock(contact)
    return contact


def _last_written(item: FeedbackItem) -> datetime:
    """When the member last wrote on ``item``: their request is in one of its messages."""
    last = db.session.scalar(
        select(func.max(InboundMessage.received_at)).where(InboundMessage.item_id == item.id)
    )
    return last or item.created_at
