"""Messages owed while the member is changing their language go in the new one.

A member's message that changes their language holds their contact row until it commits
(intake's FOR UPDATE) and renders again what they are owed and not yet sent: the rows it
can see. A fan-out batch, the interim updates or a staff closing that read the member's
language meanwhile, without waiting for that row, would owe a message in the old language
in a row the change never saw. Each must wait for the change and render in the new one.

Row locks are PostgreSQL's (SQLite locks the whole database for a writer): CI's PostgreSQL
pass runs these, the embedded pass leaves them out.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select, text, update

from feedback_bot import clock, loop
from feedback_bot.extensions import db
from feedback_bot.messaging.templates import render
from feedback_bot.models import (
    Contact,
    Decision,
    DecisionTranslation,
    FeedbackItem,
    ItemStatus,
    OutboundMessage,
    ReviewState,
)
from feedback_bot.testing.seed import seed_linked_items

pytestmark = pytest.mark.postgresql

SUMMARY = "We will resurface the whole of Mill Road in the spring."
SPANISH = "Repavimentaremos toda la calle Mill Road en primavera."
MIDDAY = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def one_member(app: Flask) -> tuple[int, int, int]:
    """A member (English) with one item linked to a decision: the ids of all three."""
    decision_id = seed_linked_items(app, 1, SUMMARY)
    with app.app_context():
        contact_id = db.session.scalars(select(Contact.id)).one()
        item_id = db.session.scalars(select(FeedbackItem.id)).one()
        db.session.remove()
    return decision_id, item_id, contact_id


def while_member_chooses_spanish(app: Flask, contact_id: int, owe: Callable[[], object]) -> None:
    """Run ``owe`` (in an app context of its own) while the member's change to Spanish holds
    their row, as intake does, then let the change commit; ``owe`` must finish after it."""
    with app.app_context(), db.engine.connect() as member:
        member.execute(text("SELECT id FROM contact WHERE id = :id FOR UPDATE"), {"id": contact_id})
        member.execute(
            text("UPDATE contact SET locale = 'es', locale_source = 'chosen' WHERE id = :id"),
            {"id": contact_id},
        )
        errors: list[BaseException] = []

        def run() -> None:
            try:
                with app.app_context():
                    owe()
                    db.session.remove()
            except BaseException as exc:  # reported below, not lost in the thread
                errors.append(exc)

        owing = threading.Thread(target=run)
        owing.start()
        owing.join(1.5)
        # The test's own premise: it ran while the change held the member's row.
        assert owing.is_alive(), f"it finished before the language change committed: {errors}"
        member.commit()
        owing.join(15)
        assert not owing.is_alive() and not errors, errors


def owed_row(app: Flask) -> OutboundMessage:
    with app.app_context():
        row = db.session.scalars(select(OutboundMessage)).one()
        db.session.expunge(row)
        db.session.remove()
    return row


def test_a_fan_out_batch_waits_for_the_change(app):
    decision_id, _, contact_id = one_member(app)
    with app.app_context():
        db.session.add(
            DecisionTranslation(
                decision_id=decision_id, locale="es", summary=SPANISH, state=ReviewState.REVIEWED
            )
        )
        loop.publish(db.session.get(Decision, decision_id))
        db.session.remove()

    while_member_chooses_spanish(app, contact_id, lambda: loop.notify_decision(decision_id))

    row = owed_row(app)
    assert (row.locale, row.kind) == ("es", "what_next")
    assert row.body is not None and SPANISH in row.body


def test_the_interim_updates_wait_for_the_change(app):
    _, item_id, contact_id = one_member(app)
    days = app.config["INTERIM_UPDATE_DAYS"]
    with app.app_context():
        db.session.execute(
            update(FeedbackItem)
            .where(FeedbackItem.id == item_id)
            .values(
                status=ItemStatus.NEW,
                decision_id=None,
                created_at=clock.now() - timedelta(days=days + 1),
            )
        )
        db.session.commit()
        db.session.remove()

    while_member_chooses_spanish(app, contact_id, loop.owe_interim_updates)

    row = owed_row(app)
    assert (row.locale, row.kind) == ("es", "interim")
    with app.app_context():
        assert row.body == render("interim", "es", ref=row.variables["ref"], days=days)


def test_closing_as_no_action_waits_for_the_change(app):
    _, item_id, contact_id = one_member(app)

    def close() -> None:
        item = db.session.get(FeedbackItem, item_id)
        assert item is not None and loop.close_no_action(item, "Not something we can change")

    while_member_chooses_spanish(app, contact_id, close)

    row = owed_row(app)
    assert (row.locale, row.kind) == ("es", "closed_no_action")
    with app.app_context():
        assert row.body == render("closed_no_action", "es", ref=row.variables["ref"])


def test_the_rating_question_waits_for_the_change(app):
    """Owed by the worker that records "what happened next" as sent."""
    from feedback_bot.jobs.send import send_outbound

    clock.freeze(MIDDAY)  # not in the member's quiet hours, which hold "what happened next"
    decision_id, _, contact_id = one_member(app)
    with app.app_context():
        loop.publish(db.session.get(Decision, decision_id))
        loop.notify_decision(decision_id)
        row_id = db.session.scalars(select(OutboundMessage.id)).one()
        db.session.remove()

    while_member_chooses_spanish(app, contact_id, lambda: send_outbound(row_id))

    with app.app_context():
        question = db.session.scalars(
            select(OutboundMessage).where(OutboundMessage.kind == "rating_question")
        ).one()
        assert question.locale == "es"
        assert question.body == render("rating_question", "es")
        db.session.remove()
