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
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import ColumnElement, String, and_, cast, exists, func, or_, select, update

from . import clock
from .dbutil import lock_until_commit
from .extensions import db
from .messaging import keywords
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
# The error code of a "what happened next" cancelled because its text changed before it
# went (``_cancel_stale``): its member is owed the current text instead.
TEXT_CHANGED = "text_changed"
# The first key of the advisory locks on a member's questions about a decision.
QUESTION_LOCKS = 0x2A7E
# How long after a "Did we listen?" reached Twilio another item told of the same decision
# shares it instead of being asked again (``_question_waiting``): the items of one fan-out.
QUESTION_SHARED_FOR = timedelta(days=1)


def link(decision: Decision, items: list[FeedbackItem]) -> None:
    """Link ``items`` to ``decision``: once it is published, their members are told it.

    Callers leave out items whose members have been told another decision (``told``): a
    second "what happened next" would contradict the first. An item moved from a decision
    its member has not heard yet loses that decision's message if it has not gone (quiet
    hours, a WhatsApp template), in the same commit: the member hears the new one only.

    An item closed as no action is reopened by this, explicitly: it is no action no longer,
    and its member will be told the decision. Its closure message, if it has not gone yet
    (quiet hours, a WhatsApp template), is cancelled in the same commit: "we will not be
    taking it further" must not arrive just before what we decided. (One a worker holds,
    or that may have reached Twilio, goes; the decision follows it.)
    """
    moved = [item.id for item in items if item.decision_id not in (None, decision.id)]
    if moved:
        cancel_unsent(
            "the feedback was linked to another decision before this went",
            OutboundMessage.item_id.in_(moved),
            OutboundMessage.decision_id != decision.id,
            OutboundMessage.kind.in_(WHAT_NEXT_KINDS),
        )
    reopened = []
    for item in items:
        item.decision_id = decision.id
        if item.status == ItemStatus.CLOSED:
            item.closed_reason = None  # the audit log keeps it, with the closing
            reopened.append(item.id)
        if item.status in (
            ItemStatus.NEW,
            ItemStatus.TRIAGED,
            ItemStatus.REOPENED,
            ItemStatus.CLOSED,
        ):
            item.status = ItemStatus.LINKED
    if reopened:
        # The closure's "Did we listen?" too: the decision will ask (``asked_about``
        # no longer credits a closure's question once the item is linked).
        cancel_unsent(
            "the feedback was linked to a decision before this went",
            OutboundMessage.item_id.in_(reopened),
            or_(
                OutboundMessage.kind == MessageKind.CLOSED_NO_ACTION,
                (OutboundMessage.kind == MessageKind.RATING_QUESTION)
                & OutboundMessage.decision_id.is_(None),
            ),
        )
    if decision.published:
        owe_fan_out(decision)
    db.session.commit()
    if decision.published:
        schedule_fan_out(decision)


def told(item: FeedbackItem) -> bool:
    """Whether the member of ``item`` has heard the decision it is linked to, or may be
    hearing it right now (``_being_told``): its loop is closed, and linking it to another
    decision would send them a second, contradicting outcome. A changed decision reaches
    them as an update (``update_outcome``); a member who answers "no" to "Did we listen?"
    reopens the item, and it can be linked again (``_relinked_since``)."""
    if item.status == ItemStatus.TOLD:
        return True
    return item.status == ItemStatus.LINKED and _being_told(item.id)


def publish(decision: Decision) -> None:
    if decision.published_at is None:
        decision.published_at = clock.now()
    owe_fan_out(decision)
    db.session.commit()
    schedule_fan_out(decision)


def update_outcome(decision: Decision, notify_told: bool, summary_changed: bool = False) -> None:
    """Save an edit to a published decision; optionally tell those already told.

    A changed summary makes its translations outdated: members in those languages wait for
    a fresh translation rather than get the old text framed as an update. Told or not,
    nobody is sent the old text any more: a message not sent yet is replaced by the current
    text, or waits for its translation (``owe_fan_out``).
    """
    if summary_changed:
        mark_translations_outdated(decision)
    if notify_told and decision.published:
        decision.revision += 1
    fan_out = decision.published and (notify_told or summary_changed)
    if fan_out:
        owe_fan_out(decision)
    db.session.commit()
    if fan_out:
        schedule_fan_out(decision)


def told_of(decision: Decision) -> dict[str, int]:
    """Members an update of ``decision`` would text (``update_outcome``), by language: those
    with feedback linked to it whose "what happened next" of it reached Twilio, unless they
    opted out or asked to be forgotten. Those in a language other than the staff's wait
    for the new summary's translation."""
    told = exists().where(
        OutboundMessage.item_id == FeedbackItem.id,
        OutboundMessage.decision_id == decision.id,
        OutboundMessage.kind.in_(WHAT_NEXT_KINDS),
        OutboundMessage.accepted_at.is_not(None),
    )
    rows = db.session.execute(
        select(Contact.locale, func.count(func.distinct(Contact.id)))
        .join(FeedbackItem, FeedbackItem.contact_id == Contact.id)
        .where(
            FeedbackItem.decision_id == decision.id,
            Contact.forgotten_at.is_(None),
            Contact.opted_out_at.is_(None),
            told,
        )
        .group_by(Contact.locale)
    ).all()
    return {locale: count for locale, count in rows}


