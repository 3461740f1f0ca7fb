"""A "what happened next" not sent yet says what the decision says now.

The body is rendered when the message is owed; it may then wait (quiet hours, the send
rate, a WhatsApp template). When staff edit the summary without telling those already told,
or an interpreter saves a translation again, or the translation is outdated by a new summary,
a message still waiting with the old text is cancelled in the same commit and its member is
owed the current text (or waits for the new translation), once. Members already told this
version are not waiting for anything, and are not counted as waiting.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from feedback_bot import clock, loop
from feedback_bot.extensions import db
from feedback_bot.interpreting.saving import save_decision_summary
from feedback_bot.messaging.templates import render
from feedback_bot.models import (
    Decision,
    FeedbackItem,
    MessageKind,
    OutboundMessage,
    OutboundStatus,
    Role,
)
from feedback_bot.outbox import claim, defer, mark_accepted, mark_retry

from .conftest import drain, outbound, send_sms
from .test_auth import create_user, sign_in
from .test_loop import (
    DAYTIME,
    MORNING,
    NIGHT,  # quiet hours in London and Warsaw
    POLISH,
    POLISH_SUMMARY,
    SUMMARY,
    UK,
    bodies_to,
    link_all_and_publish,
    make_decision,
    morning_comes,
    owe_what_next_here,
    update_summary,
)
from .test_whatsapp import (
    NUMBER,
    WHATSAPP,
    member_writes_on_whatsapp,
    publish_decision,
    status_callback,
)

NEW_SUMMARY = "We will replace the lift by 1 June."
NEW_POLISH = "Wymienimy windę do 1 czerwca."
CORRECTED_POLISH = "Naprawimy windę do 1 marca 2027."


def rendered(app, kind: str, locale: str, **values: str) -> str:
    with app.app_context():
        return render(kind, locale, **values)


def refs(app) -> dict[str, str]:
    with app.app_context():
        return {item.locale: item.ref for item in db.session.scalars(select(FeedbackItem))}


def decision_of(app) -> int:
    with app.app_context():
        return db.session.scalars(select(Decision.id)).one()


def edit_without_telling(app, decision_id: int, summary: str) -> None:
    """Staff change the summary and leave "tell those already told" unticked."""
    update_summary(app, decision_id, summary, notify=False)


def what_next(app) -> list[tuple[str, int | None, str, str | None]]:
    """(kind, revision, status, error code) of every "what happened next", oldest first."""
    return [
        (r.kind, r.decision_revision, r.status, r.error_code)
        for r in outbound(app)
        if r.kind in (MessageKind.WHAT_NEXT, MessageKind.WHAT_NEXT_UPDATE)
    ]


def told_with(fake_twilio, number: str, text: str) -> list[str]:
    return [body for body in bodies_to(fake_twilio, number) if text in (body or "")]


@pytest.mark.usefixtures("quiet_hours")
def test_messages_held_for_the_night_go_with_the_text_edited_before_morning(
    app, client, fake_twilio
):
    """Published at night: both members' messages wait for the morning. Staff change the
    summary without telling those already told (nobody has been told yet). In the morning
    the English member gets the new text, never the old; the Polish member's old Polish
    text, now outdated, never goes: they wait, visibly, for the new translation, and get
    it when it is saved, as the decision itself, once."""
    clock.freeze(NIGHT)
    send_sms(client, UK, "The lift in our block has been broken for weeks.")
    send_sms(client, POLISH, "Winda w naszym bloku jest zepsuta od tygodni.")
    drain(app)
    decision_id = make_decision(app, {"pl": POLISH_SUMMARY})
    link_all_and_publish(app, decision_id)
    drain(app)

    edit_without_telling(app, decision_id, NEW_SUMMARY)
    with app.app_context():
        # In the edit's own commit: nothing old is left waiting for a worker to claim it.
        held = db.session.scalars(
            select(OutboundMessage).where(OutboundMessage.status == OutboundStatus.PENDING)
        ).all()
        assert [row.variables["summary"] for row in held] == []
        assert loop.awaiting_translation(db.session.get(Decision, decision_id)) == {"pl": 1}
    morning_comes(app)

    ref = refs(app)
    assert told_with(fake_twilio, UK, SUMMARY) == []
    assert told_with(fake_twilio, POLISH, POLISH_SUMMARY) == []
    assert bodies_to(fake_twilio, UK)[1:] == [
        rendered(app, "what_next", "en", ref=ref["en"], summary=NEW_SUMMARY),
        rendered(app, "rating_question", "en"),
    ]
    assert bodies_to(fake_twilio, POLISH)[1:] == []

    with app.app_context():
        save_decision_summary(
            None, db.session.get(Decision, decision_id), "pl", NEW_POLISH, "reviewed"
        )
    drain(app)
    assert bodies_to(fake_twilio, POLISH)[1:] == [
        rendered(app, "what_next", "pl", ref=ref["pl"], summary=NEW_POLISH),
        rendered(app, "rating_question", "pl"),
    ]
    assert sorted(what_next(app)) == sorted(
        [
            ("what_next", 0, OutboundStatus.CANCELLED, loop.TEXT_CHANGED),
            ("what_next", 0, OutboundStatus.CANCELLED, loop.TEXT_CHANGED),
            ("what_next", 0, OutboundStatus.QUEUED, None),
            ("what_next", 0, OutboundStatus.QUEUED, None),
        ]
    )

    # Nothing more, however often the fan-out runs again.
    with app.app_context():
        assert loop.notify_decision(decision_id) == 0
        assert loop.awaiting_translation(db.session.get(Decision, decision_id)) == {}


@pytest.mark.usefixtures("quiet_hours")
def test_an_edit_through_the_panel_replaces_the_text_waiting_for_the_morning(
    app, client, fake_twilio
):
    """The same through the decision's edit page, "tell those already told" unticked."""
    clock.freeze(NIGHT)
    send_sms(client, UK, "The lift in our block has been broken for weeks.")
    drain(app)
    decision_id = make_decision(app)
    link_all_and_publish(app, decision_id)
    drain(app)
    create_user(app, Role.STAFF)
    assert sign_in(client, "staff@example.org").status_code == 302

    response = client.post(
        f"/admin/decisions/{decision_id}/edit",
        data={"title": "Lift repairs", "outcome": "under_review", "summary": NEW_SUMMARY},
    )
    assert response.status_code == 302
    morning_comes(app)

    assert told_with(fake_twilio, UK, SUMMARY) == []
    assert told_with(fake_twilio, UK, NEW_SUMMARY) == [
        rendered(app, "what_next", "en", ref=refs(app)["en"], summary=NEW_SUMMARY)
    ]


