"""Closing the loop: decisions reach every member who gave feedback, in their language.

Service functions used by the panel. Each commits its own change and only then enqueues,
so a job can never look for a row that is not there yet. The fan-out itself is a job
(``notify_decision``) whose every message has its own idempotency key: publishing twice,
or a worker killed mid-publish, never sends anybody two copies. The decision counts the
fan-outs it owes (``owe_fan_out``) in the same commit as the change that owes them, so a
job lost with Redis or a killed worker is run again by the sweeper, not forgotten.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, or_, select, update

from . import clock
from .extensions import db
from .models import (
    Contact,
    Decision,
    FeedbackItem,
    ItemStatus,
    MessageKind,
    OutboundMessage,
    OutboundStatus,
    ReviewState,
)
from .outbox import outbox_row, owe_message, owe_messages, rowcount

log = logging.getLogger(__name__)

FAN_OUT_BATCH = 500
WHAT_NEXT_KINDS = (MessageKind.WHAT_NEXT, MessageKind.WHAT_NEXT_UPDATE)


def link(decision: Decision, items: list[FeedbackItem]) -> None:
    for item in items:
        item.decision_id = decision.id
        if item.status in (ItemStatus.NEW, ItemStatus.TRIAGED, ItemStatus.REOPENED):
            item.status = ItemStatus.LINKED
    if decision.published:
        owe_fan_out(decision)
    db.session.commit()
    if decision.published:
        schedule_fan_out(decision)


def publish(decision: Decision) -> None:
    if decision.published_at is None:
        decision.published_at = clock.now()
    owe_fan_out(decision)
    db.session.commit()
    schedule_fan_out(decision)


def update_outcome(decision: Decision, notify_told: bool, summary_changed: bool = False) -> None:
    """Save an edit to a published decision; optionally tell those already told.

    A changed summary makes its translations outdated: members in those languages wait for
    a fresh translation rather than get the old text framed as an update.
    """
    if summary_changed:
        mark_translations_outdated(decision)
    if notify_told and decision.published:
        decision.revision += 1
        owe_fan_out(decision)
    db.session.commit()
    if notify_told and decision.published:
        schedule_fan_out(decision)


def mark_translations_outdated(decision: Decision) -> None:
    for translation in decision.translations:
        translation.state = ReviewState.OUTDATED


def close_no_action(item: FeedbackItem, reason: str) -> None:
    item.status = ItemStatus.CLOSED
    item.closed_reason = reason
    db.session.commit()


def owe_fan_out(decision: Decision) -> None:
    """Count, in the caller's transaction, that the members of ``decision`` may be owed a
    message; the caller commits, then calls ``schedule_fan_out``."""
    if decision.id is None:  # not inserted yet
        decision.fan_out_requests = 1
    else:
        # In SQL, so that two staff saving at once both count.
        decision.fan_out_requests = Decision.fan_out_requests + 1
    decision.fan_out_requested_at = clock.now()


def schedule_fan_out(decision: Decision) -> None:
    """Enqueue the fan-out that ``owe_fan_out`` recorded (committed already). Never raises:
    if Redis is down, the sweeper enqueues it later."""
    from .jobs import enqueue_fan_out

    enqueue_fan_out(decision.id, decision.revision, decision.fan_out_requests)


def unfinished_fan_outs(limit: int, older_than: timedelta) -> list[tuple[int, int, int]]:
    """(decision id, revision, requests) of published decisions with a fan-out requested
    ``older_than`` ago that no run has finished since, for the sweeper."""
    rows = db.session.execute(
        select(Decision.id, Decision.revision, Decision.fan_out_requests)
        .where(
            Decision.published_at.is_not(None),
            Decision.fan_out_done < Decision.fan_out_requests,
            Decision.fan_out_requested_at <= clock.now() - older_than,
        )
        .order_by(Decision.id)
        .limit(limit)
    ).all()
    return [(decision_id, revision, requests) for decision_id, revision, requests in rows]


def notify_decision(decision_id: int, revision: int = 0) -> int:
    """Owe "what happened next" to every linked member who has not had it. Idempotent.

    Members whose language has no translated summary yet are skipped: they show as
    "awaiting translation" and are picked up when the translation is saved.
    """
    decision = db.session.get(Decision, decision_id)
    if decision is None:
        return 0
    # Every request counted before this run started is served by it.
    requests = decision.fan_out_requests
    owed = _owe_what_next(decision, revision) if decision.published else 0
    db.session.execute(
        update(Decision)
        .where(Decision.id == decision_id, Decision.fan_out_done < requests)
        .values(fan_out_done=requests)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return owed


def _owe_what_next(decision: Decision, revision: int) -> int:
    from .jobs import enqueue_send

    decision_id = decision.id
    staff_locale = current_app.config["STAFF_LOCALE"]
    owed_total = 0
    last_id = 0
    while True:
        batch = db.session.execute(
            select(FeedbackItem, Contact)
            .join(Contact, FeedbackItem.contact_id == Contact.id)
            .where(FeedbackItem.decision_id == decision_id, FeedbackItem.id > last_id)
            .order_by(FeedbackItem.id)
            .limit(FAN_OUT_BATCH)
        ).all()
        if not batch:
            break
        last_id = batch[-1][0].id
        # A job queued for an older revision, run late (or still running when staff sent an
        # update), tells the current one: the old text is gone, and the newer revision's
        # own job would otherwise send the same text again as "an update".
        revision = max(revision, decision.revision)
        due = _to_tell(decision, revision, batch, staff_locale)
        due_ids = [item.id for item, _, _ in due]
        _cancel_superseded(decision_id, revision, due_ids)
        # Read again after cancelling: the kind depends on what the member is still owed.
        earlier = _revisions_owed(decision_id, due_ids)
        rows = []
        for item, contact, summary in due:
            revisions = earlier.get(item.id, ())
            if any(owed >= revision for owed in revisions):
                continue  # another run of this fan-out owed it meanwhile
            # "An update" only for members owed an earlier version; anyone else hears of
            # the decision for the first time, whenever that is (linked after an update,
            # a translation that came later, a fan-out lost and run again, an earlier
            # version cancelled before it went).
            kind = MessageKind.WHAT_NEXT_UPDATE if revisions else MessageKind.WHAT_NEXT
            row = outbox_row(
                key=what_next_key(kind, decision_id, revision, item.id),
                kind=kind,
                contact=contact,
                channel=item.channel,
                item=item,
                decision_id=decision_id,
                decision_revision=revision,
                ref=item.ref,
                summary=summary,
            )
            if row is not None:
                rows.append(row)
        # One INSERT per batch; keys already owed (a second run of this job) are skipped.
        owed = owe_messages(rows)
        db.session.commit()
        enqueue_send(owed, bulk=True)
        owed_total += len(owed)
    log.info("decision %s r%s: %s messages owed", decision_id, revision, owed_total)
    return owed_total


def _to_tell(
    decision: Decision,
    revision: int,
    batch: Sequence[tuple[FeedbackItem, Contact]],
    staff_locale: str,
) -> list[tuple[FeedbackItem, Contact, str]]:
    """The items of ``batch`` whose members are owed ``revision`` now, each with the summary
    in its member's language."""
    earlier = _revisions_owed(decision.id, [item.id for item, _ in batch])
    due = []
    for item, contact in batch:
        if contact.forgotten or contact.opted_out:
            continue
        if any(owed >= revision for owed in earlier.get(item.id, ())):
            continue  # owed this revision already, or a newer one (a stale job)
        summary = decision.summary_in(contact.locale, staff_locale)
        if summary is None:
            continue  # waits for a translation, and keeps any older message meanwhile
        due.append((item, contact, summary))
    return due


