"""A member's "no" to "Did we listen?" reopens their feedback: it waits again (interim
updates included) whatever staff mark it, until they link it to a decision again, the one
it had or another; the member is then told that decision as it stands and asked again."""

from __future__ import annotations

import html
import re
from datetime import timedelta

from sqlalchemy import select

from feedback_bot import clock, loop
from feedback_bot.extensions import db
from feedback_bot.jobs.sweep import sweep
from feedback_bot.models import Decision, FeedbackItem, ItemStatus, Role

from .conftest import drain, outbound, send_sms
from .test_auth import create_user, sign_in
from .test_loop import (
    DAYTIME,
    SUMMARY,
    UK,
    assert_interim_updates_every_21_days,
    bodies_to,
    render_in,
    told_of_a_decision,
    update_summary,
)


def reopened_and_triaged(app, client) -> tuple[int, int, str]:
    """The member is told of a decision at DAYTIME and answers "3" (no) an hour later;
    staff mark the reopened item triaged. Returns the item's id, its decision's id and its
    reference."""
    told_of_a_decision(app, client)
    clock.freeze(DAYTIME + timedelta(hours=1))
    send_sms(client, UK, "3")
    drain(app)
    create_user(app, Role.STAFF)
    assert sign_in(client, "staff@example.org").status_code == 302
    with app.app_context():
        item = db.session.scalars(select(FeedbackItem)).one()
        found = item.id, item.decision_id, item.ref
    assert item.status == ItemStatus.REOPENED
    client.post(f"/admin/items/{found[0]}/triage")
    return found


def status_of(app, item_id: int) -> str:
    with app.app_context():
        return db.session.get(FeedbackItem, item_id).status


def interim_updates(app) -> int:
    return len([r for r in outbound(app) if r.kind == "interim"])


def test_a_reopened_item_marked_triaged_still_gets_interim_updates(make_app, fake_twilio):
    """Marking a reopened item triaged says staff have seen it, not that the member has
    heard anything: they still hear from us every INTERIM_UPDATE_DAYS."""
    app = make_app(INTERIM_UPDATE_DAYS=21)
    client = app.test_client()
    item_id, _, _ = reopened_and_triaged(app, client)
    assert status_of(app, item_id) == ItemStatus.TRIAGED

    assert_interim_updates_every_21_days(app, fake_twilio, since=DAYTIME + timedelta(hours=1))


def test_a_reopened_item_linked_again_to_its_decision_is_told_it_again(make_app, fake_twilio):
    """Staff look again and link the item to the decision it had: the member hears the
    decision as it stands and is asked again whether we listened; their answer rates the
    item. The item is told, and no longer waiting: no more interim updates."""
    app = make_app(INTERIM_UPDATE_DAYS=21)
    client = app.test_client()
    item_id, decision_id, ref = reopened_and_triaged(app, client)
    clock.freeze(DAYTIME + timedelta(days=5))

    response = client.post(
        f"/admin/items/{item_id}/link",
        data={"decision_id": decision_id, "confirmed": "yes"},
        follow_redirects=True,
    )
    assert "Linked to" in response.get_data(as_text=True)
    drain(app)

    assert bodies_to(fake_twilio, UK)[-2:] == [
        render_in(app, "what_next", ref=ref, summary=SUMMARY),
        render_in(app, "rating_question"),
    ]
    assert status_of(app, item_id) == ItemStatus.TOLD
    answered = DAYTIME + timedelta(days=5, hours=1)
    clock.freeze(answered)
    send_sms(client, UK, "1")
    drain(app)
    with app.app_context():
        item = db.session.scalars(select(FeedbackItem)).one()  # not new feedback
        assert (item.rating, item.rated_at) == ("yes", answered)
    assert bodies_to(fake_twilio, UK)[-1] == render_in(app, "rating_thanks")

    # Once: linking again is nothing new now, and no run of the fan-out owes it again.
    sent = len(fake_twilio.messages)
    response = client.post(
        f"/admin/items/{item_id}/link", data={"decision_id": decision_id}, follow_redirects=True
    )
    assert "Already linked" in response.get_data(as_text=True)
    with app.app_context():
        assert loop.notify_decision(decision_id) == 0
    clock.freeze(DAYTIME + timedelta(days=30))
    with app.app_context():
        sweep()
    drain(app)
    assert len(fake_twilio.messages) == sent
    assert interim_updates(app) == 0


