"""WhatsApp's 24-hour window: free text inside it, approved templates outside, never silence."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, select

from feedback_bot import clock, loop
from feedback_bot.extensions import db
from feedback_bot.jobs.sweep import sweep
from feedback_bot.models import (
    Contact,
    Decision,
    DecisionTranslation,
    FeedbackItem,
    OutboundMessage,
    OutboundStatus,
    Role,
    WhatsAppTemplate,
)

from .conftest import ACCOUNT_SID, drain, outbound, send_sms, signed_post
from .test_admin_decisions import POLISH_NAMED

NUMBER = "+48512345678"
WHATSAPP = f"whatsapp:{NUMBER}"
POLISH_SUMMARY = "Naprawimy windę do 1 marca."
TEMPLATE_SID = "HX" + "a1" * 16
MONDAY_NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def publish_decision(app, later: datetime) -> None:
    clock.freeze(later)
    with app.app_context():
        decision = Decision(title="Lift", summary="We will repair the lift by 1 March.")
        decision.translations.append(DecisionTranslation(locale="pl", summary=POLISH_SUMMARY))
        db.session.add(decision)
        db.session.commit()
        loop.link(decision, list(db.session.scalars(select(FeedbackItem))))
        loop.publish(decision)


def add_template(app, kind: str = "what_next", locale: str = "pl") -> None:
    with app.app_context():
        db.session.add(WhatsAppTemplate(kind=kind, locale=locale, content_sid=TEMPLATE_SID))
        db.session.commit()


def status_callback(client, message: dict, status: str, error_code: str):
    """Twilio's delivery callback for ``message``, signed as Twilio signs it."""
    params = {
        "MessageSid": message["sid"],
        "SmsSid": message["sid"],
        "AccountSid": ACCOUNT_SID,
        "From": message["from"],
        "To": message["to"],
        "MessageStatus": status,
        "SmsStatus": status,
        "ErrorCode": error_code,
        "ApiVersion": "2010-04-01",
        "ChannelPrefix": "whatsapp",
    }
    return signed_post(client, "/webhooks/twilio/status", params)


def member_writes_on_whatsapp(app, client, fake_twilio) -> str:
    clock.freeze(MONDAY_NOON)
    send_sms(client, WHATSAPP, "Winda w naszym bloku jest zepsuta od tygodni.")
    drain(app)
    with app.app_context():
        return db.session.scalars(select(FeedbackItem)).one().ref


def test_acknowledgement_inside_the_window_is_free_text(app, client, fake_twilio):
    member_writes_on_whatsapp(app, client, fake_twilio)
    [ack] = fake_twilio.messages
    assert ack["to"] == WHATSAPP
    assert ack["body"] and ack["content_sid"] is None


def test_what_happened_next_after_the_window_uses_the_template(app, client, fake_twilio):
    ref = member_writes_on_whatsapp(app, client, fake_twilio)
    add_template(app)
    publish_decision(app, MONDAY_NOON + timedelta(days=3))
    drain(app)

    what_next = fake_twilio.messages[1]
    assert what_next["to"] == WHATSAPP
    assert what_next["content_sid"] == TEMPLATE_SID
    assert what_next["body"] is None
    assert json.loads(what_next["content_variables"]) == {"1": ref, "2": POLISH_SUMMARY}


def test_a_63016_answer_switches_the_row_to_the_template(app, client, fake_twilio):
    member_writes_on_whatsapp(app, client, fake_twilio)
    add_template(app)
    # Inside the window by our clock, but WhatsApp says otherwise.
    fake_twilio.whatsapp_window_closed = {WHATSAPP}
    publish_decision(app, MONDAY_NOON + timedelta(hours=2))
    drain(app)

    [row] = [r for r in outbound(app) if r.kind == "what_next"]
    assert row.status == OutboundStatus.QUEUED
    assert row.content_sid == TEMPLATE_SID
    assert row.routing_note == "63016: outside the 24-hour window: sent as a template"
    outcomes = [a["outcome"] for a in fake_twilio.attempts if a.get("to") == WHATSAPP]
    assert "rejected:63016" in outcomes
    assert fake_twilio.messages[-1]["content_sid"] == TEMPLATE_SID


