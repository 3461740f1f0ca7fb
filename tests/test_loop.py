"""Closing the loop: "what happened next", the rating, interim updates and quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from feedback_bot import clock, loop
from feedback_bot.extensions import db
from feedback_bot.jobs import redis_connection
from feedback_bot.jobs.sweep import sweep
from feedback_bot.loop import ratings
from feedback_bot.messaging.templates import render
from feedback_bot.models import (
    Decision,
    DecisionTranslation,
    FeedbackItem,
    ItemStatus,
    OutboundMessage,
    OutboundStatus,
)
from feedback_bot.outbox import claim

from .conftest import drain, outbound, run_worker, send_sms

UK = "+447911123456"
POLISH = "+48512345678"
SUMMARY = "We will repair the lift by 1 March."
POLISH_SUMMARY = "Naprawimy windę do 1 marca."
DAYTIME = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def make_decision(app, translations: dict[str, str] | None = None) -> int:
    with app.app_context():
        decision = Decision(title="Lift repairs", summary=SUMMARY)
        for locale, text in (translations or {}).items():
            decision.translations.append(DecisionTranslation(locale=locale, summary=text))
        db.session.add(decision)
        db.session.commit()
        return decision.id


def owe_what_next_here(app, decision_id: int) -> int:
    """Link every item and mark the decision published, then run its fan-out in this
    process (not a worker); returns the messages it owed."""
    with app.app_context():
        decision = db.session.get(Decision, decision_id)
        loop.link(decision, list(db.session.scalars(select(FeedbackItem))))
        decision.published_at = clock.now()
        db.session.commit()
        return loop.notify_decision(decision_id)


def link_all_and_publish(app, decision_id: int) -> None:
    with app.app_context():
        decision = db.session.get(Decision, decision_id)
        items = list(db.session.scalars(select(FeedbackItem)))
        loop.link(decision, items)
        loop.publish(decision)


def test_published_decision_reaches_each_member_in_their_language(app, client, fake_twilio):
    clock.freeze(DAYTIME)
    send_sms(client, UK, "The lift in our block has been broken for weeks.")
    send_sms(client, POLISH, "Winda w naszym bloku jest zepsuta od tygodni.")
    drain(app)
    fake_twilio.reset()
    decision_id = make_decision(app, {"pl": POLISH_SUMMARY})

    link_all_and_publish(app, decision_id)
    drain(app)

    bodies = {
        m["to"]: [x["body"] for x in fake_twilio.messages_to(m["to"])] for m in fake_twilio.messages
    }
    with app.app_context():
        items = {i.contact.locale: i for i in db.session.scalars(select(FeedbackItem))}
        assert bodies[UK][0] == render("what_next", "en", ref=items["en"].ref, summary=SUMMARY)
        assert bodies[POLISH][0] == render(
            "what_next", "pl", ref=items["pl"].ref, summary=POLISH_SUMMARY
        )
        assert bodies[POLISH][1] == render("rating_question", "pl")
        assert all(item.status == ItemStatus.TOLD for item in items.values())
    assert len(fake_twilio.messages) == 4  # what_next and the rating question, each once

    # Publishing again, and linking again, owes nobody anything new.
    link_all_and_publish(app, decision_id)
    drain(app)
    assert len(fake_twilio.messages) == 4


def test_member_without_translation_waits_visibly_then_gets_it(app, client, fake_twilio):
    clock.freeze(DAYTIME)
    send_sms(client, POLISH, "Winda w naszym bloku jest zepsuta od tygodni.")
    drain(app)
    fake_twilio.reset()
    decision_id = make_decision(app)

    link_all_and_publish(app, decision_id)
    drain(app)

    assert fake_twilio.messages == []  # never the wrong language
    with app.app_context():
        decision = db.session.get(Decision, decision_id)
        assert loop.awaiting_translation(decision) == {"pl": 1}
        assert loop.progress(decision)["awaiting_translation"] == 1
        decision.translations.append(DecisionTranslation(locale="pl", summary=POLISH_SUMMARY))
        db.session.commit()
        loop.notify_decision(decision_id)
    drain(app)
    assert POLISH_SUMMARY in fake_twilio.messages[0]["body"]


def told_of_a_decision(app, client) -> None:
    """A member writes in and is told of a decision (at DAYTIME)."""
    clock.freeze(DAYTIME)
    send_sms(client, UK, "The lift in our block has been broken for weeks.")
    drain(app)
    link_all_and_publish(app, make_decision(app))
    drain(app)


def test_rating_reply_is_recorded_and_no_reopens(app, client, fake_twilio):
    told_of_a_decision(app, client)

    send_sms(client, UK, "3")
    drain(app)

    with app.app_context():
        item = db.session.scalars(select(FeedbackItem)).one()
        assert (item.rating, item.status) == ("no", ItemStatus.REOPENED)
        assert db.session.query(FeedbackItem).count() == 1  # not new feedback
    days = app.config["INTERIM_UPDATE_DAYS"]
    reply = fake_twilio.messages[-1]["body"]
    assert reply == render_in(app, "rating_reopened", ref=item.ref, days=days)
    # When they will hear from us: the interim update's period starts again at the "3".
    assert f"write to you within {days} days" in reply

    send_sms(client, UK, "2")  # already rated: now it is just feedback
    drain(app)
    with app.app_context():
        assert db.session.query(FeedbackItem).count() == 2


def render_in(app, kind: str, **values) -> str:
    with app.app_context():
        return render(kind, "en", **values)


@pytest.mark.usefixtures("quiet_hours")
def test_quiet_hours_hold_what_happened_next_but_not_acknowledgements(app, client, fake_twilio):
    late = datetime(2026, 11, 23, 22, 30, tzinfo=UTC)  # 22:30 in London
    clock.freeze(late)
    send_sms(client, UK, "The lift in our block has been broken for weeks.")
    drain(app)
    assert len(fake_twilio.messages) == 1  # the acknowledgement went at once

    link_all_and_publish(app, make_decision(app))
    drain(app)

    [what_next] = [r for r in outbound(app) if r.kind == "what_next"]
    assert what_next.status == OutboundStatus.PENDING
    assert what_next.next_attempt_at == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    assert what_next.attempts == 0
    assert len(fake_twilio.messages) == 1

    clock.freeze(datetime(2026, 11, 24, 8, 1, tzinfo=UTC))
    with app.app_context():
        sweep()
    drain(app)
    assert SUMMARY in fake_twilio.messages[1]["body"]


def assert_interim_updates_every_21_days(app, fake_twilio, since: datetime) -> None:
    """Sweeping 20, 22, 30 and 43 days after ``since`` owes and sends 0, 1, 1 and 2."""
    for days, expected in ((20, 0), (22, 1), (30, 1), (43, 2)):
        clock.freeze(since + timedelta(days=days))
        with app.app_context():
            sweep()
        drain(app)
        assert len([r for r in outbound(app) if r.kind == "interim"]) == expected, days
    # It says when they will hear from us again: the next update, or the decision.
    assert "still working on your feedback" in fake_twilio.messages[-1]["body"]
    assert "write to you again within 21 days" in fake_twilio.messages[-1]["body"]


def test_interim_update_after_the_configured_days_and_not_more_often(make_app, fake_twilio):
    app = make_app(INTERIM_UPDATE_DAYS=21)
    client = app.test_client()
    clock.freeze(DAYTIME)
    send_sms(client, UK, "The lift in our block has been broken for weeks.")
    drain(app)

    assert_interim_updates_every_21_days(app, fake_twilio, since=DAYTIME)
    with app.app_context():
        assert db.session.scalar(select(OutboundMessage.kind).limit(1)) == "ack"


def test_a_changed_summary_waits_for_a_fresh_translation(app, client, fake_twilio):
    clock.freeze(DAYTIME)
    send_sms(client, POLISH, "Winda w naszym bloku jest zepsuta od tygodni.")
    drain(app)
    decision_id = make_decision(app, {"pl": POLISH_SUMMARY})
    link_all_and_publish(app, decision_id)
    drain(app)
    told = len(fake_twilio.messages)

    with app.app_context():
        decision = db.session.get(Decision, decision_id)
        decision.summary = "We will replace the lift by 1 June."
        loop.update_outcome(decision, notify_told=True, summary_changed=True)
        assert loop.awaiting_translation(decision) == {"pl": 1}
    drain(app)
    assert len(fake_twilio.messages) == told  # not the old Polish text as an "update"

    with app.app_context():
        from feedback_bot.interpreting.saving import save_decision_summary

        decision = db.session.get(Decision, decision_id)
        save_decision_summary(None, decision, "pl", "Wymienimy windę do 1 czerwca.", "reviewed")
    drain(app)
    update = fake_twilio.messages[told]["body"]
    assert "Wymienimy windę do 1 czerwca." in update
    with app.app_context():
        assert update == render(
            "what_next_update", "pl", ref=items_ref(app), summary="Wymienimy windę do 1 czerwca."
        )


def items_ref(app) -> str:
    return db.session.scalars(select(FeedbackItem)).one().ref


def test_the_fan_out_queues_behind_replies(app, client):
    clock.freeze(DAYTIME)
    send_sms(client, UK, "The lift in our block has been broken for weeks.")
    drain(app)
    decision_id = make_decision(app)
    assert owe_what_next_here(app, decision_id) == 1
    with app.app_context():
        from feedback_bot.jobs import bulk_queue, queue

        assert (queue().count, bulk_queue().count) == (0, 1)


def test_a_worker_dying_as_twilio_accepts_never_leaves_the_item_untold(
    app, client, fake_twilio, monkeypatch
):
    """Twilio has "what happened next", but the worker dies before recording it: the row
    stays "sending" with its item "linked" (never "accepted" with the item forgotten), and
    the retry finds the message at Twilio, then tells the item and asks the question."""
    clock.freeze(DAYTIME)
    send_sms(client, UK, "The lift in our block has been broken for weeks.")
    drain(app)
    fake_twilio.reset()
    owe_what_next_here(app, make_decision(app))
    with app.app_context():
        row_id = db.session.scalars(select(OutboundMessage.id).filter_by(kind="what_next")).one()

    def worker_dies(**_: object) -> None:
        raise SystemExit("SIGKILL")

    from feedback_bot.jobs.send import send_outbound

    with app.app_context(), monkeypatch.context() as patch:
        patch.setattr(ratings, "owe_message", worker_dies)  # the question, owed once told
        with pytest.raises(SystemExit):
            send_outbound(row_id)
        db.session.rollback()
    assert len(fake_twilio.messages) == 1
    with app.app_context():
        row = db.session.get(OutboundMessage, row_id)
        item = db.session.scalars(select(FeedbackItem)).one()
        assert (row.status, row.twilio_sid, item.status) == (
            OutboundStatus.SENDING,
            None,
            ItemStatus.LINKED,
        )

    clock.freeze(DAYTIME + timedelta(seconds=app.config["SENDING_STUCK_SECONDS"] + 1))
    with app.app_context():
        sweep()
    drain(app)

    assert [m["body"] for m in fake_twilio.messages] == [
        render_in(app, "what_next", ref=item.ref, summary=SUMMARY),
        render_in(app, "rating_question"),
    ]
    with app.app_context():
        row = db.session.get(OutboundMessage, row_id)
        item = db.session.scalars(select(FeedbackItem)).one()
        assert row.status == OutboundStatus.QUEUED
        assert row.twilio_sid == fake_twilio.messages[0]["sid"]
        assert item.status == ItemStatus.TOLD


def test_a_fan_out_lost_with_redis_is_run_again_by_the_sweeper(make_app, fake_twilio):
    app = make_app(FAN_OUT_STUCK_SECONDS=60)
    client = app.test_client()
    clock.freeze(DAYTIME)
    send_sms(client, UK, "The lift in our block has been broken for weeks.")
    drain(app)
    fake_twilio.reset()
    decision_id = make_decision(app)
    link_all_and_publish(app, decision_id)
    with app.app_context():
        redis_connection().flushdb()  # the fan-out job is gone before any worker took it
    run_worker(app)  # its sweep finds the fan-out requested too recently to be lost
    assert fake_twilio.messages == []

    clock.freeze(DAYTIME + timedelta(seconds=61))
    with app.app_context():
        assert sweep()["fan_outs_enqueued"] == 1
    drain(app)
    with app.app_context():
        assert sweep()["fan_outs_enqueued"] == 0  # finished: nothing more to run
        item = db.session.scalars(select(FeedbackItem)).one()
        assert item.status == ItemStatus.TOLD
    assert [m["body"] for m in fake_twilio.messages] == [
        render_in(app, "what_next", ref=item.ref, summary=SUMMARY),
        render_in(app, "rating_question"),
    ]


def bodies_to(fake_twilio, number: str) -> list[str]:
    return [m["body"] for m in fake_twilio.messages_to(number)]


LATER = "+447911123457"


def told_then_updated(app, client, summary: str = SUMMARY) -> int:
    """A member told of a decision, then of an update to it (revision 1), with ``summary``
    as its new text. Returns the decision's id."""
    clock.freeze(DAYTIME)
    send_sms(client, UK, "The lift in our block has been broken for weeks.")
    drain(app)
    decision_id = make_decision(app)
    link_all_and_publish(app, decision_id)
    drain(app)
    with app.app_context():
        decision = db.session.get(Decision, decision_id)
        decision.summary = summary
        loop.update_outcome(decision, notify_told=True, summary_changed=summary != SUMMARY)
    drain(app)
    return decision_id