def mark_translations_outdated(decision: Decision) -> None:
    for translation in decision.translations:
        translation.state = ReviewState.OUTDATED


# What staff can close as "no action": feedback whose member has not been told of a
# decision. A told item's loop is closed already (the member heard what we did, and was
# asked whether they felt heard); "we will not be taking it further" would contradict it.
CLOSABLE = (ItemStatus.NEW, ItemStatus.TRIAGED, ItemStatus.LINKED, ItemStatus.REOPENED)


def closable(item: FeedbackItem) -> bool:
    return item.status in CLOSABLE


def close_no_action(item: FeedbackItem, reason: str) -> bool:
    """Close ``item`` as "no action". Commits, then enqueues; True if it was closed.

    ``reason`` stays for staff: it is in the staff language, and members only ever read
    text in their own. The member is told, in their language, that we read their feedback
    and are not taking it further (a template, so interpreters have translated it), unless
    they opted out or asked to be forgotten: once per closure (``closure_key``).

    Closing unlinks the item from its decision, so that publishing or updating that
    decision never tells the member "what happened next" after all; such a message, or a
    "still working on it", not sent yet is cancelled. Linking the item again reopens it
    (``link``).

    False if the item cannot be closed: closed already, its member told of a decision
    (``closable``), or being told one right now (a "what happened next" a worker is
    sending, or that may have reached Twilio). Then nothing changes, and the session is
    rolled back, with whatever the caller added to it (its audit entry of the closing).
    """
    # Locked and read afresh: two staff closing the same item at once owe one message,
    # and a closing that waited for a link sees the link.
    db.session.refresh(item, with_for_update=True)
    if not closable(item) or _being_told(item.id):
        db.session.rollback()
        return False
    item.status = ItemStatus.CLOSED
    item.closed_reason = reason
    item.decision_id = None
    cancel_unsent(
        "the feedback was closed as no action before this went",
        OutboundMessage.item_id == item.id,
        OutboundMessage.kind.in_((*WHAT_NEXT_KINDS, MessageKind.INTERIM)),
    )
    owed = _owe_closure(item)
    db.session.commit()
    from .jobs import enqueue_send

    enqueue_send(owed, bulk=True)
    return True


def _being_told(item_id: int) -> bool:
    """Whether a "what happened next" about the item may be reaching its member now: a
    worker holds it, or an earlier attempt may have reached Twilio. It cannot be taken
    back, so the item is not closed under it."""
    return bool(
        db.session.scalar(
            select(func.count())
            .select_from(OutboundMessage)
            .where(
                OutboundMessage.item_id == item_id,
                OutboundMessage.kind.in_(WHAT_NEXT_KINDS),
                or_(
                    OutboundMessage.status == OutboundStatus.SENDING,
                    (
                        OutboundMessage.status.in_(UNSENT)
                        & OutboundMessage.unconfirmed_since.is_not(None)
                    ),
                ),
            )
        )
    )


def _owe_closure(item: FeedbackItem) -> list[int]:
    """Owe the member of ``item``, just closed, the closure message; the caller commits."""
    contact = member_as_committed(item.contact_id)
    if contact is None or contact.forgotten or contact.opted_out:
        return []
    owed = owe_message(
        key=closure_key(item),
        kind=MessageKind.CLOSED_NO_ACTION,
        contact=contact,
        channel=item.channel,
        item=item,
        ref=item.ref,
    )
    return [owed] if owed else []


def member_as_committed(contact_id: int | None) -> Contact | None:
    """The contact, to owe them a message: locked FOR KEY SHARE and read afresh, as a
    fan-out batch reads its members (``_owe_what_next``). A message of theirs changing
    their language holds the row until it commits, and renders again only the rows it can
    see; read without the lock, the old language went into a row it never saw."""
    if contact_id is None:
        return None
    return db.session.get(
        Contact,
        contact_id,
        with_for_update={"read": True, "key_share": True},
        populate_existing=True,
    )


def closure_key(item: FeedbackItem) -> str:
    """The closure message's idempotency key: one per closure of the item. An item closed,
    reopened by linking it and closed again is told again; the count is read holding the
    item's lock (``close_no_action``)."""
    closures = db.session.scalar(
        select(func.count())
        .select_from(OutboundMessage)
        .where(
            OutboundMessage.item_id == item.id,
            OutboundMessage.kind == MessageKind.CLOSED_NO_ACTION,
            OutboundMessage.fallback_of_id.is_(None),
        )
    )
    return f"{MessageKind.CLOSED_NO_ACTION}:item:{item.id}:{closures or 0}"


# Owed and not sent: what ``cancel_unsent`` may cancel, unless in doubt.
UNSENT = (OutboundStatus.PENDING, OutboundStatus.NEEDS_TEMPLATE)


def cancel_unsent(why: str, *criteria: ColumnElement[bool], code: str = "cancelled") -> int:
    """Cancel the outbox rows matching ``criteria`` that cannot have reached Twilio, in one
    compare-and-set against ``claim`` (as ``_cancel_superseded`` does: a row a worker
    holds, or one in doubt, stays), with error ``code``. The caller commits.

    A cancelled row gives up its idempotency key (kept on it, with a suffix): it was never
    sent, so if the same message is owed again (an item closed and then linked again to
    the decision whose "what happened next" closing cancelled), the fan-out owes it afresh
    instead of finding the key taken.
    """
    return rowcount(
        update(OutboundMessage)
        .where(
            *criteria,
            OutboundMessage.status.in_(UNSENT),
            OutboundMessage.unconfirmed_since.is_(None),
        )
        .values(
            status=OutboundStatus.CANCELLED,
            error_code=code,
            error_message=why,
            idempotency_key=OutboundMessage.idempotency_key
            + ":cancelled:"
            + cast(OutboundMessage.id, String),
            to_ciphertext=None,  # final: the number is not kept where it is not needed
            updated_at=clock.now(),
        )
        .execution_options(synchronize_session=False)
    )


