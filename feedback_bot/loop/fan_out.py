"""The fan-out: "what happened next" owed to every member linked to a published decision.

A job (``notify_decision``) owes the messages in batches, each with its own idempotency
key (``what_next_key``): publishing twice, or a worker killed mid-publish, never sends
anybody two copies. The decision counts the fan-outs it owes (``owe_fan_out``) in the same
commit as the change that owes them, so a job lost with Redis or a killed worker is run
again by the sweeper (``unfinished_fan_outs``), not forgotten.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import ColumnElement, String, cast, func, select, update

from .. import clock
from ..extensions import db
from ..models import (
    Contact,
    Decision,
    FeedbackItem,
    ItemStatus,
    MessageKind,
    OutboundMessage,
    OutboundStatus,
)
from ..outbox import outbox_row, owe_messages, rowcount

log = logging.getLogger(__name__)

FAN_OUT_BATCH = 500
WHAT_NEXT_KINDS = (MessageKind.WHAT_NEXT, MessageKind.WHAT_NEXT_UPDATE)
# The error code of a "what happened next" cancelled because its text changed before it
# went (``_cancel_stale``): its member is owed the current text instead.
TEXT_CHANGED = "text_changed"
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
    from ..jobs import enqueue_fan_out

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
    from ..jobs import enqueue_send

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
        earlier = revisions_owed(decision_id, due_items)
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
    earlier = revisions_owed(decision.id, [item for item, _ in batch])
    due = []
    for item, contact in batch:
        if not is_owed(item, contact, revision, earlier):
            continue
        summary = decision.summary_in(contact.locale, staff_locale)
        if summary is None:
            # Waits for a translation (``awaiting_translation``); an older message whose
            # text is no longer current went with the change (``_cancel_stale``).
            continue
        due.append((item, contact, summary))
    return due


def is_owed(
    item: FeedbackItem, contact: Contact, revision: int, earlier: dict[int, list[int]]
) -> bool:
    """Whether the member of ``item`` is owed ``revision`` of its decision, given the
    revisions ``earlier`` (``revisions_owed``) says each item was owed already: the
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
    count for nothing here (``revisions_owed``).
    """
    if item.status == ItemStatus.LINKED and item.reopened_at is not None:
        return item.reopened_at
    return None


def revisions_owed(decision_id: int, items: Sequence[FeedbackItem]) -> dict[int, list[int]]:
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
