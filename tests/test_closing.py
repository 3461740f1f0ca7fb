"""Closing feedback as "no action": the member is told, in their language, that we read it
and are not taking it further (never the staff's reason), and asked whether they felt heard;
a "no" has a person look again. A closed item hears nothing of a decision, unless staff
link it again, which reopens it."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from feedback_bot import clock, loop
from feedback_bot.extensions import db
from feedback_bot.messaging.templates import render
from feedback_bot.models import (
    Decision,
    DecisionTranslation,
    FeedbackItem,
    ItemStatus,
    MessageKind,
    OutboundMessage,
    OutboundStatus,
    Role,
)

from .conftest import drain, outbound, send_sms
from .test_admin_items import as_role
from .test_auth import audit_entries
from .test_loop import (
    DAYTIME,
    MORNING,
    NIGHT,
    POLISH_SUMMARY,
    SUMMARY,
    morning_comes,
    told_of_a_decision,
)
from .test_whatsapp import status_callback

UK = "+447911123456"
POLISH = "+48512345678"
LIFT = "The lift in our block has been broken for weeks."
LIGHTS = "Dzień dobry, na naszej ulicy od dwóch tygodni nie działa oświetlenie uliczne."
REASON = "The street lights belong to the county, not to us."
CLOSED = MessageKind.CLOSED_NO_ACTION


def write_in(app: Flask, client: FlaskClient, number: str, text: str) -> int:
    """A member's feedback, acknowledged; returns its item's id."""
    send_sms(client, number, text)
    drain(app)
    with app.app_context():
        return db.session.scalars(
            select(FeedbackItem.id).order_by(FeedbackItem.id.desc()).limit(1)
        ).one()


def ref_of(app: Flask, item_id: int) -> str:
    with app.app_context():
        return db.session.get(FeedbackItem, item_id).ref


def state_of(app: Flask, item_id: int) -> tuple[str, int | None]:
    with app.app_context():
        item = db.session.get(FeedbackItem, item_id)
        return item.status, item.decision_id


def bodies_to(fake_twilio, number: str) -> list[str]:
    return [m["body"] for m in fake_twilio.messages_to(number)]


def closure(app: Flask, locale: str, item_id: int) -> str:
    with app.app_context():
        return render(CLOSED, locale, ref=ref_of(app, item_id))


def closure_asked(app: Flask, locale: str, item_id: int) -> list[str]:
    """What the member reads once the item is closed: the closure, then "Did we listen?"."""
    with app.app_context():
        return [closure(app, locale, item_id), render("rating_question", locale)]


def new_decision(app: Flask, published: bool = False, polish: bool = True) -> int:
    with app.app_context():
        decision = Decision(title="Street lights", summary=SUMMARY)
        if polish:
            decision.translations.append(DecisionTranslation(locale="pl", summary=POLISH_SUMMARY))
        db.session.add(decision)
        db.session.commit()
        if published:
            loop.publish(decision)
        return decision.id


def publish(app: Flask, decision_id: int) -> None:
    with app.app_context():
        loop.publish(db.session.get(Decision, decision_id))


def close(client: FlaskClient, item_id: int, reason: str = REASON) -> str:
    """Close from the item's page, confirming; returns the page it lands on."""
    response = client.post(
        f"/admin/items/{item_id}/close",
        data={"reason": reason, "confirmed": "yes"},
        follow_redirects=True,
    )
    assert response.status_code == 200
    return response.get_data(as_text=True)


def link(client: FlaskClient, item_id: int, decision_id: int) -> str:
    """Link from the item's page, confirming (a published decision texts the member)."""
    response = client.post(
        f"/admin/items/{item_id}/link",
        data={"decision_id": decision_id, "confirmed": "yes"},
        follow_redirects=True,
    )
    assert response.status_code == 200
    return response.get_data(as_text=True)


def rows_of(app: Flask, item_id: int, kind: str) -> list[OutboundMessage]:
    return [r for r in outbound(app) if r.item_id == item_id and r.kind == kind]


def closed_and_told(app: Flask, client: FlaskClient, number: str, text: str, when=DAYTIME) -> int:
    """A member's feedback, closed by staff (signed in as staff from here on) and the
    closure sent, if ``when`` allows; returns the item's id."""
    clock.freeze(when)
    item_id = write_in(app, client, number, text)
    as_role(app, client, Role.STAFF)
    close(client, item_id)
    drain(app)
    return item_id


# ----------------------------------------------------------- the member is told (fix 1)