def waiting_for_a_template(app, client, fake_twilio) -> OutboundMessage:
    """The member wrote on WhatsApp; three days later "what happened next" is owed, outside
    the window, with no template: the row waits."""
    member_writes_on_whatsapp(app, client, fake_twilio)
    publish_decision(app, MONDAY_NOON + timedelta(days=3))
    drain(app)
    [row] = [r for r in outbound(app) if r.kind == "what_next"]
    assert row.status == OutboundStatus.NEEDS_TEMPLATE
    return row


def test_missing_template_waits_visibly_then_goes_when_added(app, client, fake_twilio):
    row = waiting_for_a_template(app, client, fake_twilio)
    assert "needs a WhatsApp template for what_next in pl" in row.error_message
    assert len(fake_twilio.messages) == 1  # only the acknowledgement

    add_template(app)
    with app.app_context():
        sweep()
    drain(app)
    assert fake_twilio.messages[-1]["content_sid"] == TEMPLATE_SID


def test_staff_see_who_waits_for_a_template_and_who_can_unblock_them(app, client, fake_twilio):
    """The decision's progress counts the waiting member and says an admin can help; the
    item's timeline says in words what the row waits for. Both clear once it goes."""
    from .test_auth import create_user, sign_in

    row = waiting_for_a_template(app, client, fake_twilio)
    create_user(app, Role.STAFF, "staff@example.org")
    create_user(app, Role.ADMIN, "admin@example.org")
    assert sign_in(client, "staff@example.org").status_code == 302
    decision_url = f"/admin/decisions/{row.decision_id}"

    data = client.get(f"{decision_url}/progress").get_json()
    assert data["progress"]["awaiting_whatsapp_template"] == 1
    assert data["awaiting_whatsapp_template"] == {"pl": 1}
    page = client.get(decision_url).get_data(as_text=True)
    assert 'data-count="awaiting_whatsapp_template">1<' in page
    waiting = page.split('data-waiting="awaiting_whatsapp_template"', 1)[1].split("</div>")[0]
    assert not waiting.startswith(" data-hide-when-none hidden")
    assert f'data-locale="pl">{POLISH_NAMED}: 1 member waiting' in waiting
    assert "Who can unblock them: an admin" in waiting
    assert "/admin/whatsapp-templates/" not in waiting  # staff cannot open it

    item = client.get(f"/admin/items/{row.item_id}").get_data(as_text=True)
    assert 'delivery-needs_template">Waiting for a WhatsApp template<' in item
    assert ">needs_template<" not in item
    assert "Who can unblock it: an admin" in item

    client.post("/logout")
    assert sign_in(client, "admin@example.org").status_code == 302
    for url in (decision_url, f"/admin/items/{row.item_id}"):
        assert 'href="/admin/whatsapp-templates/">WhatsApp templates</a>' in (
            client.get(url).get_data(as_text=True)
        )
    templates_page = client.get("/admin/whatsapp-templates/").get_data(as_text=True)
    assert f"<tr><td>what_next</td><td>{POLISH_NAMED}</td><td>1</td></tr>" in templates_page

    add_template(app)
    with app.app_context():
        sweep()
    drain(app)
    data = client.get(f"{decision_url}/progress").get_json()
    assert data["awaiting_whatsapp_template"] == {}
    page = client.get(decision_url).get_data(as_text=True)
    assert 'data-count="awaiting_whatsapp_template">0<' in page
    assert 'data-waiting="awaiting_whatsapp_template" data-hide-when-none hidden' in page
    # "What happened next" went; "Did we listen?", owed after it, waits for its own: the
    # item's timeline says so, and the decision's page counts it with who can unblock it.
    item = client.get(f"/admin/items/{row.item_id}").get_data(as_text=True)
    assert item.count("Who can unblock it: an admin") == 1
    assert f"template for this message in {POLISH_NAMED}" in item.split("Did we listen?", 1)[1]
    assert data["questions_awaiting_whatsapp_template"] == {"pl": 1}
    # Names for panel.js to draw the lists with, as the page does.
    assert data["languages"] == {"pl": {"name": "Polski", "dir": "ltr"}}
    saved = client.get("/admin/whatsapp-templates/").get_data(as_text=True)
    assert f"<td>what_next</td><td>{POLISH_NAMED}</td><td><code>{TEMPLATE_SID}</code>" in saved
    questions = page.split('data-waiting="questions_awaiting_whatsapp_template"', 1)[1]
    questions = questions.split("</div>", 1)[0]
    assert not questions.startswith(" data-hide-when-none hidden")
    assert "“Did we listen?” waiting for a WhatsApp template" in questions
    assert f'data-locale="pl">{POLISH_NAMED}: 1 question waiting' in questions
    assert "Who can unblock them: an admin" in questions
    assert 'href="/admin/whatsapp-templates/">WhatsApp templates</a>' in questions

    add_template(app, kind="rating_question")
    with app.app_context():
        sweep()
    drain(app)
    data = client.get(f"{decision_url}/progress").get_json()
    assert data["questions_awaiting_whatsapp_template"] == {}
    page = client.get(decision_url).get_data(as_text=True)
    assert 'data-waiting="questions_awaiting_whatsapp_template" data-hide-when-none hidden' in page


