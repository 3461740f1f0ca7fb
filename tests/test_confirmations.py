"""What texts members asks first: the page says who is texted what, and nothing is sent
until staff confirm (no JavaScript needed). A member told one decision is never sent a
second, contradicting one."""

from __future__ import annotations

import html
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from feedback_bot import clock
from feedback_bot.extensions import db
from feedback_bot.models import (
    Decision,
    FeedbackItem,
    ItemStatus,
    MessageKind,
    OutboundMessage,
    OutboundStatus,
    Role,
)

from .conftest import drain
from .test_admin_items import as_role
from .test_auth import audit_entries
from .test_closing import (
    LIFT,
    LIGHTS,
    POLISH,
    POLISH_SUMMARY,
    REASON,
    UK,
    bodies_to,
    closure_asked,
    new_decision,
    ref_of,
    rows_of,
    state_of,
    write_in,
)
from .test_loop import DAYTIME, NIGHT, SUMMARY, morning_comes, render_in, told_of_a_decision

OTHER_SUMMARY = "We will not replace the lift this year; it will be serviced monthly."


def text_of(response: TestResponse) -> str:
    """The page's text with its whitespace collapsed, as a reader sees it."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).split())


def confirm(client: FlaskClient, asked: TestResponse, button: str = "") -> TestResponse:
    """Press the confirmation page's button: post its form's hidden values to its action,
    with ``button``'s name and value if the button has them."""
    page = asked.get_data(as_text=True)
    [form] = re.findall(r"<form method=\"post\"[^>]*>.*?</form>", page, re.S)[-1:]
    action = re.search(r'action="([^"]+)"', form)
    fields = [
        (html.unescape(name), html.unescape(value))
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form)
    ]
    if button:
        [pressed] = re.findall(
            rf'<button type="submit"[^>]* name="({button})" value="([^"]*)"', form
        )
        fields.append(pressed)
    data: dict[str, list[str]] = {}
    for name, value in fields:
        data.setdefault(name, []).append(value)
    return client.post(html.unescape(action.group(1)) if action else "", data=data)


def summary_in(page: str, locale: str) -> str:
    """What a confirmation page shows members of ``locale`` will read."""
    found = re.search(
        rf'<section class="summary-in" data-summary-in="{locale}">(.*?)</section>', page, re.S
    )
    assert found, page
    return html.unescape(found.group(1))


def another_published_decision(app: Flask) -> int:
    with app.app_context():
        decision = Decision(title="Lift service", summary=OTHER_SUMMARY, published_at=clock.now())
        db.session.add(decision)
        db.session.commit()
        return decision.id


# ------------------------------------------------------------------------------ linking


def test_bulk_linking_to_a_published_decision_asks_first(app, client, fake_twilio):
    clock.freeze(DAYTIME)
    english = write_in(app, client, UK, LIFT)
    polish = write_in(app, client, POLISH, LIGHTS)
    decision_id = new_decision(app, published=True, polish=False)
    as_role(app, client, Role.STAFF)
    sent = len(fake_twilio.messages)

    asked = client.post(
        "/admin/items/bulk",
        data={
            "item_ids": [english, polish],
            "action": "link",
            "decision_id": decision_id,
            "back": "status=new",
        },
    )
    assert asked.status_code == 200
    page = text_of(asked)
    assert "Link 2 items to “Street lights” and text their members?" in page
    assert "linking texts each member now" in page
    assert "2 members texted: English (en) 1, Polski (pl) 1." in page
    assert "No summary yet in Polski (pl) for 1 member:" in page
    # What each of them reads: the English summary, and the Polish one still to come.
    raw = asked.get_data(as_text=True)
    assert SUMMARY in summary_in(raw, "en")
    assert "Not translated yet" in summary_in(raw, "pl")
    assert 'href="/admin/items?status=new">Cancel' in asked.get_data(as_text=True)
    drain(app)
    assert len(fake_twilio.messages) == sent
    assert state_of(app, english) == (ItemStatus.NEW, None)
    assert audit_entries(app, "item.link") == []

    done = confirm(client, asked)
    assert done.headers["Location"] == "/admin/items?status=new"
    drain(app)
    assert bodies_to(fake_twilio, UK)[1:] == [
        render_in(app, "what_next", ref=ref_of(app, english), summary=SUMMARY),
        render_in(app, "rating_question"),
    ]
    assert state_of(app, polish) == (ItemStatus.LINKED, decision_id)  # waits for Polish
    assert sorted(e.target_id for e in audit_entries(app, "item.link")) == [english, polish]