def link_a_later_member(app, client, decision_id: int) -> tuple[int, str]:
    """A new member writes in, and their item is linked to the decision. Returns the
    item's id and reference."""
    send_sms(client, LATER, "The lift is broken again and my mum cannot get upstairs.")
    drain(app)
    with app.app_context():
        item = db.session.scalars(
            select(FeedbackItem).where(FeedbackItem.decision_id.is_(None))
        ).one()
        found = item.id, item.ref
        loop.link(db.session.get(Decision, decision_id), [item])
    drain(app)
    return found


def test_a_member_linked_after_an_update_hears_of_the_decision_not_of_an_update(
    app, client, fake_twilio
):
    """Only members told an earlier version get "An update about your feedback". A member
    whose item is linked after the update hears of the decision as anyone would the first
    time, and is asked whether they felt heard."""
    changed = "We will repair the lift by 1 April."
    decision_id = told_then_updated(app, client, changed)
    with app.app_context():
        first_ref = db.session.scalars(select(FeedbackItem)).one().ref
        assert bodies_to(fake_twilio, UK)[-1] == render(
            "what_next_update", "en", ref=first_ref, summary=changed
        )
    told_first = len(bodies_to(fake_twilio, UK))

    item_id, ref = link_a_later_member(app, client, decision_id)

    with app.app_context():
        assert bodies_to(fake_twilio, LATER)[1:] == [
            render("what_next", "en", ref=ref, summary=changed),
            render("rating_question", "en"),
        ]
        kinds = [r.kind for r in outbound(app) if r.item_id == item_id]
        assert "what_next_update" not in kinds
    assert len(bodies_to(fake_twilio, UK)) == told_first  # the first member: nothing new