def test_without_template_a_member_who_also_texts_gets_an_sms(app, client, fake_twilio):
    member_writes_on_whatsapp(app, client, fake_twilio)
    send_sms(client, NUMBER, "I also sent this by SMS.")
    drain(app)
    publish_decision(app, MONDAY_NOON + timedelta(days=3))
    drain(app)

    to_whatsapp = [m for m in fake_twilio.messages if POLISH_SUMMARY in (m["body"] or "")]
    assert {m["to"] for m in to_whatsapp} == {NUMBER}  # both items told, both by SMS


def test_undelivered_whatsapp_falls_back_to_one_sms(app, client, fake_twilio):
    member_writes_on_whatsapp(app, client, fake_twilio)
    send_sms(client, NUMBER, "Also by SMS.")
    drain(app)
    whatsapp_ack = fake_twilio.messages_to(WHATSAPP)[0]
    sms_before = len(fake_twilio.messages_to(NUMBER))

    for status in ("undelivered", "failed"):  # a second bad callback must not send again
        assert status_callback(client, whatsapp_ack, status, "63024").status_code == 204
    drain(app)

    fallbacks = fake_twilio.messages_to(NUMBER)[sms_before:]
    assert [m["body"] for m in fallbacks] == [whatsapp_ack["body"]]
    with app.app_context():
        fallback = db.session.scalars(
            select(OutboundMessage).where(OutboundMessage.fallback_of_id.is_not(None))
        ).one()
        original = db.session.get(OutboundMessage, fallback.fallback_of_id)
        assert original.twilio_sid == whatsapp_ack["sid"]
        assert original.status == OutboundStatus.UNDELIVERED


def refused_as_outside_the_window(app, client, fake_twilio) -> dict:
    """The member writes on WhatsApp and is acknowledged; then WhatsApp, in a status
    callback, refuses that free-form acknowledgement as outside the 24-hour window (our
    clock said it was open). Returns the refused message."""
    member_writes_on_whatsapp(app, client, fake_twilio)
    [ack] = fake_twilio.messages_to(WHATSAPP)
    assert status_callback(client, ack, "failed", "63016").status_code == 204
    drain(app)
    return ack