def owe_fan_out(decision: Decision) -> None:
    """Count, in the caller's transaction, that the members of ``decision`` may be owed a
    message; the caller commits, then calls ``schedule_fan_out``.

    Every change that may owe members a message comes here, a new summary or translation
    among them: messages not sent yet whose text is no longer the decision's are cancelled
    in the same transaction (``_cancel_stale``), and the fan-out counted here owes their
    members the current text, or leaves them waiting for a translation like anyone else.
    """
    if decision.id is None:  # not inserted yet
        decision.fan_out_requests = 1
    else:
        # In SQL, so that two staff saving at once both count.
        decision.fan_out_requests = Decision.fan_out_requests + 1
    decision.fan_out_requested_at = clock.now()
    if decision.id is not None and decision.published:
        # After the count: flushing it takes the decision's row lock, which each batch of
        # the fan-out holds too (``_owe_what_next``), so no batch is halfway through owing
        # rows with the old text while this looks for them.
        db.session.flush()
        _cancel_stale(decision)


def _cancel_stale(decision: Decision, item_ids: Sequence[int] | None = None) -> int:
    """Cancel the decision's "what happened next" messages not sent yet whose text is no
    longer what their member would be sent now: the summary was edited without telling
    those already told (the revision stays), or the translation in their language was
    saved again or is outdated (never sent until translated again). Returns how many.

    ``cancel_unsent``'s compare-and-set against ``claim``: a row a worker holds, or one an
    earlier attempt left in doubt, may reach the member whatever we do, so it stays and
    counts as owed. The others are marked ``TEXT_CHANGED``: the fan-out owes
    their members the current text under a key of its own (``_text_changes``), "an update"
    only if an earlier version is still owed to them; or, with no translation now, they
    wait for one, counted in ``awaiting_translation``, and are owed it when it is saved.
    """
    staff_locale = current_app.config["STAFF_LOCALE"]
    unsent = select(OutboundMessage.id, OutboundMessage.locale, OutboundMessage.variables).where(
        OutboundMessage.decision_id == decision.id,
        OutboundMessage.kind.in_(WHAT_NEXT_KINDS),
        OutboundMessage.status.in_(UNSENT),
        OutboundMessage.unconfirmed_since.is_(None),
    )
    if item_ids is not None:
        unsent = unsent.where(OutboundMessage.item_id.in_(item_ids))
    current: dict[str, str | None] = {}
    stale = []
    for row_id, locale, variables in db.session.execute(unsent):
        if locale not in current:
            current[locale] = decision.summary_in(locale, staff_locale)
        sent_text = (variables or {}).get("summary")
        if sent_text is not None and sent_text != current[locale]:
            stale.append(row_id)
    cancelled = 0
    for start in range(0, len(stale), FAN_OUT_BATCH):
        cancelled += cancel_unsent(
            "its text changed before it was sent",
            OutboundMessage.id.in_(stale[start : start + FAN_OUT_BATCH]),
            code=TEXT_CHANGED,
        )
    return cancelled


def _text_changes(decision_id: int, revision: int, item_ids: list[int]) -> dict[int, int]:
    """For each item, how many of its messages telling ``revision`` of the decision were
    cancelled because their text changed (``_cancel_stale``). The message that replaces
    them has this in its key: a cancelled row gives up its own key, but when it was an SMS
    fallback, the undelivered message it followed, which went, keeps the plain one."""
    if not item_ids:
        return {}
    rows = db.session.execute(
        select(OutboundMessage.item_id, func.count())
        .where(
            OutboundMessage.decision_id == decision_id,
            OutboundMessage.item_id.in_(item_ids),
            OutboundMessage.kind.in_(WHAT_NEXT_KINDS),
            OutboundMessage.decision_revision == revision,
            OutboundMessage.error_code == TEXT_CHANGED,
        )
        .group_by(OutboundMessage.item_id)
    ).all()
    return {item_id: count for item_id, count in rows if item_id is not None}


def schedule_fan_out(decision: Decision) -> None:
    """Enqueue the fan-out that ``owe_fan_out`` recorded (committed already). Never raises:
    if Redis is down, the sweeper enqueues it later."""
    from .jobs import enqueue_fan_out

    enqueue_fan_out(decision.id, decision.revision, decision.fan_out_requests)