@pytest.mark.usefixtures("quiet_hours")
def test_a_translation_corrected_before_its_message_went_is_sent_corrected(
    app, client, fake_twilio
):
    """An interpreter saves the Polish summary again, through their page, while the Polish
    member's message waits for the morning: the corrected text goes, once."""
    clock.freeze(NIGHT)
    send_sms(client, POLISH, "Winda w naszym bloku jest zepsuta od tygodni.")
    drain(app)
    decision_id = make_decision(app, {"pl": POLISH_SUMMARY})
    link_all_and_publish(app, decision_id)
    drain(app)
    create_user(app, Role.INTERPRETER, languages="pl")
    assert sign_in(client, "interpreter@example.org").status_code == 302

    response = client.post(
        f"/admin/translate/decision/{decision_id}/pl",
        data={"summary": CORRECTED_POLISH, "state": "reviewed"},
    )
    assert response.status_code == 302
    morning_comes(app)

    assert bodies_to(fake_twilio, POLISH)[1:] == [
        rendered(app, "what_next", "pl", ref=refs(app)["pl"], summary=CORRECTED_POLISH),
        rendered(app, "rating_question", "pl"),
    ]


@pytest.mark.usefixtures("quiet_hours")
def test_a_held_update_corrected_without_telling_goes_corrected_as_an_update(
    app, client, fake_twilio
):
    """Told in the day; an update in the evening waits for the morning; staff then correct
    its text without ticking "tell those already told". The member, told an earlier
    version, gets one "An update", with the corrected text."""
    clock.freeze(DAYTIME)
    send_sms(client, UK, "The lift in our block has been broken for weeks.")
    drain(app)
    decision_id = make_decision(app)
    link_all_and_publish(app, decision_id)
    drain(app)
    clock.freeze(NIGHT)
    update_summary(app, decision_id, "We will repair the lift by 1 Apirl.")
    drain(app)
    edit_without_telling(app, decision_id, "We will repair the lift by 1 April.")
    drain(app)
    told = len(fake_twilio.messages)

    morning_comes(app)

    assert [m["body"] for m in fake_twilio.messages[told:]] == [
        rendered(
            app,
            "what_next_update",
            "en",
            ref=refs(app)["en"],
            summary="We will repair the lift by 1 April.",
        )
    ]
    assert what_next(app) == [
        ("what_next", 0, OutboundStatus.QUEUED, None),
        ("what_next_update", 1, OutboundStatus.CANCELLED, loop.TEXT_CHANGED),
        ("what_next_update", 1, OutboundStatus.QUEUED, None),
    ]