def test_a_63016_callback_sends_the_message_again_as_a_template(app, client, fake_twilio):
    add_template(app, kind="ack")
    ack = refused_as_outside_the_window(app, client, fake_twilio)

    again = fake_twilio.messages_to(WHATSAPP)[1:]
    assert [m["content_sid"] for m in again] == [TEMPLATE_SID]
    with app.app_context():
        retry = db.session.scalars(
            select(OutboundMessage).where(OutboundMessage.fallback_of_id.is_not(None))
        ).one()
        original = db.session.get(OutboundMessage, retry.fallback_of_id)
        assert (original.twilio_sid, original.status) == (ack["sid"], OutboundStatus.FAILED)
        assert retry.routing_note.startswith("63016: refused as outside the 24-hour window")
    # A second refusal callback for the same message owes nothing more.
    assert status_callback(client, ack, "failed", "63016").status_code == 204
    drain(app)
    assert len(fake_twilio.messages_to(WHATSAPP)) == 2


def test_a_63016_callback_without_template_or_sms_waits_for_a_template(app, client, fake_twilio):
    refused_as_outside_the_window(app, client, fake_twilio)

    assert len(fake_twilio.messages) == 1  # nothing sent again as free text
    [retry] = [r for r in outbound(app) if r.fallback_of_id is not None]
    assert (retry.channel, retry.status) == ("whatsapp", OutboundStatus.NEEDS_TEMPLATE)

    add_template(app, kind="ack")
    with app.app_context():
        sweep()
    drain(app)
    assert fake_twilio.messages[-1]["content_sid"] == TEMPLATE_SID


def test_waiting_rows_that_nothing_helps_never_hide_those_that_can_go(app, client, fake_twilio):
    """Rows wait in a language with no template; then a template is added for another
    language. The sweeper's batch must reach the rows it can now send."""
    member_writes_on_whatsapp(app, client, fake_twilio)
    with app.app_context():
        contact = db.session.scalars(select(FeedbackItem)).one().contact
        for number in range(3):  # ahead of the Polish row, in a language with no template
            db.session.add(
                OutboundMessage(
                    idempotency_key=f"waiting-in-welsh-{number}",
                    contact_id=contact.id,
                    kind="what_next",
                    channel="whatsapp",
                    locale="cy",
                    body="Dyma beth ddigwyddodd nesaf.",
                    variables={},
                    status=OutboundStatus.NEEDS_TEMPLATE,
                    attempts=0,
                    created_at=clock.now(),
                    updated_at=clock.now(),
                )
            )
        db.session.commit()
    publish_decision(app, MONDAY_NOON + timedelta(days=3))
    drain(app)
    [polish] = [r for r in outbound(app) if r.locale == "pl" and r.kind == "what_next"]
    assert polish.status == OutboundStatus.NEEDS_TEMPLATE
    add_template(app)

    with app.app_context():
        from feedback_bot.whatsapp.window import revive_waiting

        assert [row_id for row_id, *_ in revive_waiting(limit=1)] == [polish.id]


def test_a_waiting_row_goes_as_free_text_when_the_member_writes_again(app, client, fake_twilio):
    waiting_for_a_template(app, client, fake_twilio)

    send_sms(client, WHATSAPP, "Czy są jakieś wieści?")
    with app.app_context():
        sweep()
    drain(app)

    [row] = [r for r in outbound(app) if r.kind == "what_next"]
    assert row.status == OutboundStatus.QUEUED
    sent = [m for m in fake_twilio.messages_to(WHATSAPP) if POLISH_SUMMARY in (m["body"] or "")]
    assert len(sent) == 1 and sent[0]["content_sid"] is None


LATER = "+447911123457"
NEW_POLISH_SUMMARY = "Naprawimy windę do 1 kwietnia."