def test_closing_tells_the_member_in_their_language_and_keeps_the_reason(app, client, fake_twilio):
    clock.freeze(DAYTIME)
    item_id = write_in(app, client, POLISH, LIGHTS)
    as_role(app, client, Role.STAFF)

    page = close(client, item_id)
    drain(app)

    # Their language, a set text interpreters translated: never the staff's own words.
    assert bodies_to(fake_twilio, POLISH)[1:] == closure_asked(app, "pl", item_id)
    assert REASON not in " ".join(m["body"] or "" for m in fake_twilio.messages)
    with app.app_context():
        item = db.session.get(FeedbackItem, item_id)
        assert (item.status, item.closed_reason) == (ItemStatus.CLOSED, REASON)
    # The panel says what really happens.
    assert "will be told why" not in page
    assert "Your reason is kept for staff" in page
    assert "we read their feedback and are not taking it further" in page
    assert "asked whether they felt heard" in page

    # Once per closure: closing again owes nothing.
    close(client, item_id)
    with app.app_context():
        loop.close_no_action(db.session.get(FeedbackItem, item_id), REASON)
    drain(app)
    assert len(bodies_to(fake_twilio, POLISH)) == 3
    [row] = rows_of(app, item_id, CLOSED)
    assert row.locale == "pl"


def test_the_item_page_says_what_closing_and_linking_do(app, client):
    clock.freeze(DAYTIME)
    item_id = write_in(app, client, UK, LIFT)
    as_role(app, client, Role.STAFF)
    page = client.get(f"/admin/items/{item_id}").get_data(as_text=True)
    assert "the member is told this" not in page
    assert "kept for staff" in page
    assert "not taking it further" in page

    link(client, item_id, new_decision(app))
    page = client.get(f"/admin/items/{item_id}").get_data(as_text=True)
    assert "Closing unlinks it from “Street lights”" in page

    close(client, item_id)
    page = client.get(f"/admin/items/{item_id}").get_data(as_text=True)
    assert "Linking it to a decision reopens it" in page


def test_bulk_close_tells_each_member_in_their_language(app, client, fake_twilio):
    clock.freeze(DAYTIME)
    english = write_in(app, client, UK, LIFT)
    polish = write_in(app, client, POLISH, LIGHTS)
    as_role(app, client, Role.STAFF)

    response = client.post(
        "/admin/items/bulk",
        data={
            "item_ids": [english, polish],
            "action": "close",
            "reason": REASON,
            "confirmed": "yes",
        },
        follow_redirects=True,
    )
    drain(app)

    assert bodies_to(fake_twilio, UK)[1:] == closure_asked(app, "en", english)
    assert bodies_to(fake_twilio, POLISH)[1:] == closure_asked(app, "pl", polish)
    assert "Closed 2 item(s) as no action" in response.get_data(as_text=True)
    assert sorted(e.target_id for e in audit_entries(app, "item.close")) == [english, polish]


@pytest.mark.usefixtures("quiet_hours")
def test_the_closure_waits_out_quiet_hours(app, client, fake_twilio):
    item_id = closed_and_told(app, client, UK, LIFT, NIGHT)

    [row] = rows_of(app, item_id, CLOSED)
    quiet_hours_end = MORNING.replace(minute=0)
    assert (row.status, row.next_attempt_at) == (OutboundStatus.PENDING, quiet_hours_end)
    assert len(fake_twilio.messages) == 1  # the acknowledgement only

    morning_comes(app)
    assert bodies_to(fake_twilio, UK)[1:] == closure_asked(app, "en", item_id)


def test_a_member_who_opted_out_is_not_told(app, client, fake_twilio):
    clock.freeze(DAYTIME)
    item_id = write_in(app, client, UK, LIFT)
    send_sms(client, UK, "STOP")
    drain(app)
    sent = len(fake_twilio.messages)
    as_role(app, client, Role.STAFF)

    page = close(client, item_id)
    drain(app)

    assert rows_of(app, item_id, CLOSED) == []
    assert len(fake_twilio.messages) == sent
    assert "the member gets no messages from us" in page


def test_a_told_item_is_not_closed_as_no_action(app, client, fake_twilio):
    """Its member heard what we did, and was asked whether they felt heard: "we will not
    be taking it further" would contradict that."""
    told_of_a_decision(app, client)
    sent = len(fake_twilio.messages)
    with app.app_context():
        item_id = db.session.scalars(select(FeedbackItem.id)).one()
    as_role(app, client, Role.STAFF)

    page = close(client, item_id)
    drain(app)

    assert state_of(app, item_id)[0] == ItemStatus.TOLD
    assert len(fake_twilio.messages) == sent
    assert audit_entries(app, "item.close") == []
    assert "Not closed" in page
    assert "Close as no action" not in client.get(f"/admin/items/{item_id}").get_data(as_text=True)


# --------------------------------------- a closed item hears nothing of a decision (fix 2)