@pytest.mark.parametrize("then", ["put back for the morning", "sent", "left in doubt"])
def test_a_message_a_worker_holds_during_the_edit_is_never_sent_twice(app, client, then):
    """The send job has claimed the message when staff edit the text: it may reach the
    member whatever we do, so the edit leaves it alone and owes nothing more. If the job
    then puts it back unsent (quiet hours), the fan-out the edit asked for cancels it and
    owes the new text; if it went, or may have, nothing more is owed."""
    clock.freeze(DAYTIME)
    send_sms(client, UK, "The lift in our block has been broken for weeks.")
    drain(app)
    decision_id = make_decision(app)
    owe_what_next_here(app, decision_id)
    with app.app_context():
        row_id = db.session.scalars(select(OutboundMessage.id).filter_by(kind="what_next")).one()
        held = claim(row_id)
        assert held is not None
        db.session.expunge(held)

    edit_without_telling(app, decision_id, NEW_SUMMARY)
    with app.app_context():
        assert db.session.get(OutboundMessage, row_id).status == OutboundStatus.SENDING
        db.session.add(held)
        if then == "put back for the morning":
            assert defer(held, MORNING, "quiet hours")
        elif then == "sent":
            assert mark_accepted(held, "SM" + "0" * 32, "queued")
        else:
            assert mark_retry(held, "timeout", "timed out", uncertain=True) is not None
        loop.notify_decision(decision_id)  # the fan-out the edit asked for

    rows = [(summary, status) for _, _, status, summary in _texts(app)]
    if then == "put back for the morning":
        assert rows == [(SUMMARY, OutboundStatus.CANCELLED), (NEW_SUMMARY, OutboundStatus.PENDING)]
    else:
        assert len(rows) == 1 and rows[0][0] == SUMMARY


def _texts(app) -> list[tuple[str, int | None, str, str]]:
    return [
        (r.kind, r.decision_revision, r.status, r.variables["summary"])
        for r in outbound(app)
        if r.kind in (MessageKind.WHAT_NEXT, MessageKind.WHAT_NEXT_UPDATE)
    ]


def old_text(fake_twilio) -> list[dict]:
    sent = fake_twilio.messages_to(NUMBER) + fake_twilio.messages_to(WHATSAPP)
    return [m for m in sent if POLISH_SUMMARY in (m["body"] or "")]