def told_then_refused(app, client, fake_twilio, status: str, error_code: str) -> None:
    """The member is told of the decision on WhatsApp, inside the window; then a status
    callback says that message ended ``status`` with ``error_code``."""
    publish_decision(app, MONDAY_NOON + timedelta(hours=2))
    drain(app)
    [told] = [m for m in fake_twilio.messages_to(WHATSAPP) if POLISH_SUMMARY in (m["body"] or "")]
    assert status_callback(client, told, status, error_code).status_code == 204
    drain(app)


def update_the_polish_summary(app) -> None:
    """Staff change the decision, translated as they go, and tell those already told."""
    with app.app_context():
        decision = db.session.scalars(select(Decision)).one()
        decision.translations[0].summary = NEW_POLISH_SUMMARY
        loop.update_outcome(decision, notify_told=True)


def test_fan_outs_after_an_sms_fallback_still_tell_everybody(app, client, fake_twilio):
    """The SMS fallback of "what happened next" has its kind and decision, under a key of
    its own: the fan-outs that come after it (an item linked later, an update) must still
    run, and count the fallback as the version it repeats."""
    member_writes_on_whatsapp(app, client, fake_twilio)
    send_sms(client, NUMBER, "Also by SMS.")
    drain(app)
    told_then_refused(app, client, fake_twilio, "undelivered", "63024")
    [fallback] = [r for r in outbound(app) if r.fallback_of_id is not None]
    assert (fallback.kind, fallback.channel, fallback.decision_revision) == ("what_next", "sms", 0)

    send_sms(client, LATER, "The lift is broken again and my mum cannot get upstairs.")
    drain(app)
    with app.app_context():
        later = db.session.scalars(
            select(FeedbackItem).where(FeedbackItem.decision_id.is_(None))
        ).one()
        ref = later.ref
        loop.link(db.session.scalars(select(Decision)).one(), [later])
    drain(app)
    [told_later] = fake_twilio.messages_to(LATER)[1:2]
    assert f"About your feedback {ref}" in told_later["body"]

    update_the_polish_summary(app)
    drain(app)
    updates = {r.item_id: r.kind for r in outbound(app) if r.decision_revision == 1}
    assert set(updates.values()) == {"what_next_update"}
    assert fallback.item_id in updates  # told by the fallback, so told of the update


def test_an_update_replaces_a_refused_message_still_waiting_for_its_template(
    app, client, fake_twilio
):
    """WhatsApp refused "what happened next" as outside the window; its retry waits for a
    template. Then staff send an update. The retry, which carries the version it repeats,
    is cancelled, and when the template comes the member, never told, hears of the decision
    once, as it now stands (not "an update")."""
    member_writes_on_whatsapp(app, client, fake_twilio)
    told_then_refused(app, client, fake_twilio, "failed", "63016")
    [retry] = [r for r in outbound(app) if r.fallback_of_id is not None]
    assert (retry.status, retry.decision_revision) == (OutboundStatus.NEEDS_TEMPLATE, 0)
    sent = len(fake_twilio.messages_to(WHATSAPP))
    fake_twilio.whatsapp_window_closed = {WHATSAPP}  # WhatsApp's clock, not ours

    update_the_polish_summary(app)
    drain(app)
    add_template(app)
    with app.app_context():
        sweep()
    drain(app)

    [again] = fake_twilio.messages_to(WHATSAPP)[sent:]
    assert again["content_sid"] == TEMPLATE_SID
    assert json.loads(again["content_variables"])["2"] == NEW_POLISH_SUMMARY
    rows = {(r.kind, r.decision_revision): r.status for r in outbound(app) if r.decision_id}
    assert rows[("what_next", 0)] == OutboundStatus.CANCELLED  # the retry
    assert rows[("what_next", 1)] == OutboundStatus.QUEUED


