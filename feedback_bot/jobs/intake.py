"""The intake job: process a message the webhook stored, then send what it owes."""

from __future__ import annotations

import logging

from ..extensions import db
from ..intake import process_stored, waiting_before
from ..loop import fan_out_for_member
from . import enqueue_media
from .send import send_outbound

log = logging.getLogger(__name__)


def process_inbound(inbound_id: int) -> str:
    """Process stored message ``inbound_id`` and send what it owes. Idempotent.

    The sender's earlier messages still waiting are processed first, each in its own
    transaction, as their own jobs would (``intake.waiting_before``). One that fails is
    left to its own job and the sweeper: it must not hold back the member's later ones.
    """
    earlier = waiting_before(inbound_id)
    if earlier:
        db.session.rollback()  # end the read; each message below locks its own row
    for earlier_id in earlier:
        try:
            outcome = process_alone(earlier_id)
        except Exception:
            log.exception(
                "inbound %s: processing its sender's earlier %s failed", inbound_id, earlier_id
            )
        else:
            log.info("inbound %s: earlier %s first: %s", inbound_id, earlier_id, outcome)
    return process_alone(inbound_id)


def process_alone(inbound_id: int) -> str:
    """Process stored message ``inbound_id`` and send what it owes, whatever its sender's
    earlier messages are doing. Idempotent."""
    try:
        result = process_stored(inbound_id)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    if result.duplicate:
        return "already processed"
    if result.switched_language is not None:
        fan_out_for_member(result.switched_language)
    enqueue_media(result.media_ids)
    # Send the reply from this job rather than a job of its own: one queue round trip less
    # between a member's message and our answer. The row is committed and pending, so if
    # this worker dies here the sweeper sends it, and the claim means it goes only once.
    outcomes = [send_outbound(row_id) for row_id in result.owed]
    log.info("inbound %s processed: %s", inbound_id, result.disposition)
    return "; ".join(outcomes) or (result.disposition or "processed")