def test_a_fan_out_of_an_older_revision_run_late_owes_nothing(app, client, fake_twilio):
    """A fan-out job that runs after a newer revision's (RQ delayed it, or the sweeper's
    copy and the original both ran) must not send anybody the current text again, not
    even a member linked after the newer revision was published."""
    decision_id = told_then_updated(app, client)
    link_a_later_member(app, client, decision_id)
    sent = len(fake_twilio.messages)

    with app.app_context():
        assert loop.notify_decision(decision_id, revision=0) == 0
        assert loop.notify_decision(decision_id, revision=1) == 0  # and its own re-run
    drain(app)
    assert len(fake_twilio.messages) == sent


def test_a_member_whose_first_message_failed_hears_of_the_decision_at_the_next_revision(
    app, client, fake_twilio
):
    """A "what happened next" that Twilio refused never reached the member: at the next
    revision they get the decision itself, not an update to something they never read."""
    clock.freeze(DAYTIME)
    send_sms(client, UK, "The lift in our block has been broken for weeks.")
    drain(app)
    decision_id = make_decision(app)
    owe_what_next_here(app, decision_id)
    with app.app_context():
        row = db.session.scalars(
            select(OutboundMessage).where(OutboundMessage.kind == "what_next")
        ).one()
        row.status = OutboundStatus.FAILED
        db.session.commit()
        loop.update_outcome(db.session.get(Decision, decision_id), notify_told=True)
    drain(app)
    with app.app_context():
        ref = db.session.scalars(select(FeedbackItem)).one().ref
        kinds = [r.kind for r in outbound(app) if r.decision_id == decision_id]
    assert sorted(kinds) == ["rating_question", "what_next", "what_next"]
    assert render_in(app, "what_next", ref=ref, summary=SUMMARY) in bodies_to(fake_twilio, UK)