def test_an_item_closed_while_linked_to_a_draft_is_not_told_when_it_is_published(
    app, client, fake_twilio
):
    clock.freeze(DAYTIME)
    item_id = write_in(app, client, POLISH, LIGHTS)
    decision_id = new_decision(app)
    as_role(app, client, Role.STAFF)
    link(client, item_id, decision_id)
    close(client, item_id)
    drain(app)
    told = len(fake_twilio.messages)

    publish(app, decision_id)
    drain(app)

    assert len(fake_twilio.messages) == told  # no "what happened next", no question
    assert state_of(app, item_id) == (ItemStatus.CLOSED, None)
    assert rows_of(app, item_id, MessageKind.WHAT_NEXT) == []
    [closing] = audit_entries(app, "item.close")
    assert closing.detail == {"reason": REASON, "unlinked_decision_id": decision_id}


def test_linking_a_closed_item_reopens_it_and_the_member_is_told_the_decision(
    app, client, fake_twilio
):
    clock.freeze(DAYTIME)
    item_id = write_in(app, client, POLISH, LIGHTS)
    as_role(app, client, Role.STAFF)
    close(client, item_id)
    decision_id = new_decision(app, published=True)
    drain(app)
    told = len(bodies_to(fake_twilio, POLISH))

    page = link(client, item_id, decision_id)
    drain(app)

    assert state_of(app, item_id) == (ItemStatus.TOLD, decision_id)
    with app.app_context():
        assert db.session.get(FeedbackItem, item_id).closed_reason is None
        ref = ref_of(app, item_id)
        assert bodies_to(fake_twilio, POLISH)[told:] == [
            render("what_next", "pl", ref=ref, summary=POLISH_SUMMARY),
            render("rating_question", "pl"),
        ]
    assert "reopened" in page and "the member will be told this decision" in page
    [linking] = audit_entries(app, "item.link")
    assert linking.detail["reopened"] is True
    assert "reopening it" in client.get(f"/admin/items/{item_id}").get_data(as_text=True)


@pytest.mark.usefixtures("quiet_hours")
def test_closing_cancels_what_happened_next_not_sent_yet_and_linking_again_tells_it(
    app, client, fake_twilio
):
    """Published at night: "what happened next" waits for the morning. Staff close the item
    meanwhile: in the morning the member hears only that we are not taking it further.
    Linked again to the same decision, the member is told it after all."""
    clock.freeze(NIGHT)
    item_id = write_in(app, client, UK, LIFT)
    decision_id = new_decision(app)
    as_role(app, client, Role.STAFF)
    link(client, item_id, decision_id)
    publish(app, decision_id)
    drain(app)
    [held] = rows_of(app, item_id, MessageKind.WHAT_NEXT)
    assert held.status == OutboundStatus.PENDING

    close(client, item_id)
    morning_comes(app)
    assert bodies_to(fake_twilio, UK)[1:] == closure_asked(app, "en", item_id)
    [cancelled] = rows_of(app, item_id, MessageKind.WHAT_NEXT)
    assert cancelled.status == OutboundStatus.CANCELLED

    link(client, item_id, decision_id)
    drain(app)
    with app.app_context():
        assert bodies_to(fake_twilio, UK)[3:] == [
            render("what_next", "en", ref=ref_of(app, item_id), summary=SUMMARY),
            render("rating_question", "en"),
        ]
    assert state_of(app, item_id) == (ItemStatus.TOLD, decision_id)


@pytest.mark.usefixtures("quiet_hours")
def test_linking_cancels_a_closure_not_sent_yet_and_a_new_closure_is_told_again(
    app, client, fake_twilio
):
    clock.freeze(NIGHT)
    item_id = write_in(app, client, UK, LIFT)
    decision_id = new_decision(app)
    as_role(app, client, Role.STAFF)
    close(client, item_id)
    link(client, item_id, decision_id)  # before the closure went: it never goes
    morning_comes(app)
    assert len(fake_twilio.messages) == 1  # the acknowledgement only
    [cancelled] = rows_of(app, item_id, CLOSED)
    assert cancelled.status == OutboundStatus.CANCELLED

    close(client, item_id, "Not ours after all.")  # a second closure is told
    drain(app)
    assert bodies_to(fake_twilio, UK)[1:] == closure_asked(app, "en", item_id)
    assert state_of(app, item_id) == (ItemStatus.CLOSED, None)


# ----------------------------------------------- asked whether they felt heard (fix 3)