def waiting_row(contact: Contact | None, key: str, **columns) -> OutboundMessage:
    row = OutboundMessage(
        idempotency_key=key,
        contact_id=contact.id if contact is not None else None,
        kind=columns.pop("kind", "what_next"),
        channel=columns.pop("channel", "whatsapp"),
        locale=columns.pop("locale", "pl"),
        body="Tak zdecydowaliśmy.",
        variables={},
        status=columns.pop("status", OutboundStatus.NEEDS_TEMPLATE),
        attempts=0,
        created_at=clock.now(),
        updated_at=clock.now(),
        **columns,
    )
    db.session.add(row)
    db.session.flush()
    return row


def member(*, sms: bool = False, wrote: timedelta | None = None) -> Contact:
    """A member who texts us (``sms``) and last wrote on WhatsApp ``wrote`` ago."""
    contact = Contact(
        locale="pl",
        locale_source="detected",
        uses_sms=sms,
        uses_whatsapp=True,
        whatsapp_last_inbound_at=clock.now() - wrote if wrote is not None else None,
    )
    db.session.add(contact)
    db.session.flush()
    return contact


def test_the_sweeper_revives_exactly_the_waiting_rows_that_can_go(app):
    """What ``revive_waiting`` decides for each kind of waiting row: a template for its
    kind and language, a member who texts, or a window open again (never for a retry
    WhatsApp refused as outside the window); nothing else."""
    clock.freeze(MONDAY_NOON)
    from feedback_bot.whatsapp.window import MARGIN, WINDOW, revive_waiting

    with app.app_context():
        closed = member(wrote=WINDOW - MARGIN)  # just closed, by our clock
        just_open = member(wrote=WINDOW - MARGIN - timedelta(seconds=1))
        refused = waiting_row(just_open, "refused", status=OutboundStatus.FAILED)
        expected = {
            waiting_row(closed, "closed").id: False,
            waiting_row(None, "nobody").id: False,
            waiting_row(member(), "never wrote").id: False,
            waiting_row(closed, "closed, other language", locale="cy").id: False,
            waiting_row(member(sms=True, wrote=timedelta(days=3)), "texts").id: True,
            waiting_row(just_open, "open").id: True,
            waiting_row(just_open, "retry", fallback_of_id=refused.id).id: False,
            waiting_row(just_open, "retry by sms", channel="sms", fallback_of_id=refused.id).id: (
                True
            ),
            waiting_row(closed, "templated", kind="ack").id: True,
            waiting_row(None, "templated, nobody", kind="ack").id: True,
        }
        db.session.add(WhatsAppTemplate(kind="ack", locale="pl", content_sid=TEMPLATE_SID))
        db.session.commit()

        revived = revive_waiting(limit=100)
        assert [row_id for row_id, *_ in revived] == sorted(
            row_id for row_id, can_go in expected.items() if can_go
        )
        assert {(attempts, due) for _, attempts, _, due in revived} == {(0, MONDAY_NOON)}
        statuses = dict(
            db.session.execute(select(OutboundMessage.id, OutboundMessage.status)).all()
        )
        for row_id, can_go in expected.items():
            assert statuses[row_id] == (
                OutboundStatus.PENDING if can_go else OutboundStatus.NEEDS_TEMPLATE
            )
        assert revive_waiting(limit=100) == []  # revived once


def test_the_sweeper_looks_at_waiting_rows_in_a_fixed_number_of_queries(app):
    """Thousands of rows can wait for a template in a language nobody has made one for; the
    sweeper looks at them on every tick, so it must not load them, or their members, one
    by one."""
    clock.freeze(MONDAY_NOON)
    from feedback_bot.whatsapp.window import revive_waiting

    with app.app_context():
        for number in range(40):  # each its own member, outside the window
            waiting_row(member(wrote=timedelta(days=3)), f"waiting-{number}")
        can_go = waiting_row(member(sms=True), "texts").id
        db.session.commit()
        db.session.expunge_all()

        statements: list[str] = []

        def count(conn, cursor, statement, *args) -> None:
            statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            revived = revive_waiting(limit=10)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        assert [row_id for row_id, *_ in revived] == [can_go]
        assert len(statements) <= 2, statements