def reopened_then_told_again(app, client, when: datetime) -> None:
    """A day after being told, the member answers "3" (reopened); at ``when`` their items
    are linked to a new decision, published."""
    clock.freeze(DAYTIME + timedelta(days=1))
    send_sms(client, UK, "3")
    drain(app)
    clock.freeze(when)
    link_all_and_publish(app, make_decision(app))
    drain(app)


def test_a_reopened_item_told_again_takes_the_answer_to_the_new_question(app, client, fake_twilio):
    """Told, rated "no" (reopened), linked to a second decision and told again: the member
    is asked "Did we listen?" again, and their "1" rates that item, not new feedback; even
    when the first telling is older than RATING_REPLY_DAYS."""
    told_of_a_decision(app, client)
    reopened_then_told_again(app, client, DAYTIME + timedelta(days=10))
    assert bodies_to(fake_twilio, UK)[-1] == render_in(app, "rating_question")
    answered = DAYTIME + timedelta(days=10, hours=1)
    clock.freeze(answered)
    send_sms(client, UK, "1")
    drain(app)

    with app.app_context():
        item = db.session.scalars(select(FeedbackItem)).one()  # not new feedback
        assert (item.rating, item.rated_at) == ("yes", answered)
        assert item.told_at == DAYTIME  # still when the member was first told
    assert bodies_to(fake_twilio, UK)[-1] == render_in(app, "rating_thanks")


def test_an_update_sent_before_the_first_fan_out_ran_tells_each_member_once(
    app, client, fake_twilio
):
    """Publishing queues a fan-out; staff send an update (revision 1) before it runs. The
    late job of revision 0 tells the current decision, and revision 1's job then finds
    nothing to add: one message each, not the same text twice."""
    clock.freeze(DAYTIME)
    send_sms(client, UK, "The lift in our block has been broken for weeks.")
    drain(app)
    fake_twilio.reset()
    decision_id = make_decision(app)
    with app.app_context():
        decision = db.session.get(Decision, decision_id)
        loop.link(decision, list(db.session.scalars(select(FeedbackItem))))
        decision.published_at = clock.now()
        decision.summary = "We will repair the lift by 1 April."
        decision.revision = 1  # as update_outcome leaves it
        db.session.commit()
        owed = [loop.notify_decision(decision_id, 0), loop.notify_decision(decision_id, 1)]
    drain(app)

    assert owed == [1, 0]
    told = [m["body"] for m in fake_twilio.messages if "1 April" in (m["body"] or "")]
    assert len(told) == 1 and not told[0].startswith("An update")