def test_linking_to_a_draft_does_not_ask(app, client, fake_twilio):
    """Nothing is sent until the decision is published, and publishing asks then."""
    clock.freeze(DAYTIME)
    item_id = write_in(app, client, UK, LIFT)
    decision_id = new_decision(app)
    as_role(app, client, Role.STAFF)
    response = client.post(f"/admin/items/{item_id}/link", data={"decision_id": decision_id})
    assert response.status_code == 302
    assert state_of(app, item_id) == (ItemStatus.LINKED, decision_id)


def test_a_member_told_a_decision_is_not_sent_another(app, client, fake_twilio):
    told_of_a_decision(app, client)
    with app.app_context():
        item = db.session.scalars(select(FeedbackItem)).one()
        item_id, first = item.id, item.decision_id
    assert state_of(app, item_id) == (ItemStatus.TOLD, first)
    other = another_published_decision(app)
    as_role(app, client, Role.STAFF)
    sent = len(fake_twilio.messages)

    page = client.get(f"/admin/items/{item_id}").get_data(as_text=True)
    assert "data-told-note" in page and "data-link-form" not in page

    refused = client.post(
        f"/admin/items/{item_id}/link",
        data={"decision_id": other, "confirmed": "yes"},
        follow_redirects=True,
    )
    assert "Not linked: the member has been told “Lift repairs”" in text_of(refused)
    bulk = client.post(
        "/admin/items/bulk",
        data={"item_ids": [item_id], "action": "link", "decision_id": other, "confirmed": "yes"},
        follow_redirects=True,
    )
    assert "Linked 0 item(s)" in text_of(bulk)
    assert "1 left as they were: their members have been told another decision" in text_of(bulk)

    drain(app)
    assert len(fake_twilio.messages) == sent
    assert state_of(app, item_id) == (ItemStatus.TOLD, first)
    assert audit_entries(app, "item.link") == []


@pytest.mark.usefixtures("quiet_hours")
def test_moving_an_item_before_its_decision_went_sends_only_the_new_one(app, client, fake_twilio):
    """Linked to a published decision at night, the member's message waits for the
    morning; staff move the item to another decision meanwhile. In the morning the member
    hears the second decision only."""
    clock.freeze(NIGHT)
    item_id = write_in(app, client, UK, LIFT)
    first = new_decision(app, published=True)
    as_role(app, client, Role.STAFF)
    client.post(f"/admin/items/{item_id}/link", data={"decision_id": first, "confirmed": "yes"})
    drain(app)
    [held] = rows_of(app, item_id, MessageKind.WHAT_NEXT)
    assert held.status == OutboundStatus.PENDING

    other = another_published_decision(app)
    client.post(f"/admin/items/{item_id}/link", data={"decision_id": other, "confirmed": "yes"})
    morning_comes(app)

    assert bodies_to(fake_twilio, UK)[1:] == [
        render_in(app, "what_next", ref=ref_of(app, item_id), summary=OTHER_SUMMARY),
        render_in(app, "rating_question"),
    ]
    rows = {row.decision_id: row.status for row in rows_of(app, item_id, MessageKind.WHAT_NEXT)}
    assert rows[first] == OutboundStatus.CANCELLED
    assert rows[other] in (OutboundStatus.QUEUED, OutboundStatus.SENT, OutboundStatus.DELIVERED)


@pytest.mark.usefixtures("quiet_hours")
def test_an_item_being_told_its_decision_is_not_moved(app, client, fake_twilio):
    """A worker holds the member's "what happened next": it may reach them whatever we do,
    so the item is not linked to another decision under it."""
    clock.freeze(NIGHT)
    item_id = write_in(app, client, UK, LIFT)
    first = new_decision(app, published=True)
    as_role(app, client, Role.STAFF)
    client.post(f"/admin/items/{item_id}/link", data={"decision_id": first, "confirmed": "yes"})
    drain(app)
    [held] = rows_of(app, item_id, MessageKind.WHAT_NEXT)
    with app.app_context():
        db.session.get(OutboundMessage, held.id).status = OutboundStatus.SENDING
        db.session.commit()

    refused = client.post(
        f"/admin/items/{item_id}/link",
        data={"decision_id": another_published_decision(app), "confirmed": "yes"},
        follow_redirects=True,
    )
    assert "or is being told it right now" in text_of(refused)
    assert state_of(app, item_id) == (ItemStatus.LINKED, first)