@pytest.mark.usefixtures("quiet_hours")
def test_an_sms_fallback_held_for_the_night_goes_with_the_current_text(app, client, fake_twilio):
    """Told on WhatsApp in the evening; WhatsApp reports it undelivered at night, and the
    SMS fallback waits for the morning. An interpreter corrects the translation before
    then: the member gets the corrected text, once, and never the old one by SMS."""
    member_writes_on_whatsapp(app, client, fake_twilio)
    send_sms(client, NUMBER, "Also by SMS.")
    drain(app)
    publish_decision(app, datetime(2026, 11, 23, 18, 0, tzinfo=UTC))
    drain(app)
    [told] = [m for m in fake_twilio.messages_to(WHATSAPP) if POLISH_SUMMARY in (m["body"] or "")]
    clock.freeze(NIGHT)
    assert status_callback(client, told, "undelivered", "63024").status_code == 204
    drain(app)
    [fallback] = [r for r in outbound(app) if r.fallback_of_id is not None]
    assert (fallback.channel, fallback.status) == ("sms", OutboundStatus.PENDING)
    # The WhatsApp message, and the SMS item's own message (its first words were by SMS).
    told_before = old_text(fake_twilio)
    assert len(told_before) == 2

    with app.app_context():
        decision = db.session.get(Decision, decision_of(app))
        save_decision_summary(None, decision, "pl", CORRECTED_POLISH, "reviewed")
    drain(app)
    morning_comes(app)

    assert old_text(fake_twilio) == told_before  # not the fallback
    sent = fake_twilio.messages_to(NUMBER) + fake_twilio.messages_to(WHATSAPP)
    assert len([m for m in sent if CORRECTED_POLISH in (m["body"] or "")]) == 1
    with app.app_context():
        assert loop.notify_decision(decision_of(app)) == 0


LATER_POLISH = "+48512345679"


def test_members_told_already_are_not_counted_as_waiting_for_a_translation(
    app, client, fake_twilio
):
    """A Polish member told of the decision; staff change the summary without telling those
    already told, which marks the Polish translation outdated. That member is owed nothing,
    so nobody waits for the new translation: the counts say so, and saving it tells nobody.
    A Polish member linked afterwards does wait, is counted, and is told when it is saved."""
    clock.freeze(DAYTIME)
    send_sms(client, POLISH, "Winda w naszym bloku jest zepsuta od tygodni.")
    drain(app)
    decision_id = make_decision(app, {"pl": POLISH_SUMMARY})
    link_all_and_publish(app, decision_id)
    drain(app)
    told = len(fake_twilio.messages)
    edit_without_telling(app, decision_id, NEW_SUMMARY)
    drain(app)
    create_user(app, Role.ADMIN)
    assert sign_in(client, "admin@example.org").status_code == 302

    with app.app_context():
        decision = db.session.get(Decision, decision_id)
        assert loop.awaiting_translation(decision) == {}
        assert loop.progress(decision)["awaiting_translation"] == 0
    # Listed to translate again all the same (members linked later wait for it), with
    # nobody waiting now.
    workspace = client.get("/admin/translate/").get_data(as_text=True)
    row = workspace.split(f'<tr data-decision="{decision_id}" data-locale="pl">', 1)[1]
    row = row.split("</tr>", 1)[0]
    assert "outdated: the summary changed" in row and '<td data-members="0">0</td>' in row
    saved = client.post(
        f"/admin/translate/decision/{decision_id}/pl",
        data={"summary": NEW_POLISH, "state": "reviewed"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "waiting for it will now be told" not in saved
    drain(app)
    assert len(fake_twilio.messages) == told

    # Outdated again, and now somebody does wait for it.
    edit_without_telling(app, decision_id, SUMMARY)
    send_sms(client, LATER_POLISH, "Winda znowu nie działa.")
    drain(app)
    with app.app_context():
        later = db.session.scalars(
            select(FeedbackItem).where(FeedbackItem.decision_id.is_(None))
        ).one()
        later_ref = later.ref
        loop.link(db.session.get(Decision, decision_id), [later])
    drain(app)
    with app.app_context():
        assert loop.awaiting_translation(db.session.get(Decision, decision_id)) == {"pl": 1}
    saved = client.post(
        f"/admin/translate/decision/{decision_id}/pl",
        data={"summary": POLISH_SUMMARY, "state": "reviewed"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "1 member(s) waiting for it will now be told." in saved
    drain(app)
    assert bodies_to(fake_twilio, LATER_POLISH)[1:] == [
        rendered(app, "what_next", "pl", ref=later_ref, summary=POLISH_SUMMARY),
        rendered(app, "rating_question", "pl"),
    ]
    assert len(bodies_to(fake_twilio, POLISH)) == 3  # acknowledgement, decision, question