def fan_out_for_member(contact_id: int) -> None:
    """The member changed language (chose one, or wrote in one): each published decision
    they are still waiting to hear of runs its fan-out again, which owes them the decision
    if it has a summary in their new language, or leaves them waiting for its translation
    as before. Its own transaction, after the one that changed the language: a fan-out
    locks the decision and then its members, the reverse of a message's order."""
    decisions = db.session.scalars(
        select(Decision)
        .join(FeedbackItem, FeedbackItem.decision_id == Decision.id)
        .where(
            FeedbackItem.contact_id == contact_id,
            FeedbackItem.status == ItemStatus.LINKED,
            Decision.published_at.is_not(None),
        )
        .distinct()
    ).all()
    if not decisions:
        return
    for decision in decisions:
        owe_fan_out(decision)
    db.session.commit()
    for decision in decisions:
        schedule_fan_out(decision)


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
        # Each batch holds the decision's row until it commits, and reads the decision (its
        # texts) afresh once it has it: a staff edit or a saved translation takes the same
        # lock (``owe_fan_out``), so it either sees this batch's rows, and cancels those it
        # made stale, or comes before the batch and is read by it. Never old text owed
        # after the change that replaced it.
        lock_for_batch(decision_id)
        # The members' rows are read FOR KEY SHARE: a message of theirs that changes their
        # language (or stops, or forgets) holds the row FOR UPDATE until it commits, and
        # renders again only the rows it can see. Read without the lock, the old language
        # went into a row the change never saw. The lock waits for the change instead,
        # and then reads it; a change that comes after waits for this batch, and sees
        # its rows. Workers recording sends (FOR NO KEY UPDATE, FOR KEY SHARE) pass.
        # (tests/test_language_race.py; the interim updates and closing do the same.)
        batch = db.session.execute(
            select(FeedbackItem, Contact)
            .join(Contact, FeedbackItem.contact_id == Contact.id)
            .where(FeedbackItem.decision_id == decision_id, FeedbackItem.id > last_id)
            .order_by(FeedbackItem.id)
            .limit(FAN_OUT_BATCH)
            .with_for_update(read=True, key_share=True, of=Contact)
        ).all()
        if not batch:
            break
        last_id = batch[-1][0].id
        # A job queued for an older revision, run late (or still running when staff sent an
        # update), tells the current one: the old text is gone, and the newer revision's
        # own job would otherwise send the same text again as "an update".
        revision = max(revision, decision.revision)
        # Rows this fan-out (or another) owed with a text that has changed since: a row a
        # worker held while the change cancelled the others, then put back for the morning.
        _cancel_stale(decision, [item.id for item, _ in batch])
        due = _to_tell(decision, revision, batch, staff_locale)
        due_items = [item for item, _, _ in due]
        _cancel_superseded(decision_id, revision, [item.id for item in due_items])
        # Read again after cancelling: the kind depends on what the member is still owed.
        earlier = _revisions_owed(decision_id, due_items)
        changes = _text_changes(decision_id, revision, [item.id for item in due_items])
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
            key = what_next_key(
                kind,
                decision_id,
                revision,
                item.id,
                relinked_since=_relinked_since(item),
                text_changes=changes.get(item.id, 0),
            )
            row = outbox_row(
                key=key,
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


def lock_for_batch(decision_id: int) -> Decision | None:
    """Take the decision's row for a batch of its fan-out, and read it afresh.

    FOR NO KEY UPDATE, not FOR UPDATE: it excludes staff edits and other batches (an
    UPDATE of the row takes the same lock) but not a worker that, meanwhile, records that
    a message went out and owes the rating question, whose new row's foreign key to the
    decision takes FOR KEY SHARE. Under FOR UPDATE each such worker waited for the batch
    to commit, and sending crawled while the fan-out was still owing rows."""
    return db.session.get(
        Decision, decision_id, with_for_update={"key_share": True}, populate_existing=True
    )


def _to_tell(
    decision: Decision,
    revision: int,
    batch: Sequence[tuple[FeedbackItem, Contact]],
    staff_locale: str,
) -> list[tuple[FeedbackItem, Contact, str]]:
    """The items of ``batch`` whose members are owed ``revision`` now, each with the summary
    in its member's language."""
    earlier = _revisions_owed(decision.id, [item for item, _ in batch])
    due = []
    for item, contact in batch:
        if not _owed(item, contact, revision, earlier):
            continue
        summary = decision.summary_in(contact.locale, staff_locale)
        if summary is None:
            # Waits for a translation (``awaiting_translation``); an older message whose
            # text is no longer current went with the change (``_cancel_stale``).
            continue
        due.append((item, contact, summary))
    return due


def _owed(
    item: FeedbackItem, contact: Contact, revision: int, earlier: dict[int, list[int]]
) -> bool:
    """Whether the member of ``item`` is owed ``revision`` of its decision, given the
    revisions ``earlier`` (``_revisions_owed``) says each item was owed already: the
    fan-out's rule, and ``awaiting_translation``'s."""
    if contact.forgotten or contact.opted_out:
        return False
    # Not if owed this revision already, or a newer one (a stale job).
    return not any(owed >= revision for owed in earlier.get(item.id, ()))


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


def what_next_key(
    kind: str,
    decision_id: int,
    revision: int,
    item_id: int,
    relinked_since: datetime | None = None,
    text_changes: int = 0,
) -> str:
    """The idempotency key of ``kind`` ("what happened next" or its update) for one item
    and revision of a decision. The revision is also kept in its own column: follow-ups of
    the message (an SMS fallback) have keys of their own. An item linked again after its
    member reopened it (``_relinked_since``) is told again, under a key of that reopening;
    a message whose text changed before it went is replaced under a key that counts the
    changes (``_text_changes``)."""
    key = f"{kind}:decision:{decision_id}:r{revision}:item:{item_id}"
    if relinked_since is not None:
        key += f":reopened:{relinked_since:%Y%m%dT%H%M%S}"
    if text_changes:
        key += f":text{text_changes}"
    return key


def _relinked_since(item: FeedbackItem) -> datetime | None:
    """When the member reopened ``item``, if staff have linked it to a decision since and
    it has not been told it yet; otherwise None.

    The member said we did not listen, and was told a person would look at their feedback
    again. Linking it again, to the same decision or another, is that person's answer, and
    the member is owed it: the decision as it stands now, as "what happened next" (not "an
    update", which would claim a change there may not be), then "Did we listen?" again
    (``record_told``), so that a second "no" reopens it again instead of going unheard.
    The text may be the one they read before; saying nothing at all would leave them with
    "we will look again" for good, which is worse. Messages owed before the reopening
    count for nothing here (``_revisions_owed``).
    """
    if item.status == ItemStatus.LINKED and item.reopened_at is not None:
        return item.reopened_at
    return None


def _revisions_owed(decision_id: int, items: Sequence[FeedbackItem]) -> dict[int, list[int]]:
    """For each item, the revisions of ``decision_id`` it has been owed "what happened next"
    for, by a message (or a follow-up of one) that has not failed or been cancelled.

    A message that was handed on to follow-ups (the SMS fallback of an undelivered WhatsApp
    message, its retry as a template), all of which were cancelled because their text
    changed (``_cancel_stale``), has not told the member: its text goes to them afresh.
    (One whose follow-up failed still counts, as a failed message does not count but is
    not owed again either: its key is taken.) For an item linked again after a reopening
    (``_relinked_since``) only what was owed since counts, and only once a "what happened
    next" is among it.
    """
    since = {item.id: _relinked_since(item) for item in items}
    rows = db.session.execute(
        select(
            OutboundMessage.id,
            OutboundMessage.item_id,
            OutboundMessage.decision_revision,
            OutboundMessage.kind,
            OutboundMessage.status,
            OutboundMessage.error_code,
            OutboundMessage.fallback_of_id,
            OutboundMessage.created_at,
        ).where(
            OutboundMessage.decision_id == decision_id,
            OutboundMessage.item_id.in_(list(since)),
            OutboundMessage.kind.in_(WHAT_NEXT_KINDS),
        )
    ).all()
    followed: dict[int, set[bool]] = {}
    for row in rows:
        if row.fallback_of_id is not None:
            replaced = row.status == OutboundStatus.CANCELLED and row.error_code == TEXT_CHANGED
            followed.setdefault(row.fallback_of_id, set()).add(replaced)
    owed: dict[int, list[int]] = {}
    told_again: set[int] = set()
    for row in rows:
        if row.item_id is None or followed.get(row.id) == {True}:
            continue
        if row.status in (OutboundStatus.FAILED, OutboundStatus.CANCELLED):
            continue
        start = since.get(row.item_id)
        if start is not None:
            if row.created_at <= start:  # what the member answered "no" to
                continue
            if row.kind == MessageKind.WHAT_NEXT:
                told_again.add(row.item_id)
        # None only on a row from before the column that migration 0010 could not date.
        # It told some version; counting it as the first never sends the first twice (at
        # worst the next one says "an update").
        owed.setdefault(row.item_id, []).append(row.decision_revision or 0)
    for item_id, start in since.items():
        if start is not None and item_id not in told_again:
            # An update that reached the member while their item was reopened is not the
            # answer to the reopening: they are told the decision once it is linked again.
            owed.pop(item_id, None)
    return owed


def leads_somewhere(kind: str) -> bool:
    """Whether a message of ``kind``, once accepted, owes more (see ``record_told``)."""
    return kind in WHAT_NEXT_KINDS or kind == MessageKind.CLOSED_NO_ACTION


def record_told(row: OutboundMessage) -> list[int]:
    """What "what happened next", accepted by Twilio, leads to: the item is told, and its
    member owed the rating question. A closure ("we will not be taking it further") is an
    answer too, and is asked about the same way (``_ask_about_closure``). Returns outbox
    rows to enqueue once the caller, who records the acceptance in the same transaction,
    has committed."""
    if not leads_somewhere(row.kind) or not row.item_id:
        return []
    item = db.session.get(FeedbackItem, row.item_id)
    if item is None:
        return []
    if row.kind == MessageKind.CLOSED_NO_ACTION:
        return _ask_about_closure(row, item)
    if item.status == ItemStatus.LINKED:
        item.status = ItemStatus.TOLD
    item.told_at = item.told_at or clock.now()
    owed = None
    # Only "what happened next" asks the question; an update does not ask again.
    contact = member_as_committed(item.contact_id) if row.kind == MessageKind.WHAT_NEXT else None
    if (
        contact is not None
        and not contact.forgotten
        and row.decision_id is not None
        and not _question_waiting(contact.id, row.decision_id)
    ):
        # Keyed per decision and reopening: an item reopened and linked again, to another
        # decision or the same one (``_relinked_since``), is asked again, and
        # ``rating_item`` credits the answer to the question, not to ``told_at``.
        key = f"rating_question:decision:{row.decision_id}:item:{item.id}"
        if item.reopened_at is not None:
            key += f":reopened:{item.reopened_at:%Y%m%dT%H%M%S}"
        owed = owe_message(
            key=key,
            kind=MessageKind.RATING_QUESTION,
            contact=contact,
            channel=item.channel,
            item=item,
            decision_id=row.decision_id,
        )
    return [owed] if owed else []


def _ask_about_closure(row: OutboundMessage, item: FeedbackItem) -> list[int]:
    """Owe "Did we listen?" after a closure message reached Twilio: "no" is the member's
    way to have a person look again (``record_rating`` reopens the item). Not if the item
    was linked again meanwhile (its decision will ask), nor to a member who asked to be
    forgotten. Keyed per closure: the first row of it, as an SMS fallback of the closure
    message is the same closure."""
    contact = member_as_committed(item.contact_id)
    if item.status != ItemStatus.CLOSED or contact is None or contact.forgotten:
        return []
    first = row
    while first.fallback_of_id is not None:
        earlier = db.session.get(OutboundMessage, first.fallback_of_id)
        if earlier is None:
            break
        first = earlier
    owed = owe_message(
        key=f"rating_question:closure:{first.id}",
        kind=MessageKind.RATING_QUESTION,
        contact=contact,
        channel=item.channel,
        item=item,
    )
    return [owed] if owed else []


RATINGS = {1: "yes", 2: "partly", 3: "no"}


def _question_waiting(contact_id: int, decision_id: int) -> bool:
    """Whether the member was asked "Did we listen?" about this decision and can still
    answer (``asked_about``). Their answer is about the decision, so it rates every item
    of theirs told of it (``rated_by``): a member whose two messages were linked to one
    decision hears of it twice, each with its ref, and is asked once. Feedback told of it
    after they answered, or after RATING_REPLY_DAYS, is asked about afresh.

    Two workers may record two of the member's items told at once, each finding no
    question yet: the lock makes the second wait for the first's commit, and see it."""
    lock_until_commit(QUESTION_LOCKS, f"{contact_id}:{decision_id}")
    now = clock.now()
    return bool(
        db.session.scalar(
            select(
                exists().where(
                    OutboundMessage.contact_id == contact_id,
                    OutboundMessage.kind == MessageKind.RATING_QUESTION,
                    OutboundMessage.decision_id == decision_id,
                    OutboundMessage.status.not_in(
                        (
                            OutboundStatus.CANCELLED,
                            OutboundStatus.FAILED,
                            OutboundStatus.UNDELIVERED,
                        )
                    ),
                    # Still to go, or gone lately: a member told of the decision again
                    # near the end of an old question's RATING_REPLY_DAYS would have only
                    # hours left to answer for both.
                    or_(
                        OutboundMessage.accepted_at.is_(None),
                        OutboundMessage.accepted_at >= now - QUESTION_SHARED_FOR,
                    ),
                    _unanswered(),
                )
            )
        )
    )


def _unanswered() -> ColumnElement[bool]:
    """The question (an ``OutboundMessage``) has not been answered since it was asked:
    its item (joined, or correlated) has no rating from after it reached Twilio (or,
    while it waits to go, after it was owed)."""
    asked = func.coalesce(OutboundMessage.accepted_at, OutboundMessage.created_at)
    return and_(
        FeedbackItem.id == OutboundMessage.item_id,
        or_(FeedbackItem.rated_at.is_(None), FeedbackItem.rated_at < asked),
    )


@dataclass(frozen=True)
class Rating:
    """A member's answer to "Did we listen?"."""

    items: list[FeedbackItem]  # what it rates, the question's own item first (``rated_by``)
    answer: str  # "yes", "partly" or "no"
    asked_at: datetime  # when the question reached Twilio


def rating_item(contact: Contact, body: str, now: datetime) -> Rating | None:
    """What a bare "1", "2" or "3" rates, or an answer in words ("no", "Tak"), if the
    member was asked recently."""
    answer = rating_of(body)
    if answer is None:
        return None
    asked = asked_about(contact, now)
    if asked is None:
        return None
    question, item = asked
    assert question.accepted_at is not None  # asked_about: it reached Twilio
    return Rating(rated_by(question, item), answer, question.accepted_at)


def rating_of(body: str) -> str | None:
    """ "yes", "partly" or "no" for a reply of "1", "2" or "3" or their words; None for
    anything else (``keywords.rating_answer``)."""
    return keywords.rating_answer(body, RATINGS)


def rated_by(question: OutboundMessage, item: FeedbackItem) -> list[FeedbackItem]:
    """The items an answer to ``question`` (about ``item``) rates: ``item``, and for a
    question about a decision, the member's other items told of that decision since
    their last answer, if any (``_question_waiting`` asked about them with this one). An
    item answered since it was told keeps its answer."""
    if question.decision_id is None:
        return [item]
    told_since_answered = exists().where(
        OutboundMessage.item_id == FeedbackItem.id,
        OutboundMessage.kind == MessageKind.WHAT_NEXT,
        OutboundMessage.decision_id == question.decision_id,
        OutboundMessage.accepted_at > FeedbackItem.rated_at,
    )
    others = db.session.scalars(
        select(FeedbackItem)
        .where(
            FeedbackItem.contact_id == item.contact_id,
            FeedbackItem.decision_id == question.decision_id,
            FeedbackItem.status == ItemStatus.TOLD,
            FeedbackItem.id != item.id,
            or_(FeedbackItem.rated_at.is_(None), told_since_answered),
        )
        .order_by(FeedbackItem.id)
    )
    return [item, *others]


def asked_about(contact: Contact, now: datetime) -> tuple[OutboundMessage, FeedbackItem] | None:
    """The latest "Did we listen?" asked of ``contact`` within RATING_REPLY_DAYS of
    ``now`` that they have not answered since it was asked, with its item.

    Found from the questions, not from the item's ``told_at`` and ``rating``: an item rated
    "no" (reopened) and then told of another decision is asked again (``record_told``),
    yet keeps its first ``told_at`` (when the member first heard back, for the dashboard)
    and its old rating until the new answer replaces it. The old answer is not lost: it
    stays as the member's message, with the reopening in ``reopened_at``.

    A question asked after a closure (it has no decision) counts only while the item is
    still closed: once staff link it again, a "3" must not reopen it under the decision
    the member is about to hear of.
    """
    days = current_app.config["RATING_REPLY_DAYS"]
    found = db.session.execute(
        select(OutboundMessage, FeedbackItem)
        .join(FeedbackItem, OutboundMessage.item_id == FeedbackItem.id)
        .where(
            OutboundMessage.contact_id == contact.id,
            OutboundMessage.kind == MessageKind.RATING_QUESTION,
            # Asked before the member wrote: Twilio had it. One still held then (quiet
            # hours, a WhatsApp template) had not been seen, and a "1" sent meanwhile is
            # the member's own message, even if a worker reaches it after the question went.
            OutboundMessage.accepted_at <= now,
            OutboundMessage.accepted_at >= now - timedelta(days=days),
            _unanswered(),
            or_(
                OutboundMessage.decision_id.is_not(None),
                FeedbackItem.status == ItemStatus.CLOSED,
            ),
        )
        # The question the member saw last: one held for a template and sent after a
        # newer one went by SMS is the one on their screen.
        .order_by(OutboundMessage.accepted_at.desc(), OutboundMessage.id.desc())
        .limit(1)
    ).first()
    return (found[0], found[1]) if found is not None else None


def record_rating(items: Sequence[FeedbackItem], rating: str, now: datetime) -> str:
    """Store the rating; a "no" reopens the items for staff. Returns the reply's kind."""
    for item in items:
        item.rating = rating
        item.rated_at = now
        if rating == "no":
            item.status = ItemStatus.REOPENED
            item.reopened_at = now
    return MessageKind.RATING_REOPENED if rating == "no" else MessageKind.RATING_THANKS


# Items still waiting to hear what happened: not yet linked to a decision, or reopened by
# the member's "no" and not linked again since. A reopened item keeps the decision it was
# linked to, and stays waiting when staff mark it triaged: only linking it again (to that
# decision or another) answers the member (``_relinked_since``).
WAITING = (ItemStatus.NEW, ItemStatus.TRIAGED, ItemStatus.REOPENED)


def awaits_decision(item: FeedbackItem) -> bool:
    """Whether ``item``'s member is still waiting to hear what happened (see ``WAITING``)."""
    return item.status in WAITING and (item.decision_id is None or item.reopened_at is not None)


# A "what happened next" that will go without anyone doing anything: owed and due (or held
# until morning, or by the send rate), or being sent.
ON_ITS_WAY = (OutboundStatus.PENDING, OutboundStatus.SENDING)


def _what_next_on_its_way() -> ColumnElement[bool]:
    """The item's "what happened next" is owed, or its decision's fan-out is about to owe
    it (published, and a run requested that has not finished)."""
    return or_(
        exists().where(
            OutboundMessage.item_id == FeedbackItem.id,
            OutboundMessage.kind.in_(WHAT_NEXT_KINDS),
            OutboundMessage.status.in_(ON_ITS_WAY),
        ),
        exists().where(
            Decision.id == FeedbackItem.decision_id,
            Decision.published_at.is_not(None),
            Decision.fan_out_done < Decision.fan_out_requests,
        ),
    )


def _waits_in_silence() -> ColumnElement[bool]:
    """Items whose member has nothing on its way to them about it: waiting for a decision
    (``awaits_decision``), or linked to one that cannot tell them yet. A linked item waits
    for the decision to be published, for an interpreter to translate its summary, or for
    an admin to add the WhatsApp template it needs; none of that has a date, and the
    acknowledgement promised word within INTERIM_UPDATE_DAYS."""
    return or_(
        and_(
            FeedbackItem.status.in_(WAITING),
            or_(FeedbackItem.decision_id.is_(None), FeedbackItem.reopened_at.is_not(None)),
        ),
        and_(FeedbackItem.status == ItemStatus.LINKED, ~_what_next_on_its_way()),
    )


def waits_in_silence(item_id: int) -> bool:
    """Whether the member of item ``item_id`` would hear nothing about it without an
    interim update (``_waits_in_silence``)."""
    return bool(
        db.session.scalar(select(exists().where(FeedbackItem.id == item_id, _waits_in_silence())))
    )


def owe_interim_updates(limit: int = 500) -> int:
    """Nobody waits in silence: one update per INTERIM_UPDATE_DAYS while nothing else is on
    its way to them (``_waits_in_silence``), counted from when the item came in, or from
    when the member reopened it."""
    from .jobs import enqueue_send

    now = clock.now()
    period = timedelta(days=current_app.config["INTERIM_UPDATE_DAYS"])
    stale = now - period
    waiting_since = func.coalesce(FeedbackItem.reopened_at, FeedbackItem.created_at)
    waiting = db.session.execute(
        select(FeedbackItem, Contact)
        .join(Contact, FeedbackItem.contact_id == Contact.id)
        .where(
            _waits_in_silence(),
            waiting_since <= stale,
            or_(
                FeedbackItem.interim_sent_at.is_(None), FeedbackItem.interim_sent_at <= now - period
            ),
            Contact.forgotten_at.is_(None),
            Contact.opted_out_at.is_(None),
        )
        .limit(limit)
        # As a fan-out batch reads them (``_owe_what_next``): a member changing language,
        # or stopping, is waited for and read as they committed it.
        .with_for_update(read=True, key_share=True, of=Contact)
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
            days=current_app.config["INTERIM_UPDATE_DAYS"],
        )
        item.interim_sent_at = now
        if row_id is not None:
            owed.append(row_id)
    db.session.commit()
    enqueue_send(owed, bulk=True)
    return len(owed)


def interim_key(item: FeedbackItem, now: datetime, period: timedelta) -> str:
    """One interim update per period of waiting; a reopened item's periods count afresh
    from the reopening, whether or not staff have marked it triaged since (its status is
    not in the key: marking it never owes a second update in the same period)."""
    if item.reopened_at is not None:
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
        elif status == OutboundStatus.NEEDS_TEMPLATE:
            counts["awaiting_whatsapp_template"] += count
        else:
            counts[status] += count
    # Members, as the page says ("Linked members"), not their items: the messages above
    # are one per item.
    counts["linked"] = (
        db.session.scalar(
            select(func.count(func.distinct(FeedbackItem.contact_id))).where(
                FeedbackItem.decision_id == decision.id
            )
        )
        or 0
    )
    counts["awaiting_translation"] = sum(awaiting_translation(decision).values())
    for key in ("queued", "sent", "delivered", "failed", "undelivered", "cancelled", "pending"):
        counts.setdefault(key, 0)
    counts.setdefault("waiting_quiet_hours", 0)
    counts.setdefault("awaiting_whatsapp_template", 0)
    return dict(counts)


def awaiting_whatsapp_template(decision: Decision) -> dict[str, int]:
    """Members waiting, by language, for a WhatsApp template to be told the decision: it
    is past the 24-hour window, they have no SMS and nobody has added the template for
    their language (``whatsapp.window.route_outside_window``). Only an admin can unblock
    them, by adding it; the sweeper then sends it by itself."""
    return _needing_template(decision, WHAT_NEXT_KINDS, per_member=True)


def questions_awaiting_whatsapp_template(decision: Decision) -> dict[str, int]:
    """The "Did we listen?" questions about the decision waiting, by language, for their
    own WhatsApp template, as ``awaiting_whatsapp_template``: each is owed once "what
    happened next" reached its member (``record_told``), often by a template, when the
    24-hour window is long shut."""
    return _needing_template(decision, (MessageKind.RATING_QUESTION,))


def _needing_template(
    decision: Decision, kinds: Sequence[str], per_member: bool = False
) -> dict[str, int]:
    """The decision's messages of ``kinds`` waiting for a WhatsApp template, by language;
    ``per_member``, the members they are for instead (one per item: a member with two
    items has two waiting, and is one member waiting)."""
    counted = func.count(func.distinct(OutboundMessage.contact_id)) if per_member else func.count()
    rows = db.session.execute(
        select(OutboundMessage.locale, counted)
        .where(
            OutboundMessage.decision_id == decision.id,
            OutboundMessage.kind.in_(kinds),
            OutboundMessage.status == OutboundStatus.NEEDS_TEMPLATE,
        )
        .group_by(OutboundMessage.locale)
    ).all()
    return {locale: count for locale, count in rows}


def awaiting_translation(decision: Decision) -> dict[str, int]:
    """Members of a published decision waiting for a summary in their language: those the
    fan-out would owe a message now (``_owed``) but for the translation. A member told this
    version already, by a message that has not failed or been cancelled, is not waiting,
    even when the translation they read has since been marked outdated.

    Counted once each, however many of their items wait: the pages that show this say
    "members" (an interpreter's "texts this summary to the 3 members waiting"), and a
    member with two items is one person waiting, though they get one message per item."""
    if not decision.published:
        return {}
    staff_locale = current_app.config["STAFF_LOCALE"]
    linked = (
        FeedbackItem.decision_id == decision.id,
        Contact.forgotten_at.is_(None),
        Contact.opted_out_at.is_(None),
    )
    locales = db.session.scalars(
        select(Contact.locale)
        .join(FeedbackItem, FeedbackItem.contact_id == Contact.id)
        .where(*linked)
        .distinct()
    ).all()
    untranslated = [
        locale for locale in locales if decision.summary_in(locale, staff_locale) is None
    ]
    waiting: dict[str, set[int]] = {}
    last_id = 0
    while untranslated:
        batch = db.session.execute(
            select(FeedbackItem, Contact)
            .join(Contact, FeedbackItem.contact_id == Contact.id)
            .where(*linked, Contact.locale.in_(untranslated), FeedbackItem.id > last_id)
            .order_by(FeedbackItem.id)
            .limit(FAN_OUT_BATCH)
        ).all()
        if not batch:
            break
        last_id = batch[-1][0].id
        earlier = _revisions_owed(decision.id, [item for item, _ in batch])
        for item, contact in batch:
            if _owed(item, contact, decision.revision, earlier):
                waiting.setdefault(contact.locale, set()).add(contact.id)
    return {locale: len(members) for locale, members in waiting.items()}