def test_an_update_heard_while_reopened_is_not_the_answer_to_the_reopening(
    app, client, fake_twilio
):
    """Staff change the decision while the item is reopened: the member gets the update,
    as everyone told does. Linking the item again afterwards still answers the member
    (the decision as it now stands, and the question), once."""
    item_id, decision_id, ref = reopened_and_triaged(app, client)
    changed = "We will replace the lift by 1 June."
    update_summary(app, decision_id, changed)
    drain(app)
    assert bodies_to(fake_twilio, UK)[-1] == render_in(
        app, "what_next_update", ref=ref, summary=changed
    )
    assert status_of(app, item_id) == ItemStatus.TRIAGED  # still waiting for staff

    client.post(
        "/admin/items/bulk",
        data={
            "item_ids": [item_id],
            "action": "link",
            "decision_id": decision_id,
            "confirmed": "yes",
        },
    )
    drain(app)
    with app.app_context():
        assert loop.notify_decision(decision_id) == 0
        assert loop.awaiting_translation(db.session.get(Decision, decision_id)) == {}
    drain(app)

    assert bodies_to(fake_twilio, UK)[-2:] == [
        render_in(app, "what_next", ref=ref, summary=changed),
        render_in(app, "rating_question"),
    ]
    assert len([b for b in bodies_to(fake_twilio, UK) if changed in b]) == 2
    assert status_of(app, item_id) == ItemStatus.TOLD


def test_the_page_of_a_reopened_item_says_the_member_was_not_heard(app, client, fake_twilio):
    """It says what the member said and what staff can do, and does not offer the decision
    they said no to as the one to link: chosen knowingly, linking it texts them its summary
    again, and the confirmation says so."""
    item_id, decision_id, _ = reopened_and_triaged(app, client)
    page = client.get(f"/admin/items/{item_id}").get_data(as_text=True)
    said = " ".join(re.sub(r"<[^>]+>", " ", html.unescape(page)).split())

    assert "The member does not feel heard" in said
    assert "they answered “no” to “Did we listen?” about “Lift repairs”" in said
    assert "every 21 days until someone answers them" in said
    assert "If another decision answers what they asked, link this to it" in said
    assert "Unchanged, that is the text they said no to." in said
    assert "close it as no action" in said
    [link_form] = re.findall(r"<form[^>]*data-link-form>.*?</form>", page, re.S)
    assert "selected" not in link_form
    assert f'<option value="{decision_id}">Lift repairs (published)</option>' in link_form

    asked = client.post(f"/admin/items/{item_id}/link", data={"decision_id": decision_id})
    said = " ".join(re.sub(r"<[^>]+>", " ", html.unescape(asked.get_data(as_text=True))).split())
    assert "The member answered “no” to “Did we listen?” about this decision" in said
    assert "they get its summary again, as it stands now" in said


def test_a_reopened_item_answered_is_no_longer_marked_not_heard(app, client, fake_twilio):
    """Once answered (linked again and told), the item is no longer "not heard"."""
    item_id, decision_id, _ = reopened_and_triaged(app, client)
    client.post(
        f"/admin/items/{item_id}/link", data={"decision_id": decision_id, "confirmed": "yes"}
    )
    drain(app)
    assert status_of(app, item_id) == ItemStatus.TOLD
    page = client.get(f"/admin/items/{item_id}").get_data(as_text=True)
    assert "data-reopened-note" not in page