# ------------------------------------------------------------------------------ closing


def test_closing_asks_first_and_says_it_texts_the_member(app, client, fake_twilio):
    clock.freeze(DAYTIME)
    item_id = write_in(app, client, UK, LIFT)
    decision_id = new_decision(app)
    as_role(app, client, Role.STAFF)
    client.post(f"/admin/items/{item_id}/link", data={"decision_id": decision_id})
    sent = len(fake_twilio.messages)

    asked = client.post(f"/admin/items/{item_id}/close", data={"reason": REASON})
    assert asked.status_code == 200
    page = text_of(asked)
    assert f"Close {ref_of(app, item_id)} as no action and text the member?" in page
    assert "Closing texts the member now" in page and "“Did we listen?”" in page
    assert "1 member texted: English (en) 1." in page
    assert "Closing unlinks it from “Street lights”" in page
    assert REASON in page
    drain(app)
    assert len(fake_twilio.messages) == sent
    assert state_of(app, item_id) == (ItemStatus.LINKED, decision_id)
    assert audit_entries(app, "item.close") == []

    # Cancel: back to the item, "Close as no action" open with the reason as typed.
    back = confirm(client, asked, button="keep_editing")
    assert back.status_code == 200
    item_page = back.get_data(as_text=True)
    assert re.search(r"<details open>\s*<summary>Close as no action…</summary>", item_page)
    assert f"\n{html.escape(REASON)}</textarea>" in item_page
    drain(app)
    assert len(fake_twilio.messages) == sent
    assert state_of(app, item_id) == (ItemStatus.LINKED, decision_id)
    assert audit_entries(app, "item.close") == []
    assert "<details open>" not in client.get(f"/admin/items/{item_id}").get_data(as_text=True)

    done = confirm(client, asked)
    assert done.headers["Location"] == f"/admin/items/{item_id}"
    drain(app)
    assert bodies_to(fake_twilio, UK)[1:] == closure_asked(app, "en", item_id)
    assert state_of(app, item_id) == (ItemStatus.CLOSED, None)


def test_bulk_closing_asks_first_and_carries_the_reason_as_typed(app, client, fake_twilio):
    clock.freeze(DAYTIME)
    english = write_in(app, client, UK, LIFT)
    polish = write_in(app, client, POLISH, LIGHTS)
    as_role(app, client, Role.STAFF)
    client.post(f"/admin/items/{polish}/close", data={"reason": "Earlier.", "confirmed": "yes"})
    drain(app)
    sent = len(fake_twilio.messages)
    reason = 'Not ours: the county\'s.\nSee "Highways" <policy> & budget.'

    asked = client.post(
        "/admin/items/bulk",
        data={"item_ids": [english, polish], "action": "close", "reason": reason},
    )
    page = text_of(asked)
    assert "Close 1 item as no action and text their members?" in page
    assert "1 member texted: English (en) 1." in page
    assert "1 of the selected items stays as it is: closed already" in page
    assert len(fake_twilio.messages) == sent

    confirm(client, asked)
    drain(app)
    assert bodies_to(fake_twilio, UK)[1:] == closure_asked(app, "en", english)
    assert [e.detail["reason"] for e in audit_entries(app, "item.close")][-1] == reason
    assert state_of(app, english) == (ItemStatus.CLOSED, None)


# ------------------------------------------------------------- updating a published one