def _cancel_superseded(decision_id: int, revision: int, item_ids: list[int]) -> int:
    """Cancel the items' "what happened next" messages of older revisions that have not
    gone yet: the member would get the old text and, right after it, the update.

    Only rows that cannot have reached Twilio, in one compare-and-set against ``claim``:
    a row a worker holds ("sending"), or one an earlier attempt left in doubt
    (``unconfirmed_since``), may reach the member whatever we do, so it stays and still
    counts as owed ("an update" follows it); a row cancelled here can no longer be
    claimed. The caller commits, with the rows that replace these in the same transaction.
    """
    if not item_ids:
        return 0
    return rowcount(
        update(OutboundMessage)
        .where(
            OutboundMessage.decision_id == decision_id,
            OutboundMessage.item_id.in_(item_ids),
            OutboundMessage.kind.in_(WHAT_NEXT_KINDS),
            OutboundMessage.decision_revision < revision,
            OutboundMessage.status.in_((OutboundStatus.PENDING, OutboundStatus.NEEDS_TEMPLATE)),
            OutboundMessage.unconfirmed_since.is_(None),
        )
        .values(
            status=OutboundStatus.CANCELLED,
            error_code="cancelled",
            error_message=f"superseded by revision {revision} before it was sent",
            to_ciphertext=None,  # final: the number is not kept where it is not needed
            updated_at=clock.now(),
        )
        .execution_options(synchronize_session=False)
    )


def what_next_key(kind: str, decision_id: int, revision: int, item_id: int) -> str:
    """The idempotency key of ``kind`` ("what happened next" or its update) for one item
    and revision of a decision. The revision is also kept in its own column: follow-ups of
    the message (an SMS fallback) have keys of their own."""
    return f"{kind}:decision:{decision_id}:r{revision}:item:{item_id}"