@pytest.mark.usefixtures("quiet_hours")
def test_an_interim_update_owed_before_a_decision_is_not_sent_after_it(make_app, fake_twilio):
    """The interim update was owed while the member waited, then held (quiet hours here);
    meanwhile staff linked the item to a decision and published it. "Still working on it"
    must not go with what happened."""
    app = make_app(INTERIM_UPDATE_DAYS=21)
    client = app.test_client()
    clock.freeze(DAYTIME)
    send_sms(client, UK, "The lift in our block has been broken for weeks.")
    drain(app)
    clock.freeze(datetime(2026, 12, 15, 23, 0, tzinfo=UTC))  # 22 days on, at night
    with app.app_context():
        sweep()
    [interim] = [r for r in outbound(app) if r.kind == "interim"]
    assert interim.status == OutboundStatus.PENDING  # held until morning

    decision_id = make_decision(app)
    link_all_and_publish(app, decision_id)
    clock.freeze(datetime(2026, 12, 16, 9, 0, tzinfo=UTC))
    with app.app_context():
        sweep()
    drain(app)

    [interim] = [r for r in outbound(app) if r.kind == "interim"]
    assert interim.status == OutboundStatus.CANCELLED
    assert not [m for m in fake_twilio.messages if "still working" in (m["body"] or "")]
    assert SUMMARY in fake_twilio.messages[-2]["body"]  # then "Did we listen?"


def test_an_item_linked_to_a_draft_decision_still_gets_interim_updates(make_app, fake_twilio):
    """Linked to a decision not yet published: nothing is on its way to the member, who
    was promised word within INTERIM_UPDATE_DAYS."""
    app = make_app(INTERIM_UPDATE_DAYS=21)
    client = app.test_client()
    clock.freeze(DAYTIME)
    send_sms(client, UK, "The lift in our block has been broken for weeks.")
    drain(app)
    decision_id = make_decision(app)
    with app.app_context():
        loop.link(
            db.session.get(Decision, decision_id), list(db.session.scalars(select(FeedbackItem)))
        )
        db.session.commit()

    assert_interim_updates_every_21_days(app, fake_twilio, since=DAYTIME)


def test_a_member_waiting_for_a_translation_gets_interim_updates_until_it_comes(
    make_app, fake_twilio
):
    app = make_app(INTERIM_UPDATE_DAYS=21)
    client = app.test_client()
    clock.freeze(DAYTIME)
    send_sms(client, POLISH, "Winda w naszym bloku jest zepsuta od tygodni.")
    drain(app)
    decision_id = make_decision(app)  # no Polish summary
    link_all_and_publish(app, decision_id)
    drain(app)
    with app.app_context():
        assert loop.awaiting_translation(db.session.get(Decision, decision_id)) == {"pl": 1}

    clock.freeze(DAYTIME + timedelta(days=22))
    with app.app_context():
        sweep()
    drain(app)
    [interim] = [r for r in outbound(app) if r.kind == "interim"]
    assert interim.status != OutboundStatus.CANCELLED
    with app.app_context():
        assert fake_twilio.messages[-1]["body"] == render(
            "interim", "pl", ref=items_ref(app), days=21
        )

    with app.app_context():
        from feedback_bot.interpreting.saving import save_decision_summary

        decision = db.session.get(Decision, decision_id)
        save_decision_summary(None, decision, "pl", POLISH_SUMMARY, "reviewed")
    drain(app)
    assert POLISH_SUMMARY in fake_twilio.messages[-2]["body"]  # then "Did we listen?"

    clock.freeze(DAYTIME + timedelta(days=45))
    with app.app_context():
        sweep()
    drain(app)
    assert len([r for r in outbound(app) if r.kind == "interim"]) == 1  # told: no more


@pytest.mark.usefixtures("quiet_hours")
def test_a_reopened_item_gets_interim_updates_again(make_app, fake_twilio):
    """A "no" reopens the item; the member is then waiting again, and hears from us every
    INTERIM_UPDATE_DAYS like anyone waiting, counted from the reopening."""
    app = make_app(INTERIM_UPDATE_DAYS=21)
    client = app.test_client()
    told_of_a_decision(app, client)
    send_sms(client, UK, "3")
    drain(app)

    assert_interim_updates_every_21_days(app, fake_twilio, since=DAYTIME)


NIGHT = datetime(2026, 11, 23, 22, 30, tzinfo=UTC)  # 22:30 in London: quiet hours
MORNING = datetime(2026, 11, 24, 8, 1, tzinfo=UTC)


def update_summary(app, decision_id: int, summary: str, notify: bool = True) -> None:
    """Staff change the decision's text and (``notify``) tell those already told."""
    with app.app_context():
        decision = db.session.get(Decision, decision_id)
        decision.summary = summary
        loop.update_outcome(decision, notify_told=notify, summary_changed=True)


def morning_comes(app) -> None:
    clock.freeze(MORNING)
    with app.app_context():
        sweep()
    drain(app)


def what_next_rows(app) -> dict[int, tuple[str, str]]:
    """(kind, status) of each "what happened next" row, by the revision it tells."""
    return {
        r.decision_revision: (r.kind, r.status)
        for r in outbound(app)
        if r.kind in ("what_next", "what_next_update")
    }


