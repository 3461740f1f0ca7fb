"""A member who asks in their own words to stop messages or be forgotten: staff do it for
them from the feedback's page. The effect and the reply are the keyword's, in the member's
language; each asks first, and a later START from the member wins over an older request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from feedback_bot import clock, loop
from feedback_bot.extensions import db
from feedback_bot.jobs.sweep import sweep
from feedback_bot.models import (
    Contact,
    Decision,
    FeedbackItem,
    InboundMessage,
    MessageKind,
    Role,
    TwilioErasure,
)

from .conftest import drain, outbound
from .test_admin_items import as_role
from .test_auth import audit_entries
from .test_closing import POLISH, bodies_to, new_decision, write_in
from .test_confirmations import confirm, text_of
from .test_keywords import rendered, rows, text
from .test_loop import DAYTIME

ORG = "Riverside Council"
# Not STOP, nor any phrase a keyword list holds: only a person reading it knows.
ASKS_TO_STOP = (
    "Przeprowadzam się do Krakowa w przyszłym miesiącu, więc proszę już do mnie nie pisać "
    "w sprawie tej ulicy."
)
ASKS_TO_BE_ERASED = (
    "Jestem w schronisku dla ofiar przemocy i nie chcę, żeby mój numer był gdziekolwiek "
    "zapisany. Usuńcie wszystko."
)
WHATSAPP = "whatsapp:+48512345679"


def contact_of(app: Flask, item_id: int) -> Contact:
    with app.app_context():
        contact = db.session.get(FeedbackItem, item_id).contact
        db.session.expunge(contact)
        return contact


def publish_linked(app: Flask, item_id: int) -> None:
    """Link the item to a decision with a Polish summary and publish it."""
    decision_id = new_decision(app)
    with app.app_context():
        decision = db.session.get(Decision, decision_id)
        db.session.get(FeedbackItem, item_id).decision_id = decision.id
        db.session.commit()
        loop.publish(decision)
    drain(app)


def test_stopping_asks_first_then_stops_and_tells_the_member_in_their_language(
    app, client, fake_twilio
):
    clock.freeze(DAYTIME)
    item_id = write_in(app, client, POLISH, ASKS_TO_STOP)
    assert len(bodies_to(fake_twilio, POLISH)) == 1  # the acknowledgement: feedback, not STOP
    as_role(app, client, Role.STAFF)
    page = client.get(f"/admin/items/{item_id}").get_data(as_text=True)
    assert "data-stop-messages" in page and "data-forget-member" in page

    asked = client.post(f"/admin/items/{item_id}/stop-messages")
    assert asked.status_code == 200
    said = text_of(asked)
    label = contact_of(app, item_id).label
    assert f"Stop all messages to {label}?" in said
    assert "From now on we send them nothing" in said and "If they text START" in said
    polish_stop = rendered(app, "stop", "pl", org=ORG)
    assert polish_stop in said and "by SMS, in Polski (pl)" in said
    assert f"In English: {rendered(app, 'stop', 'en', org=ORG)}" in said  # staff read no Polish
    drain(app)
    assert not contact_of(app, item_id).opted_out  # asking changed nothing
    assert audit_entries(app, "member.stop") == []

    done = confirm(client, asked)
    assert done.headers["Location"] == f"/admin/items/{item_id}"
    drain(app)
    assert bodies_to(fake_twilio, POLISH)[1:] == [polish_stop]
    contact = contact_of(app, item_id)
    assert contact.opted_out and contact.opt_changed_at is not None
    [entry] = audit_entries(app, "member.stop")
    assert entry.target_type == "feedbackitem" and entry.target_id == item_id
    page = client.get(f"/admin/items/{item_id}").get_data(as_text=True)
    assert "data-opted-out" in page and "data-stop-messages" not in page
    assert "Stopped messages to the member, at their request" in page

    # Nothing more: not the decision, not an acknowledgement of new feedback.
    publish_linked(app, item_id)
    text(client, "Latarnia nadal nie działa.", sender=POLISH)
    drain(app)
    assert bodies_to(fake_twilio, POLISH)[1:] == [polish_stop]

    # Their START brings them back, as after a STOP they texted.
    clock.freeze(DAYTIME + timedelta(minutes=5))
    text(client, "START", sender=POLISH)
    drain(app)
    assert bodies_to(fake_twilio, POLISH)[-1] == rendered(app, "start", "pl")
    assert not contact_of(app, item_id).opted_out


# 23:30 in Warsaw, inside quiet hours (21 to 8); they end at 08:00 there, 07:00 UTC.
WARSAW_NIGHT = datetime(2026, 11, 23, 22, 30, tzinfo=UTC)
WARSAW_MORNING = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)


@pytest.mark.usefixtures("quiet_hours")
def test_stopped_by_staff_at_night_the_member_is_told_in_the_morning(app, client, fake_twilio):
    """Done hours after the member asked, the confirmation comes out of the blue: it waits
    for the morning, as any such message does. The stop itself is at once."""
    clock.freeze(DAYTIME)
    item_id = write_in(app, client, POLISH, ASKS_TO_STOP)
    as_role(app, client, Role.STAFF)
    clock.freeze(WARSAW_NIGHT)

    asked = client.post(f"/admin/items/{item_id}/stop-messages")
    assert "It is night where they are, so it goes at 07:00 UTC" in text_of(asked)
    done = confirm(client, asked)
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "goes at 07:00 UTC, when it is no longer night where they are" in page
    drain(app)
    assert contact_of(app, item_id).opted_out
    assert len(bodies_to(fake_twilio, POLISH)) == 1  # the acknowledgement, no more yet

    clock.freeze(WARSAW_MORNING - timedelta(minutes=1))
    with app.app_context():
        sweep()
    drain(app)
    assert len(bodies_to(fake_twilio, POLISH)) == 1
    clock.freeze(WARSAW_MORNING)
    with app.app_context():
        sweep()
    drain(app)
    assert bodies_to(fake_twilio, POLISH)[1:] == [rendered(app, "stop", "pl", org=ORG)]


@pytest.mark.usefixtures("quiet_hours")
def test_erased_by_staff_at_night_the_member_is_told_at_once(app, client, fake_twilio):
    """A FORGET's confirmation is the last use of a number we were asked to erase: it does
    not keep it overnight."""
    clock.freeze(DAYTIME)
    item_id = write_in(app, client, POLISH, ASKS_TO_BE_ERASED)
    as_role(app, client, Role.STAFF)
    clock.freeze(WARSAW_NIGHT)

    asked = client.post(f"/admin/items/{item_id}/forget-member")
    assert "It is night where they are" not in text_of(asked)
    confirm(client, asked)
    drain(app)
    assert bodies_to(fake_twilio, POLISH)[1:] == [rendered(app, "forget", "pl")]
    assert all(row.to_ciphertext is None for row in outbound(app))


def test_stopping_again_or_after_a_later_start_changes_nothing(app, client, fake_twilio):
    clock.freeze(DAYTIME)
    item_id = write_in(app, client, POLISH, ASKS_TO_STOP)
    clock.freeze(DAYTIME + timedelta(hours=1))
    text(client, "STOP", sender=POLISH)
    clock.freeze(DAYTIME + timedelta(hours=2))
    text(client, "START", sender=POLISH)
    drain(app)
    sent = len(fake_twilio.messages)
    as_role(app, client, Role.STAFF)

    # They texted START after the feedback that asked: their latest word stands.
    landed = client.post(
        f"/admin/items/{item_id}/stop-messages", data={"confirmed": "yes"}, follow_redirects=True
    )
    assert "Not stopped: the member texted START on 2026-11-23 14:00 UTC" in text_of(landed)
    drain(app)
    assert not contact_of(app, item_id).opted_out
    assert len(fake_twilio.messages) == sent
    assert audit_entries(app, "member.stop") == []

    # Feedback written after their START asks again: that request is done.
    clock.freeze(DAYTIME + timedelta(hours=3))
    later_id = write_in(app, client, POLISH, ASKS_TO_STOP + " Naprawdę.")
    sent = len(fake_twilio.messages)
    client.post(f"/admin/items/{later_id}/stop-messages", data={"confirmed": "yes"})
    drain(app)
    assert contact_of(app, later_id).opted_out
    stopped = rendered(app, "stop", "pl", org=ORG)
    assert [m["body"] for m in fake_twilio.messages[sent:]] == [stopped]

    # A second press (two staff, or a page left open) sends nothing more.
    told = len(fake_twilio.messages)
    landed = client.post(
        f"/admin/items/{later_id}/stop-messages", data={"confirmed": "yes"}, follow_redirects=True
    )
    assert "This member has opted out already" in text_of(landed)
    drain(app)
    assert len(fake_twilio.messages) == told
    assert len(audit_entries(app, "member.stop")) == 1


def test_erasing_asks_first_then_erases_everything_and_sends_a_last_message(
    app, client, fake_twilio
):
    clock.freeze(DAYTIME)
    first_id = write_in(app, client, POLISH, "Na ulicy Długiej nie świeci latarnia.")
    text(
        client,
        "Zdjęcie latarni",
        sender=POLISH,
        media=[("https://api.twilio.com/m/photo", "image/jpeg")],
    )
    clock.freeze(DAYTIME + timedelta(minutes=30))
    item_id = write_in(app, client, POLISH, ASKS_TO_BE_ERASED)
    as_role(app, client, Role.STAFF)

    asked = client.post(f"/admin/items/{item_id}/forget-member")
    assert asked.status_code == 200
    said = text_of(asked)
    label = contact_of(app, item_id).label
    assert f"Erase {label}'s number and messages?" in said
    assert "the 3 messages they sent, are erased here, and Twilio's copies" in said
    assert "This cannot be undone." in said
    polish_forget = rendered(app, "forget", "pl")
    assert polish_forget in said
    drain(app)
    assert not contact_of(app, item_id).forgotten

    sent_before = bodies_to(fake_twilio, POLISH)
    confirm(client, asked)
    drain(app)
    assert bodies_to(fake_twilio, POLISH) == [*sent_before, polish_forget]
    contact = contact_of(app, item_id)
    assert contact.forgotten and contact.phone_hash is None and contact.phone_ciphertext is None
    messages = rows(app, InboundMessage)
    assert [m.body for m in messages] == [None, None, None]
    assert all(m.erased_at is not None for m in messages)
    # The feedback stays, without its words, and Twilio's copies are owed their deletion.
    assert {item.id for item in rows(app, FeedbackItem)} >= {first_id, item_id}
    with app.app_context():
        owed = set(db.session.scalars(select(TwilioErasure.sid)))
    assert {m.message_sid for m in messages} <= owed
    # Once sent, the last message keeps no number either.
    assert all(row.to_ciphertext is None for row in outbound(app))
    [entry] = audit_entries(app, "member.forget")
    assert entry.target_id == item_id and entry.detail == {"contact_id": contact.id}

    page = client.get(f"/admin/items/{item_id}").get_data(as_text=True)
    assert "(asked to be forgotten)" in page and "data-member-requests" not in page
    assert "Erased the member's number and messages, at their request" in page
    # Whoever writes from the number next is somebody new.
    text(client, "Dzień dobry, mam pytanie o autobusy.", sender=POLISH)
    drain(app)
    assert len(rows(app, Contact)) == 2


def test_a_whatsapp_member_past_the_window_is_erased_untold_or_told_by_sms(
    app, client, fake_twilio
):
    clock.freeze(DAYTIME)
    item_id = write_in(app, client, WHATSAPP, ASKS_TO_BE_ERASED)
    as_role(app, client, Role.STAFF)
    clock.freeze(DAYTIME + timedelta(days=2))
    sent = len(fake_twilio.messages)

    asked = client.post(f"/admin/items/{item_id}/forget-member")
    assert "They cannot be told: they last wrote on WhatsApp more than a day ago" in text_of(asked)
    landed = client.post(
        f"/admin/items/{item_id}/forget-member",
        data={"confirmed": "yes"},
        follow_redirects=True,
    )
    assert "They could not be told" in text_of(landed)
    drain(app)
    assert contact_of(app, item_id).forgotten
    assert len(fake_twilio.messages) == sent
    # No row waits for a WhatsApp template holding the number of someone we erased.
    assert [row.kind for row in outbound(app)] == [MessageKind.ACK]


def test_a_member_who_also_texts_is_told_by_sms_past_the_whatsapp_window(app, client, fake_twilio):
    clock.freeze(DAYTIME)
    number = WHATSAPP.removeprefix("whatsapp:")
    write_in(app, client, number, "Autobus 12 nie przyjechał dziś rano.")
    item_id = write_in(app, client, WHATSAPP, ASKS_TO_STOP)
    as_role(app, client, Role.STAFF)
    clock.freeze(DAYTIME + timedelta(days=2))

    asked = client.post(f"/admin/items/{item_id}/stop-messages")
    assert "Our last message to them, by SMS, in Polski (pl)" in text_of(asked)
    confirm(client, asked)
    drain(app)
    last = fake_twilio.messages[-1]
    assert last["to"] == number and last["body"] == rendered(app, "stop", "pl", org=ORG)


def test_interpreters_cannot_stop_or_erase_members_nor_see_the_buttons(app, client, fake_twilio):
    clock.freeze(DAYTIME)
    item_id = write_in(app, client, POLISH, ASKS_TO_BE_ERASED)
    as_role(app, client, Role.INTERPRETER)
    page = client.get(f"/admin/items/{item_id}").get_data(as_text=True)
    assert "data-member-requests" not in page
    for action in ("stop-messages", "forget-member"):
        response = client.post(f"/admin/items/{item_id}/{action}", data={"confirmed": "yes"})
        assert response.status_code == 403
    contact = contact_of(app, item_id)
    assert not contact.opted_out and not contact.forgotten