def _revisions_owed(decision_id: int, item_ids: list[int]) -> dict[int, list[int]]:
    """For each item, the revisions of ``decision_id`` it has been owed "what happened next"
    for, by a message (or a follow-up of one) that has not failed or been cancelled."""
    rows = db.session.execute(
        select(OutboundMessage.item_id, OutboundMessage.decision_revision).where(
            OutboundMessage.decision_id == decision_id,
            OutboundMessage.item_id.in_(item_ids),
            OutboundMessage.kind.in_(WHAT_NEXT_KINDS),
            OutboundMessage.status.not_in((OutboundStatus.FAILED, OutboundStatus.CANCELLED)),
        )
    ).all()
    owed: dict[int, list[int]] = {}
    for item_id, revision in rows:
        if item_id is not None:
            # None only on a row from before the column that migration 0010 could not
            # date. It told some version; counting it as the first never sends the first
            # twice (at worst the next one says "an update").
            owed.setdefault(item_id, []).append(revision or 0)
    return owed


def leads_somewhere(kind: str) -> bool:
    """Whether a message of ``kind``, once accepted, owes more (see ``record_told``)."""
    return kind in WHAT_NEXT_KINDS


def record_told(row: OutboundMessage) -> list[int]:
    """What "what happened next", accepted by Twilio, leads to: the item is told, and its
    member owed the rating question. Returns outbox rows to enqueue once the caller, who
    records the acceptance in the same transaction, has committed."""
    if not leads_somewhere(row.kind) or not row.item_id:
        return []
    item = db.session.get(FeedbackItem, row.item_id)
    if item is None:
        return []
    if item.status == ItemStatus.LINKED:
        item.status = ItemStatus.TOLD
    item.told_at = item.told_at or clock.now()
    owed = None
    contact = db.session.get(Contact, item.contact_id) if item.contact_id else None
    if row.kind == MessageKind.WHAT_NEXT and contact is not None and not contact.forgotten:
        # Keyed per decision: an item reopened and linked to another decision is asked
        # again, and ``rating_item`` credits the answer to the question, not to ``told_at``.
        owed = owe_message(
            key=f"rating_question:decision:{row.decision_id}:item:{item.id}",
            kind=MessageKind.RATING_QUESTION,
            contact=contact,
            channel=item.channel,
            item=item,
            decision_id=row.decision_id,
        )
    return [owed] if owed else []


RATINGS = {1: "yes", 2: "partly", 3: "no"}


def rating_item(contact: Contact, body: str, now: datetime) -> tuple[FeedbackItem, str] | None:
    """The item a bare "1", "2" or "3" rates, if the member was asked recently."""
    text = body.strip().rstrip(".")
    # isdecimal, not isdigit: "²" is a digit that int() cannot read.
    if len(text) != 1 or not text.isdecimal() or int(text) not in RATINGS:
        return None
    item = _asked_about(contact, now)
    return (item, RATINGS[int(text)]) if item is not None else None


def _asked_about(contact: Contact, now: datetime) -> FeedbackItem | None:
    """The item of the latest "Did we listen?" asked of ``contact`` within
    RATING_REPLY_DAYS of ``now`` that they have not answered since it was asked.

    Found from the questions, not from the item's ``told_at`` and ``rating``: an item rated
    "no" (reopened) and then told of another decision is asked again (``record_told``),
    yet keeps its first ``told_at`` (when the member first heard back, for the dashboard)
    and its old rating until the new answer replaces it. The old answer is not lost: it
    stays as the member's message, with the reopening in ``reopened_at``.
    """
    days = current_app.config["RATING_REPLY_DAYS"]
    return db.session.scalars(
        select(FeedbackItem)
        .join(OutboundMessage, OutboundMessage.item_id == FeedbackItem.id)
        .where(
            OutboundMessage.contact_id == contact.id,
            OutboundMessage.kind == MessageKind.RATING_QUESTION,
            OutboundMessage.created_at >= now - timedelta(days=days),
            or_(
                FeedbackItem.rated_at.is_(None),
                FeedbackItem.rated_at < OutboundMessage.created_at,
            ),
        )
        .order_by(OutboundMessage.created_at.desc(), OutboundMessage.id.desc())
        .limit(1)
    ).first()


def record_rating(item: FeedbackItem, rating: str, now: datetime) -> str:
    """Store the rating; a "no" reopens the item for staff. Returns the reply's kind."""
    item.rating = rating
    item.rated_at = now
    if rating == "no":
        item.status = ItemStatus.REOPENED
        item.reopened_at = now
        return MessageKind.RATING_REOPENED
    return MessageKind.RATING_THANKS


