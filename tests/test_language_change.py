"""A member who changes language is sent what we still owe them in the new one: rows
waiting to go are rendered again, in the transaction that changes the language."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from feedback_bot import clock, loop
from feedback_bot.extensions import db
from feedback_bot.jobs.sweep import sweep
from feedback_bot.messaging.templates import render
from feedback_bot.models import (
    Contact,
    Decision,
    FeedbackItem,
    MessageKind,
    OutboundMessage,
    OutboundStatus,
)
from feedback_bot.outbox import claim

from .conftest import QUIET_HOURS, drain, outbound, send_sms
from .test_loop import (
    NIGHT,
    POLISH_SUMMARY,
    SUMMARY,
    link_all_and_publish,
    make_decision,
    morning_comes,
)

UK = "+447911123456"
LIFT = "The lift in our block has been broken for weeks."


def bodies_to(fake_twilio, number: str) -> list[str]:
    return [m["body"] for m in fake_twilio.messages_to(number)]


def ref(app: Flask) -> str:
    with app.app_context():
        return db.session.scalars(select(FeedbackItem)).one().ref


def rendered(app: Flask, kind: str, locale: str, **values: str) -> str:
    with app.app_context():
        return render(kind, locale, **values)


def choose_polish(app: Flask, client: FlaskClient) -> None:
    """The member asks for the language menu and picks Polish (direct replies go at once,
    quiet hours or not)."""
    send_sms(client, UK, "LANGUAGE")
    send_sms(client, UK, "Polski")  # a worker runs its intake job
    with app.app_context():
        assert db.session.scalars(select(Contact.locale)).one() == "pl"


def what_next_held_at_night(app: Flask, client: FlaskClient, translations: dict[str, str]) -> int:
    """An English member is told of a decision published at night: "what happened next"
    waits for the morning. Returns the decision's id."""
    clock.freeze(NIGHT)
    send_sms(client, UK, LIFT)
    drain(app)
    decision_id = make_decision(app, translations)
    link_all_and_publish(app, decision_id)
    drain(app)
    [held] = [r for r in outbound(app) if r.kind == MessageKind.WHAT_NEXT]
    assert (held.status, held.locale) == (OutboundStatus.PENDING, "en")
    return decision_id


@pytest.mark.usefixtures("quiet_hours")
def test_what_happened_next_held_for_the_morning_goes_in_the_language_chosen_since(
    app, client, fake_twilio
):
    what_next_held_at_night(app, client, {"pl": POLISH_SUMMARY})

    choose_polish(app, client)
    morning_comes(app)

    # Not the English text followed by the Polish question: both in Polish.
    assert bodies_to(fake_twilio, UK)[-2:] == [
        rendered(app, "what_next", "pl", ref=ref(app), summary=POLISH_SUMMARY),
        rendered(app, "rating_question", "pl"),
    ]
    [row] = [r for r in outbound(app) if r.kind == MessageKind.WHAT_NEXT]
    assert (row.locale, row.variables["summary"]) == ("pl", POLISH_SUMMARY)


@pytest.mark.usefixtures("quiet_hours")
def test_without_a_translation_the_member_waits_for_one_like_anyone_in_that_language(
    app, client, fake_twilio
):
    decision_id = what_next_held_at_night(app, client, {})

    choose_polish(app, client)
    morning_comes(app)

    sent = bodies_to(fake_twilio, UK)
    assert not any(SUMMARY in body for body in sent)  # never the English text
    [row] = [r for r in outbound(app) if r.kind == MessageKind.WHAT_NEXT]
    assert row.status == OutboundStatus.CANCELLED
    with app.app_context():
        decision = db.session.get(Decision, decision_id)
        assert loop.awaiting_translation(decision) == {"pl": 1}

        from feedback_bot.interpreting.saving import save_decision_summary

        save_decision_summary(None, decision, "pl", POLISH_SUMMARY, "reviewed")
    drain(app)

    assert bodies_to(fake_twilio, UK)[len(sent) :] == [
        rendered(app, "what_next", "pl", ref=ref(app), summary=POLISH_SUMMARY),
        rendered(app, "rating_question", "pl"),
    ]


def test_a_template_message_held_for_the_morning_is_rendered_again(make_app, fake_twilio):
    """ "Still working on it", owed at night after 22 days of waiting, then the member
    switches to Polish before the morning."""
    app = make_app(INTERIM_UPDATE_DAYS=21, **QUIET_HOURS)
    client = app.test_client()
    clock.freeze(datetime(2026, 11, 1, 12, 0, tzinfo=UTC))
    send_sms(client, UK, LIFT)
    drain(app)
    clock.freeze(NIGHT)
    with app.app_context():
        sweep()
    [held] = [r for r in outbound(app) if r.kind == MessageKind.INTERIM]
    assert (held.status, held.locale) == (OutboundStatus.PENDING, "en")

    choose_polish(app, client)
    morning_comes(app)

    assert bodies_to(fake_twilio, UK)[-1] == rendered(app, "interim", "pl", ref=ref(app), days=21)


@pytest.mark.parametrize("held", ["by a worker sending it", "in doubt after a timeout"])
@pytest.mark.usefixtures("quiet_hours")
def test_a_row_that_may_reach_the_member_is_left_as_it_is(app, client, held):
    what_next_held_at_night(app, client, {"pl": POLISH_SUMMARY})
    with app.app_context():
        row = db.session.scalars(select(OutboundMessage).filter_by(kind="what_next")).one()
        before = row.body
        if held == "by a worker sending it":
            clock.freeze(NIGHT.replace(hour=23))
            row.next_attempt_at = None
            db.session.commit()
            assert claim(row.id) is not None
        else:
            row.unconfirmed_since = clock.now()
            db.session.commit()

    choose_polish(app, client)

    [row] = [r for r in outbound(app) if r.kind == MessageKind.WHAT_NEXT]
    assert (row.body, row.locale) == (before, "en")


def test_a_member_waiting_for_a_translation_who_chooses_a_language_that_has_one_is_told(
    app, client, fake_twilio
):
    """Linked to a published decision with no Polish summary, a Polish member waits; they
    choose English from the menu, which has one: the decision goes to them, in English."""
    send_sms(client, "+48512345678", "Winda w naszym bloku jest zepsuta od tygodni.")
    drain(app)
    with app.app_context():
        decision = Decision(title="Lift", summary="We will repair the lift by 1 March.")
        db.session.add(decision)
        db.session.commit()
        loop.link(decision, list(db.session.scalars(select(FeedbackItem))))
        loop.publish(decision)
    drain(app)
    assert not any("1 March" in m["body"] for m in fake_twilio.messages)  # waits

    send_sms(client, "+48512345678", "LANGUAGE")
    send_sms(client, "+48512345678", "1")  # English
    drain(app)

    told = [m["body"] for m in fake_twilio.messages if "1 March" in m["body"]]
    assert len(told) == 1 and told[0].startswith("About your feedback")