@pytest.mark.usefixtures("quiet_hours")
def test_an_update_before_the_first_message_went_replaces_it(app, client, fake_twilio):
    """Published at night: "what happened next" waits for the morning. Staff change the
    decision before then: the member gets the decision once, as it now stands, and is
    asked whether they felt heard; not the old text followed by "An update"."""
    clock.freeze(NIGHT)
    send_sms(client, UK, "The lift in our block has been broken for weeks.")
    drain(app)
    decision_id = make_decision(app)
    link_all_and_publish(app, decision_id)
    drain(app)
    update_summary(app, decision_id, "We will repair the lift by 1 April.")
    drain(app)
    assert len(fake_twilio.messages) == 1  # still only the acknowledgement

    morning_comes(app)

    with app.app_context():
        ref = items_ref(app)
    assert bodies_to(fake_twilio, UK)[1:] == [
        render_in(app, "what_next", ref=ref, summary="We will repair the lift by 1 April."),
        render_in(app, "rating_question"),
    ]
    assert what_next_rows(app) == {
        0: ("what_next", OutboundStatus.CANCELLED),
        1: ("what_next", OutboundStatus.QUEUED),
    }


@pytest.mark.usefixtures("quiet_hours")
def test_an_update_before_the_last_update_went_replaces_it(app, client, fake_twilio):
    """Told in the day; two updates in the evening, both held for the morning: the member
    gets one "An update", with the latest text."""
    told_of_a_decision(app, client)
    [decision_id] = {r.decision_id for r in outbound(app) if r.decision_id}
    clock.freeze(NIGHT)
    update_summary(app, decision_id, "We will repair the lift by 1 April.")
    drain(app)
    update_summary(app, decision_id, "We will repair the lift by 1 May.")
    drain(app)
    told = len(fake_twilio.messages)

    morning_comes(app)

    with app.app_context():
        ref = items_ref(app)
    assert [m["body"] for m in fake_twilio.messages[told:]] == [
        render_in(app, "what_next_update", ref=ref, summary="We will repair the lift by 1 May."),
    ]
    assert what_next_rows(app) == {
        0: ("what_next", OutboundStatus.QUEUED),
        1: ("what_next_update", OutboundStatus.CANCELLED),
        2: ("what_next_update", OutboundStatus.QUEUED),
    }


@pytest.mark.parametrize("held", ["by a worker sending it", "in doubt after a timeout"])
def test_an_update_never_replaces_a_message_that_may_reach_the_member(app, client, held):
    """A row a worker has claimed, or whose earlier attempt may have reached Twilio, may
    reach the member whatever we do: it is not cancelled, and the newer version goes as
    "An update" after it."""
    clock.freeze(DAYTIME)
    send_sms(client, UK, "The lift in our block has been broken for weeks.")
    drain(app)
    decision_id = make_decision(app)
    owe_what_next_here(app, decision_id)
    with app.app_context():
        first = db.session.scalars(select(OutboundMessage).filter_by(kind="what_next")).one()
        if held == "by a worker sending it":
            assert claim(first.id) is not None  # as the send job takes it
            status = OutboundStatus.SENDING
        else:
            # As a timeout leaves it: the next attempt asks Twilio before sending.
            first.unconfirmed_since = clock.now()
            db.session.commit()
            status = OutboundStatus.PENDING
    update_summary(app, decision_id, "We will repair the lift by 1 April.")
    with app.app_context():
        loop.notify_decision(decision_id, 1)  # the fan-out, run here while the row is held

    assert what_next_rows(app) == {
        0: ("what_next", status),
        1: ("what_next_update", OutboundStatus.PENDING),
    }


def two_items_told_of_one_decision(app, client) -> list[str]:
    """A member writes twice, minutes apart (two items), and both are linked to one
    decision and told of it; returns the items' refs."""
    clock.freeze(DAYTIME)
    send_sms(client, UK, "The lift in our block has been broken for weeks.")
    clock.freeze(DAYTIME + timedelta(minutes=10))
    send_sms(client, UK, "And the stairs have no light at night.")
    drain(app)
    link_all_and_publish(app, make_decision(app))
    drain(app)
    with app.app_context():
        return [item.ref for item in db.session.scalars(select(FeedbackItem).order_by("id"))]


def test_a_member_told_of_one_decision_twice_is_asked_once(app, client, fake_twilio):
    """Two of a member's items linked to one decision: each is told of it (with its own
    ref), but "Did we listen?" comes once, and the answer is the member's about the
    decision, so it rates both items."""
    refs = two_items_told_of_one_decision(app, client)
    assert len(refs) == 2
    bodies = bodies_to(fake_twilio, UK)
    for ref in refs:
        assert render_in(app, "what_next", ref=ref, summary=SUMMARY) in bodies
    assert bodies.count(render_in(app, "rating_question")) == 1

    send_sms(client, UK, "1")
    drain(app)
    with app.app_context():
        items = list(db.session.scalars(select(FeedbackItem)))
        assert len(items) == 2  # not new feedback
        assert [(item.rating, item.status) for item in items] == [("yes", ItemStatus.TOLD)] * 2
    assert bodies_to(fake_twilio, UK)[-1] == render_in(app, "rating_thanks")


def test_a_no_to_one_question_about_two_items_reopens_both(app, client, fake_twilio):
    refs = two_items_told_of_one_decision(app, client)
    send_sms(client, UK, "3")
    drain(app)
    with app.app_context():
        items = list(db.session.scalars(select(FeedbackItem).order_by(FeedbackItem.id)))
        assert [(item.rating, item.status) for item in items] == [("no", ItemStatus.REOPENED)] * 2
    assert bodies_to(fake_twilio, UK)[-1] == render_in(
        app, "rating_reopened", ref=", ".join(refs), days=app.config["INTERIM_UPDATE_DAYS"]
    )