def test_an_update_says_how_many_it_texts_and_can_be_saved_without_texting(
    app, client, fake_twilio
):
    clock.freeze(DAYTIME)
    english = write_in(app, client, UK, LIFT)
    polish = write_in(app, client, POLISH, LIGHTS)
    decision_id = new_decision(app, published=True)
    as_role(app, client, Role.STAFF)
    for item_id in (english, polish):
        client.post(
            f"/admin/items/{item_id}/link", data={"decision_id": decision_id, "confirmed": "yes"}
        )
    drain(app)
    sent = len(fake_twilio.messages)
    edit = f"/admin/decisions/{decision_id}/edit"
    fixed = SUMMARY.replace("repair", "mend") + "\nThank you."

    asked = client.post(
        edit,
        data={"title": "Street lights", "outcome": "adopted", "summary": fixed, "notify_told": "y"},
    )
    page = text_of(asked)
    assert "Save and text 2 members already told?" in page
    assert "2 members texted: English (en) 1, Polski (pl) 1." in page
    assert (
        "members in Polski (pl) are texted once an interpreter has translated the new one" in page
    )
    assert 'name="notify_told"' not in re.sub(r"<button[^>]*>", "", asked.get_data(as_text=True))

    # "Save without texting anyone": the hidden values alone.
    assert confirm(client, asked).headers["Location"] == f"/admin/decisions/{decision_id}"
    drain(app)
    with app.app_context():
        decision = db.session.get(Decision, decision_id)
        assert (decision.summary, decision.revision) == (fixed, 0)
    assert len(fake_twilio.messages) == sent
    assert audit_entries(app, "decision.update_outcome")[-1].detail["notify_told"] is False

    # "Save and text": the update goes (to the English member now; Polish waits).
    news = "We will replace the lift instead, by 1 May."
    client.post(
        edit,
        data={
            "title": "Street lights",
            "outcome": "adopted",
            "summary": news,
            "notify_told": "y",
            "confirmed": "yes",
        },
    )
    drain(app)
    assert bodies_to(fake_twilio, UK)[-1] == render_in(
        app, "what_next_update", ref=ref_of(app, english), summary=news
    )
    assert len(fake_twilio.messages) == sent + 1


def test_a_confirmation_shows_each_language_the_summary_members_read_in(app, client, fake_twilio):
    clock.freeze(DAYTIME)
    english = write_in(app, client, UK, LIFT)
    polish = write_in(app, client, POLISH, LIGHTS)
    decision_id = new_decision(app, published=True, polish=True)
    as_role(app, client, Role.STAFF)

    asked = client.post(
        "/admin/items/bulk",
        data={"item_ids": [english, polish], "action": "link", "decision_id": decision_id},
    )

    page = asked.get_data(as_text=True)
    assert "data-untranslated" not in page
    assert SUMMARY in summary_in(page, "en")
    polish_text = summary_in(page, "pl")
    assert POLISH_SUMMARY in polish_text and SUMMARY not in polish_text
    assert re.search(r'data-summary-in="pl">\s*<h3>In <span lang="pl"', page)
    assert re.search(r'<blockquote class="body" lang="pl" dir="ltr">', page)


def test_cancelling_an_update_goes_back_to_the_form_with_what_was_typed(app, client, fake_twilio):
    """The edits are not lost, and nothing is saved or sent."""
    clock.freeze(DAYTIME)
    english = write_in(app, client, UK, LIFT)
    decision_id = new_decision(app, published=True)
    as_role(app, client, Role.STAFF)
    client.post(
        f"/admin/items/{english}/link", data={"decision_id": decision_id, "confirmed": "yes"}
    )
    drain(app)
    sent = len(fake_twilio.messages)
    edit = f"/admin/decisions/{decision_id}/edit"
    typed = {
        "title": "Street lights & lamps",
        "description": "Asked for by <Block C>.",
        "outcome": "adopted",
        "reason": "Dark streets are unsafe.\nThe council agreed.",
        "responsible": "Highways",
        "expected_date": "2026-05-01",
        "summary": "We will replace the lights by 1 May.",
        "notify_told": "y",
    }
    asked = client.post(edit, data=typed)
    assert "Save and text 1 member already told?" in text_of(asked)

    back = confirm(client, asked, button="keep_editing")
    assert back.status_code == 200
    page = back.get_data(as_text=True)
    assert "<h1>Edit “Street lights”</h1>" in page
    for name in ("title", "responsible", "expected_date"):
        [field] = re.findall(rf'<input[^>]* name="{name}"[^>]*>', page)
        assert f'value="{html.escape(typed[name])}"' in field, name
    for name in ("description", "reason", "summary"):
        assert re.search(
            rf'name="{name}"[^>]*>\s*{re.escape(html.escape(typed[name]))}</textarea>', page
        ), name
    [ticked] = re.findall(r'<input[^>]* name="notify_told"[^>]*>', page)
    assert " checked " in ticked
    with app.app_context():
        decision = db.session.get(Decision, decision_id)
        assert (decision.title, decision.summary, decision.revision) == (
            "Street lights",
            SUMMARY,
            0,
        )
    drain(app)
    assert len(fake_twilio.messages) == sent
    assert audit_entries(app, "decision.update_outcome") == []
    assert audit_entries(app, "decision.edit") == []

    # Sent again as it stands, it asks again.
    again = client.post(edit, data=typed)
    assert "Save and text 1 member already told?" in text_of(again)