# Items still waiting to hear what happened: not yet linked to a decision, or reopened by
# the member's "no" (a reopened item keeps the decision it was linked to).
WAITING = (ItemStatus.NEW, ItemStatus.TRIAGED, ItemStatus.REOPENED)


def awaits_decision(item: FeedbackItem) -> bool:
    """Whether ``item``'s member is still waiting to hear what happened (see ``WAITING``)."""
    return item.status in WAITING and (
        item.decision_id is None or item.status == ItemStatus.REOPENED
    )


def owe_interim_updates(limit: int = 500) -> int:
    """Nobody waits in silence: one update per INTERIM_UPDATE_DAYS without a decision,
    counted from when the item came in, or from when the member reopened it."""
    from .jobs import enqueue_send

    now = clock.now()
    period = timedelta(days=current_app.config["INTERIM_UPDATE_DAYS"])
    stale = now - period
    waiting_since = func.coalesce(FeedbackItem.reopened_at, FeedbackItem.created_at)
    waiting = db.session.execute(
        select(FeedbackItem, Contact)
        .join(Contact, FeedbackItem.contact_id == Contact.id)
        .where(
            FeedbackItem.status.in_(WAITING),
            or_(
                FeedbackItem.decision_id.is_(None),
                FeedbackItem.status == ItemStatus.REOPENED,
            ),
            waiting_since <= stale,
            or_(
                FeedbackItem.interim_sent_at.is_(None), FeedbackItem.interim_sent_at <= now - period
            ),
            Contact.forgotten_at.is_(None),
            Contact.opted_out_at.is_(None),
        )
        .limit(limit)
    ).all()
    owed = []
    for item, contact in waiting:
        row_id = owe_message(
            key=interim_key(item, now, period),
            kind=MessageKind.INTERIM,
            contact=contact,
            channel=item.channel,
            item=item,
            ref=item.ref,
        )
        item.interim_sent_at = now
        if row_id is not None:
            owed.append(row_id)
    db.session.commit()
    enqueue_send(owed, bulk=True)
    return len(owed)


def interim_key(item: FeedbackItem, now: datetime, period: timedelta) -> str:
    """One interim update per period of waiting; a reopened item's periods count afresh."""
    if item.status == ItemStatus.REOPENED and item.reopened_at is not None:
        periods = int((now - item.reopened_at) / period)
        return f"interim:item:{item.id}:reopened:{item.reopened_at:%Y%m%dT%H%M%S}:{periods}"
    return f"interim:item:{item.id}:{int((now - item.created_at) / period)}"


def progress(decision: Decision) -> dict[str, int]:
    """Where the decision's "what happened next" messages are, for the panel."""
    counts: Counter[str] = Counter()
    rows = db.session.execute(
        select(OutboundMessage.status, OutboundMessage.next_attempt_at, func.count())
        .where(
            OutboundMessage.decision_id == decision.id,
            OutboundMessage.kind.in_(WHAT_NEXT_KINDS),
        )
        .group_by(OutboundMessage.status, OutboundMessage.next_attempt_at)
    ).all()
    now = clock.now()
    for status, next_attempt_at, count in rows:
        if status == OutboundStatus.PENDING and next_attempt_at and next_attempt_at > now:
            counts["waiting_quiet_hours"] += count
        elif status in (OutboundStatus.PENDING, OutboundStatus.SENDING):
            counts["pending"] += count
        elif status == OutboundStatus.READ:
            counts["delivered"] += count
        else:
            counts[status] += count
    counts["linked"] = (
        db.session.scalar(
            select(func.count())
            .select_from(FeedbackItem)
            .where(FeedbackItem.decision_id == decision.id)
        )
        or 0
    )
    counts["awaiting_translation"] = sum(awaiting_translation(decision).values())
    for key in ("queued", "sent", "delivered", "failed", "undelivered", "cancelled", "pending"):
        counts.setdefault(key, 0)
    counts.setdefault("waiting_quiet_hours", 0)
    return dict(counts)


def awaiting_translation(decision: Decision) -> dict[str, int]:
    """Members of a published decision still waiting for a summary in their language."""
    if not decision.published:
        return {}
    staff_locale = current_app.config["STAFF_LOCALE"]
    locales = db.session.execute(
        select(Contact.locale, func.count())
        .join(FeedbackItem, FeedbackItem.contact_id == Contact.id)
        .where(
            FeedbackItem.decision_id == decision.id,
            Contact.forgotten_at.is_(None),
            Contact.opted_out_at.is_(None),
        )
        .group_by(Contact.locale)
    ).all()
    return {
        locale: count
        for locale, count in locales
        if decision.summary_in(locale, staff_locale) is None
    }