def later_feedback_told_of_the_decision(app, client, when: datetime) -> None:
    """At ``when`` the member writes again, and staff link it to the (one) decision."""
    clock.freeze(when)
    send_sms(client, UK, "The lift is broken again.")
    drain(app)
    with app.app_context():
        decision = db.session.scalars(select(Decision)).one()
        later = db.session.scalars(select(FeedbackItem).where(FeedbackItem.told_at.is_(None))).one()
        loop.link(decision, [later])
        db.session.commit()
        loop.notify_decision(decision.id)
    drain(app)


def test_later_feedback_linked_to_an_answered_decision_is_asked_about_again(
    app, client, fake_twilio
):
    """One question per decision while it waits for an answer, not one per decision
    for ever: feedback linked weeks after the member answered is asked about afresh."""
    told_of_a_decision(app, client)
    send_sms(client, UK, "1")
    drain(app)
    later_feedback_told_of_the_decision(app, client, DAYTIME + timedelta(days=30))
    assert bodies_to(fake_twilio, UK).count(render_in(app, "rating_question")) == 2
    send_sms(client, UK, "2")
    drain(app)
    with app.app_context():
        ratings = [item.rating for item in db.session.scalars(select(FeedbackItem).order_by("id"))]
    assert ratings == ["yes", "partly"]


def test_two_items_reopened_together_and_told_again_are_asked_about_once(app, client, fake_twilio):
    """Both items reopened by one "no", then linked to a new decision: told again, asked
    once more, and the new answer replaces the old "no" on both."""
    two_items_told_of_one_decision(app, client)
    reopened_then_told_again(app, client, DAYTIME + timedelta(days=5))
    assert bodies_to(fake_twilio, UK).count(render_in(app, "rating_question")) == 2
    send_sms(client, UK, "1")
    drain(app)
    with app.app_context():
        items = list(db.session.scalars(select(FeedbackItem).order_by(FeedbackItem.id)))
        assert [(item.rating, item.status) for item in items] == [("yes", ItemStatus.TOLD)] * 2


def told_with_the_question_held(app, client, until: datetime) -> int:
    """A member writes at DAYTIME and is told of a decision; its "Did we listen?" is owed
    but held until ``until`` (as for the morning). Returns the question's row id."""
    from feedback_bot.jobs.send import send_outbound

    clock.freeze(DAYTIME)
    send_sms(client, UK, "The lift in our block has been broken for weeks.")
    drain(app)
    owe_what_next_here(app, make_decision(app))
    with app.app_context():
        told = db.session.scalars(select(OutboundMessage).filter_by(kind="what_next")).one()
        send_outbound(told.id)
        question = db.session.scalars(
            select(OutboundMessage).filter_by(kind="rating_question")
        ).one()
        question.next_attempt_at = until
        db.session.commit()
        return question.id


def test_a_digit_sent_before_the_question_went_is_feedback(app, client, fake_twilio):
    """ "Did we listen?" held back (quiet hours, a WhatsApp template) has not been seen: a
    "3" sent meanwhile is the member's own message, not an answer that reopens the item."""
    told_with_the_question_held(app, client, until=DAYTIME + timedelta(hours=12))
    send_sms(client, UK, "3")
    with app.app_context():
        items = list(db.session.scalars(select(FeedbackItem).order_by(FeedbackItem.id)))
        assert [(item.status, item.rating) for item in items] == [
            (ItemStatus.TOLD, None),
            (ItemStatus.NEW, None),
        ]


def test_a_digit_sent_before_the_question_went_but_read_after_is_feedback(app, client, fake_twilio):
    """The member's "3" was written while the question was still held; a worker reaches
    it only after the question went. It is still their own message: what counts is when
    they wrote, not when it was processed."""
    from feedback_bot.jobs.send import send_outbound

    from .conftest import run_worker

    question_id = told_with_the_question_held(app, client, until=DAYTIME + timedelta(hours=1))
    clock.freeze(DAYTIME + timedelta(minutes=59))
    send_sms(client, UK, "3", process=False)
    clock.freeze(DAYTIME + timedelta(hours=1, seconds=1))
    with app.app_context():
        assert send_outbound(question_id) == "sent"
    run_worker(app)  # now the "3"
    with app.app_context():
        items = list(db.session.scalars(select(FeedbackItem).order_by(FeedbackItem.id)))
        assert [(item.status, item.rating) for item in items] == [
            (ItemStatus.TOLD, None),
            (ItemStatus.NEW, None),
        ]