def test_a_no_after_the_closure_has_a_person_look_again(app, client, fake_twilio):
    """ "We will not be taking it further" is an answer too: the member is asked "Did we
    listen?" about it, and a "3" reopens the item for staff, who see it waiting again."""
    item_id = closed_and_told(app, client, POLISH, LIGHTS)
    [question] = rows_of(app, item_id, MessageKind.RATING_QUESTION)
    assert (question.locale, question.decision_id) == ("pl", None)

    send_sms(client, POLISH, "3")
    drain(app)

    with app.app_context():
        item = db.session.get(FeedbackItem, item_id)
        assert (item.status, item.rating, item.reopened_at) == (ItemStatus.REOPENED, "no", DAYTIME)
        assert loop.awaits_decision(item)  # "still working on it" again, until staff act
        reopened = render(
            MessageKind.RATING_REOPENED,
            "pl",
            ref=item.ref,
            days=app.config["INTERIM_UPDATE_DAYS"],
        )
    assert bodies_to(fake_twilio, POLISH)[-1] == reopened
    ref = ref_of(app, item_id)
    assert ref in client.get("/admin/items?status=reopened").get_data(as_text=True)
    assert ref not in client.get("/admin/items?status=closed").get_data(as_text=True)

    # Staff may close it again: that closure is told, and asked about, once more.
    close(client, item_id, "Still the county's.")
    drain(app)
    assert bodies_to(fake_twilio, POLISH)[-2:] == closure_asked(app, "pl", item_id)
    assert len(rows_of(app, item_id, MessageKind.RATING_QUESTION)) == 2


def test_a_yes_after_the_closure_is_recorded_and_the_item_stays_closed(app, client, fake_twilio):
    item_id = closed_and_told(app, client, UK, LIFT)

    send_sms(client, UK, "1")
    drain(app)

    with app.app_context():
        item = db.session.get(FeedbackItem, item_id)
        assert (item.status, item.rating) == (ItemStatus.CLOSED, "yes")
        assert bodies_to(fake_twilio, UK)[-1] == render(MessageKind.RATING_THANKS, "en")


@pytest.mark.usefixtures("quiet_hours")
def test_a_closure_that_went_after_the_item_was_linked_again_asks_nothing(app, client):
    """A worker held the closure while staff linked the item again: the decision will ask
    whether the member felt heard, not the closure."""
    clock.freeze(NIGHT)
    item_id = write_in(app, client, UK, LIFT)
    as_role(app, client, Role.STAFF)
    close(client, item_id)
    link(client, item_id, new_decision(app))
    with app.app_context():
        [row] = rows_of(app, item_id, CLOSED)
        assert loop.record_told(db.session.get(OutboundMessage, row.id)) == []
        db.session.commit()
    assert rows_of(app, item_id, MessageKind.RATING_QUESTION) == []


def test_a_closure_repeated_by_sms_is_asked_about_once(app, client, fake_twilio):
    """The closure went on WhatsApp and then failed; its SMS fallback is the same closure,
    so the member is not asked a second time."""
    whatsapp, sms = "whatsapp:" + POLISH, POLISH
    clock.freeze(DAYTIME)
    item_id = write_in(app, client, whatsapp, LIGHTS)
    send_sms(client, sms, "Też piszę SMS-em.")  # Twilio may reach them by SMS too
    drain(app)
    as_role(app, client, Role.STAFF)
    close(client, item_id)
    drain(app)
    [told] = [
        m for m in fake_twilio.messages_to(whatsapp) if m["body"] == closure(app, "pl", item_id)
    ]

    assert status_callback(client, told, "undelivered", "63024").status_code == 204
    drain(app)

    assert closure(app, "pl", item_id) in bodies_to(fake_twilio, sms)
    [question] = rows_of(app, item_id, MessageKind.RATING_QUESTION)
    assert question.channel == "whatsapp"


def test_after_staff_link_the_item_again_the_closure_question_is_not_asked_or_answered(
    app, client, fake_twilio
):
    """The member was asked about the closure, then staff linked the item to a decision
    still in draft: a "3" now must not reopen it under that decision, nor a "1" rate it."""
    item_id = closed_and_told(app, client, UK, LIFT)
    link(client, item_id, new_decision(app))

    send_sms(client, UK, "3")
    drain(app)

    with app.app_context():
        item = db.session.get(FeedbackItem, item_id)
        assert (item.status, item.rating, item.reopened_at) == (ItemStatus.LINKED, None, None)


@pytest.mark.usefixtures("quiet_hours")
def test_linking_cancels_a_closure_question_not_sent_yet(app, client):
    """The closure reached Twilio just before quiet hours; its question waits for the
    morning. Staff link the item meanwhile: the question never goes."""
    clock.freeze(NIGHT)
    item_id = write_in(app, client, UK, LIFT)
    as_role(app, client, Role.STAFF)
    close(client, item_id)
    with app.app_context():
        [row] = rows_of(app, item_id, CLOSED)
        [owed] = loop.record_told(db.session.get(OutboundMessage, row.id))
        db.session.commit()

    link(client, item_id, new_decision(app))

    with app.app_context():
        question = db.session.get(OutboundMessage, owed)
        assert (question.kind, question.status) == (
            MessageKind.RATING_QUESTION,
            OutboundStatus.CANCELLED,
        )