def test_an_answer_sent_during_a_database_outage_gets_one_reply(make_app, fake_twilio):
    """The webhook cannot tell a "3" that answers "Did we listen?" from feedback while the
    database is down: it does not answer inline, and intake answers once, as a rating."""
    from .test_outage_opt_outs import during_outage

    app = make_app()
    client = app.test_client()
    told_of_a_decision(app, client)
    clock.freeze(DAYTIME + timedelta(hours=1))
    assert "<Message>" not in during_outage(make_app, UK, "3")
    with app.app_context():
        assert sweep()["spool_ingested"] == 1
    drain(app)
    with app.app_context():
        item = db.session.scalars(select(FeedbackItem)).one()  # not new feedback
        assert (item.rating, item.status) == ("no", ItemStatus.REOPENED)
    replies = bodies_to(fake_twilio, UK)
    assert replies[-1] == render_in(
        app, "rating_reopened", ref=item.ref, days=app.config["INTERIM_UPDATE_DAYS"]
    )
    assert render_in(app, "ack_inline", days=21) not in replies


def test_a_digit_that_is_feedback_is_acknowledged_once_the_database_is_back(make_app, fake_twilio):
    from .test_outage_opt_outs import during_outage

    app = make_app()
    clock.freeze(DAYTIME)
    assert "<Message>" not in during_outage(make_app, UK, "2")
    with app.app_context():
        assert sweep()["spool_ingested"] == 1
    drain(app)
    with app.app_context():
        item = db.session.scalars(select(FeedbackItem)).one()
    assert bodies_to(fake_twilio, UK) == [render_in(app, "ack", ref=item.ref, days=21)]


def test_a_digit_answers_the_question_asked_last_menu_or_rating(app, client, fake_twilio):
    """The language menu (asked first) and then "Did we listen?" both wait for a digit:
    "3" answers the rating. Asked the other way round, "2" picks a language."""
    clock.freeze(DAYTIME)
    send_sms(client, UK, "The lift in our block has been broken for weeks.")
    send_sms(client, UK, "LANGUAGE")
    drain(app)
    clock.freeze(DAYTIME + timedelta(minutes=30))
    link_all_and_publish(app, make_decision(app))
    drain(app)
    clock.freeze(DAYTIME + timedelta(minutes=35))
    send_sms(client, UK, "3")
    drain(app)
    with app.app_context():
        item = db.session.scalars(select(FeedbackItem)).one()
        assert (item.rating, item.status, item.contact.locale) == (
            "no",
            ItemStatus.REOPENED,
            "en",
        )

    # Now the other way round: told again, then the menu, then a digit.
    clock.freeze(DAYTIME + timedelta(days=1))
    link_all_and_publish(app, make_decision(app))
    drain(app)
    clock.freeze(DAYTIME + timedelta(days=1, minutes=10))
    send_sms(client, UK, "LANGUAGE")
    drain(app)
    clock.freeze(DAYTIME + timedelta(days=1, minutes=15))
    send_sms(client, UK, "2")
    drain(app)
    with app.app_context():
        item = db.session.scalars(select(FeedbackItem)).one()
        assert item.rating == "no"  # the answer of the day before, unchanged
        assert item.contact.locale != "en"  # the menu's second language


@pytest.mark.usefixtures("quiet_hours")
def test_an_answer_to_an_older_question_does_not_use_up_one_still_held(app, client, fake_twilio):
    """Told of a decision and asked; then told of a second one in the evening, whose
    question waits for the morning. The member answers the first that night: the
    morning's question is still theirs to answer."""
    from feedback_bot.jobs.send import send_outbound

    told_of_a_decision(app, client)  # at noon, and asked
    evening = DAYTIME.replace(hour=20, minute=59)
    clock.freeze(evening)
    with app.app_context():
        decision = db.session.get(Decision, make_decision(app))
        loop.link(decision, list(db.session.scalars(select(FeedbackItem))))
        loop.publish(decision)
        decision_id = decision.id
        loop.notify_decision(decision_id)
        told = db.session.scalars(
            select(OutboundMessage).filter_by(kind="what_next", decision_id=decision_id)
        ).one()
        assert send_outbound(told.id) == "sent"  # before 21:00; its question is owed
    clock.freeze(evening + timedelta(minutes=2))
    drain(app)  # the question waits for the morning
    clock.freeze(evening + timedelta(hours=1))
    send_sms(client, UK, "1")  # answers the noon question
    drain(app)
    clock.freeze(DAYTIME + timedelta(days=1) - timedelta(hours=4))  # 08:00
    drain(app)
    assert bodies_to(fake_twilio, UK)[-1] == render_in(app, "rating_question")
    clock.freeze(DAYTIME + timedelta(days=1) - timedelta(hours=3))
    send_sms(client, UK, "3")
    drain(app)
    with app.app_context():
        item = db.session.scalars(select(FeedbackItem)).one()  # not new feedback
        assert (item.rating, item.status) == ("no", ItemStatus.REOPENED)


def test_an_item_told_days_after_the_first_is_asked_about_itself(app, client, fake_twilio):
    """One question covers the items of one fan-out; an item linked to the decision two
    days later is asked again, not left with an old question about to expire."""
    told_of_a_decision(app, client)
    later_feedback_told_of_the_decision(app, client, DAYTIME + timedelta(days=2))
    assert bodies_to(fake_twilio, UK).count(render_in(app, "rating_question")) == 2
