"""What the interpreters' workspace lists, and the ways into a translation from the
panel's own pages: a summary outdated by staff's edit, a draft decision's summary before it
is published, feedback translations left as drafts or waiting for review; and members
counted once each wherever a page says "members"."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from feedback_bot import clock, loop
from feedback_bot.extensions import db
from feedback_bot.models import (
    Decision,
    DecisionTranslation,
    FeedbackItem,
    InboundMessage,
    MessageKind,
    OutboundStatus,
    Role,
)

from .conftest import drain, outbound, send_sms
from .test_admin_decisions import POLISH_NAMED
from .test_auth import create_user, sign_in
from .test_confirmations import text_of
from .test_interpreter_pages import ARABIC, ARABIC_MEMBER

MIDDAY = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
POLISH_MEMBERS = ("+48512345678", "+48512345679", "+48512345670")
POLISH = "Winda w naszym bloku jest zepsuta od tygodni."
SUMMARY = "We will repair the lift by 1 March."
SUMMARY_PL = "Naprawimy windę do 1 marca."


def signed_in(app: Flask, role: str, languages: str = "") -> FlaskClient:
    """A client of its own, signed in as a new user of ``role``."""
    create_user(app, role, languages=languages)
    client = app.test_client()
    assert sign_in(client, f"{role}@example.org").status_code == 302
    return client


def page_of(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


def part(page: str, marker: str, end: str = "</table>") -> str:
    """The piece of ``page`` from ``marker`` to the next ``end`` ("" if it has none)."""
    return page.split(marker, 1)[1].split(end, 1)[0] if marker in page else ""


def summary_rows(page: str) -> list[tuple[int, str]]:
    """(decision id, language) of each row of the workspace's summaries, in order."""
    table = part(page, 'id="summary-queue"')
    return [
        (int(decision), locale)
        for decision, locale in re.findall(r'<tr data-decision="(\d+)" data-locale="(\w+)">', table)
    ]


def members_cell(page: str, decision_id: int, locale: str) -> str:
    """What the workspace's summaries say of the members a row's summary is for."""
    row = part(page, f'<tr data-decision="{decision_id}" data-locale="{locale}">', "</tr>")
    found = re.search(r'<td data-members="\d+">([^<]*)</td>', row)
    assert found, row
    return found.group(1).strip()


def bodies_to(fake_twilio, number: str) -> list[str]:
    return [message["body"] for message in fake_twilio.messages_to(number)]


def write_in(app: Flask, client: FlaskClient, number: str, text: str = POLISH) -> int:
    """A member's feedback, acknowledged; returns its item's id."""
    assert send_sms(client, number, text).status_code == 200
    drain(app)
    with app.app_context():
        return db.session.scalars(select(FeedbackItem.id).order_by(FeedbackItem.id.desc())).first()


def decision_with(
    app: Flask,
    title: str,
    item_ids: tuple[int, ...] = (),
    published: bool = False,
    summary: str = SUMMARY,
    polish: str | None = None,
) -> int:
    """A decision linked to ``item_ids``, with a Polish translation in state ``polish``."""
    with app.app_context():
        decision = Decision(title=title, summary=summary)
        if polish:
            decision.translations.append(
                DecisionTranslation(locale="pl", summary=SUMMARY_PL, state=polish)
            )
        db.session.add(decision)
        db.session.commit()
        if item_ids:
            items = [db.session.get(FeedbackItem, item_id) for item_id in item_ids]
            loop.link(decision, items)
        if published:
            loop.publish(decision)
        return decision.id


# ------------------------------------------------------------------ decision summaries


def test_a_summary_staff_changed_is_listed_to_translate_again_though_nobody_waits(
    app, client, fake_twilio
):
    """Staff edit a published summary without sending an update: the Polish translation is
    outdated, and the member told the old text waits for nothing. Members linked later
    would wait for the new one; the workspace lists it for Polish interpreters."""
    clock.freeze(MIDDAY)
    item_id = write_in(app, client, POLISH_MEMBERS[0])
    decision_id = decision_with(app, "Lift", (item_id,), published=True, polish="reviewed")
    drain(app)
    assert any(SUMMARY_PL in body for body in bodies_to(fake_twilio, POLISH_MEMBERS[0]))
    interpreter = signed_in(app, Role.INTERPRETER, languages="pl")
    assert summary_rows(page_of(interpreter, "/admin/translate/")) == []

    staff = signed_in(app, Role.STAFF)
    changed = "We will replace the lift in May."
    response = staff.post(
        f"/admin/decisions/{decision_id}/edit",
        data={"title": "Lift", "outcome": "adopted", "summary": changed},
    )
    assert response.status_code == 302
    assert f"Summary in {POLISH_NAMED}, outdated" in page_of(
        staff, f"/admin/decisions/{decision_id}"
    )
    with app.app_context():
        assert loop.awaiting_translation(db.session.get(Decision, decision_id)) == {}

    workspace = page_of(interpreter, "/admin/translate/")
    assert "Nobody is waiting for a summary" not in workspace
    assert summary_rows(workspace) == [(decision_id, "pl")]
    row = part(workspace, f'data-decision="{decision_id}"', "</tr>")
    assert "outdated: the summary changed" in row
    assert f'href="/admin/translate/decision/{decision_id}/pl"' in row
    assert members_cell(workspace, decision_id, "pl") == "0"

    told = len(fake_twilio.messages)
    response = interpreter.post(
        f"/admin/translate/decision/{decision_id}/pl",
        data={"summary": "Wymienimy windę w maju.", "state": "needs_review"},
    )
    assert response.status_code == 302
    drain(app)
    assert len(fake_twilio.messages) == told  # told the old text, not sent an update
    assert summary_rows(page_of(interpreter, "/admin/translate/")) == []


def test_summaries_to_translate_include_drafts_most_urgent_first(app, client, fake_twilio):
    """Members waiting now come first, then members who wait from the moment a draft is
    published, then an outdated translation, then a draft nobody of the language is linked
    to. Left out: a published decision no Polish member is linked to, one with a current
    Polish summary, and a draft with no summary to translate yet."""
    clock.freeze(MIDDAY)
    first, second, third = (write_in(app, client, number) for number in POLISH_MEMBERS)
    waiting = decision_with(app, "Lift", (first,), published=True)
    linked_draft = decision_with(app, "Bins", (second, third))
    outdated = decision_with(app, "Parking", published=True, polish="outdated")
    unlinked_draft = decision_with(app, "Benches")
    decision_with(app, "Lights", published=True)  # nobody Polish: nobody needs it
    decision_with(app, "Trees", polish="needs_review")  # translated, ready for publishing
    decision_with(app, "Roads", summary="")  # staff have not written it yet
    drain(app)

    interpreter = signed_in(app, Role.INTERPRETER, languages="pl")
    workspace = page_of(interpreter, "/admin/translate/")
    assert summary_rows(workspace) == [
        (waiting, "pl"),
        (linked_draft, "pl"),
        (outdated, "pl"),
        (unlinked_draft, "pl"),
    ]
    assert members_cell(workspace, waiting, "pl") == "1"
    assert members_cell(workspace, linked_draft, "pl") == "2 once published"
    assert members_cell(workspace, unlinked_draft, "pl") == "0 once published"
    draft_row = part(workspace, f'data-decision="{linked_draft}"', "</tr>")
    assert '<span class="badge draft">draft</span>' in draft_row

    # The draft's summary, translated before it is published: it texts nobody now.
    page = page_of(interpreter, f"/admin/translate/decision/{linked_draft}/pl")
    assert "This decision is not published yet: saving texts nobody." in page
    sent = len(fake_twilio.messages)
    response = interpreter.post(
        f"/admin/translate/decision/{linked_draft}/pl",
        data={"summary": SUMMARY_PL, "state": "reviewed"},
    )
    assert response.status_code == 302
    drain(app)
    assert len(fake_twilio.messages) == sent
    assert (linked_draft, "pl") not in summary_rows(page_of(interpreter, "/admin/translate/"))

    # Published, both members hear it in Polish at once: nobody waits for a translation.
    with app.app_context():
        loop.publish(db.session.get(Decision, linked_draft))
    drain(app)
    for number in POLISH_MEMBERS[1:]:
        assert any(SUMMARY_PL in body for body in bodies_to(fake_twilio, number))


def test_the_decision_page_links_interpreters_to_its_summary_in_their_languages(app):
    """To translate a summary before it is published, or revise it later: from the
    decision's page, in each language the interpreter works in (not the staff's)."""
    decision_id = decision_with(app, "Lift", polish="needs_review")
    interpreter = signed_in(app, Role.INTERPRETER, languages="pl,ar,en")
    page = page_of(interpreter, f"/admin/decisions/{decision_id}")
    links = part(page, "data-translate-summary>", "</dd>")
    back = f"?next=/admin/decisions/{decision_id}"  # where the page goes back to
    assert f'href="/admin/translate/decision/{decision_id}/pl{back}"' in links
    assert f'href="/admin/translate/decision/{decision_id}/ar{back}"' in links
    assert "/en" not in links.replace(back, "")
    staff = signed_in(app, Role.STAFF)
    assert "data-translate-summary" not in page_of(staff, f"/admin/decisions/{decision_id}")


# ------------------------------------------------------------------ feedback translations


def test_a_feedback_translation_saved_as_draft_stays_to_be_finished(app, client):
    """A draft is unfinished: the message stays in the interpreter's list (marked draft)
    and in staff's "Needs translation". Needs review is finished, and listed for review;
    Reviewed leaves both lists."""
    send_sms(client, ARABIC_MEMBER, ARABIC)
    drain(app)
    with app.app_context():
        message = db.session.scalars(select(InboundMessage)).one()
        message_id, ref = message.id, message.item.ref
    interpreter = signed_in(app, Role.INTERPRETER, languages="ar")
    staff = signed_in(app, Role.STAFF)
    path = f"/admin/translate/feedback/{message_id}"

    def listed() -> tuple[bool, bool, bool]:
        """In the interpreter's list to translate, to review; in staff's filter."""
        workspace = page_of(interpreter, "/admin/translate/")
        inbox = page_of(staff, "/admin/items?needs_translation=1")
        return (
            f'data-message="{message_id}"' in part(workspace, 'id="feedback-queue"'),
            f'data-message="{message_id}"' in part(workspace, 'id="review-queue"'),
            ref in inbox,
        )

    assert listed() == (True, False, True)
    saved = interpreter.post(
        path, data={"text": "The lift in our building", "state": "draft"}, follow_redirects=True
    )
    assert "Saved as a draft. It stays in your list of feedback to translate" in text_of(saved)
    assert listed() == (True, False, True)
    row = part(page_of(interpreter, "/admin/translate/"), f'data-message="{message_id}"', "</tr>")
    assert '<small class="state state-draft">draft</small>' in row
    assert "Saved as draft: staff still see this feedback as needing translation." in text_of(
        interpreter.get(path)
    )

    interpreter.post(path, data={"text": "The lift is broken.", "state": "needs_review"})
    assert listed() == (False, True, False)
    workspace = page_of(interpreter, "/admin/translate/")
    row = part(workspace, 'id="review-queue"')
    assert f'href="{path}">Review</a>' in row and "needs review" in row

    interpreter.post(path, data={"text": "The lift is broken.", "state": "reviewed"})
    assert listed() == (False, False, False)
    assert "No translation of feedback in your languages needs review." in page_of(
        interpreter, "/admin/translate/"
    )


def test_an_interpreter_reading_an_item_can_translate_its_messages(app, client):
    send_sms(client, ARABIC_MEMBER, ARABIC)
    drain(app)
    with app.app_context():
        message = db.session.scalars(select(InboundMessage)).one()
        message_id, item_path = message.id, f"/admin/items/{message.item_id}"
    # The page passes itself, for the translation to come back to.
    link = f'href="/admin/translate/feedback/{message_id}?next={item_path}" data-translate>'
    interpreter = signed_in(app, Role.INTERPRETER, languages="ar")

    assert f"{link}Translate</a>" in page_of(interpreter, item_path)
    interpreter.post(
        f"/admin/translate/feedback/{message_id}",
        data={"text": "The lift is broken.", "state": "needs_review"},
    )
    assert f"{link}Edit the translation</a>" in page_of(interpreter, item_path)

    # Not for a language they do not work in, nor for staff, who do not translate.
    with app.app_context():
        from feedback_bot.models import User

        db.session.scalars(select(User).where(User.role == Role.INTERPRETER)).one().languages = "pl"
        db.session.commit()
    assert "data-translate>" not in page_of(interpreter, item_path)
    staff = signed_in(app, Role.STAFF)
    assert "data-translate>" not in page_of(staff, item_path)


# ------------------------------------------------------------------ members, once each


def test_pages_that_say_members_count_each_member_once(make_app, fake_twilio):
    """A Polish member with two items and another with one: two members wait for the
    Polish summary, though three messages are owed (one per item)."""
    app = make_app(ACK_COALESCE_SECONDS=0)
    client = app.test_client()
    clock.freeze(MIDDAY)
    first = write_in(app, client, POLISH_MEMBERS[0])
    again = write_in(app, client, POLISH_MEMBERS[0], "Światło na klatce też nie działa.")
    other = write_in(app, client, POLISH_MEMBERS[1])
    assert len({first, again, other}) == 3
    decision_id = decision_with(app, "Lift", (first, again, other), published=True)
    drain(app)
    with app.app_context():
        decision = db.session.get(Decision, decision_id)
        assert loop.awaiting_translation(decision) == {"pl": 2}
        progress = loop.progress(decision)
        assert (progress["linked"], progress["awaiting_translation"]) == (2, 2)

    staff = signed_in(app, Role.STAFF)
    page = page_of(staff, f"/admin/decisions/{decision_id}")
    assert f'data-locale="pl">{POLISH_NAMED}: 2 members waiting' in page
    assert 'data-count="linked">2<' in page

    interpreter = signed_in(app, Role.INTERPRETER, languages="pl")
    assert members_cell(page_of(interpreter, "/admin/translate/"), decision_id, "pl") == "2"
    path = f"/admin/translate/decision/{decision_id}/pl"
    said = text_of(interpreter.get(path))
    assert "texts this summary now to the 2 members waiting for it" in said
    assert 'data-waiting="2"' in page_of(interpreter, path)
    saved = interpreter.post(
        path, data={"summary": SUMMARY_PL, "state": "reviewed"}, follow_redirects=True
    )
    assert "2 member(s) waiting for it will now be told." in text_of(saved)
    drain(app)
    told = [row for row in outbound(app) if row.kind == MessageKind.WHAT_NEXT]
    assert len(told) == 3  # each item is answered


def test_linking_two_items_of_one_member_texts_one_member(make_app, fake_twilio):
    app = make_app(ACK_COALESCE_SECONDS=0)
    client = app.test_client()
    clock.freeze(MIDDAY)
    first = write_in(app, client, POLISH_MEMBERS[0])
    again = write_in(app, client, POLISH_MEMBERS[0], "Światło na klatce też nie działa.")
    decision_id = decision_with(app, "Lift", published=True, polish="reviewed")
    staff = signed_in(app, Role.STAFF)
    asked = staff.post(
        "/admin/items/bulk",
        data={"item_ids": [first, again], "action": "link", "decision_id": decision_id},
    )
    assert asked.status_code == 200
    assert "1 member texted: Polski (pl) 1." in text_of(asked)


def test_members_waiting_for_a_whatsapp_template_are_counted_once(make_app, fake_twilio):
    from .test_whatsapp import MONDAY_NOON, WHATSAPP, publish_decision

    app = make_app(ACK_COALESCE_SECONDS=0)
    client = app.test_client()
    clock.freeze(MONDAY_NOON)
    write_in(app, client, WHATSAPP)
    write_in(app, client, WHATSAPP, "Światło na klatce też nie działa.")
    publish_decision(app, MONDAY_NOON + timedelta(days=3))
    drain(app)
    waiting = [row for row in outbound(app) if row.status == OutboundStatus.NEEDS_TEMPLATE]
    assert len(waiting) == 2
    with app.app_context():
        decision = db.session.get(Decision, waiting[0].decision_id)
        assert loop.awaiting_whatsapp_template(decision) == {"pl": 1}
    staff = signed_in(app, Role.STAFF)
    page = page_of(staff, f"/admin/decisions/{waiting[0].decision_id}")
    assert f'data-locale="pl">{POLISH_NAMED}: 1 member waiting' in part(
        page, 'data-waiting="awaiting_whatsapp_template"', "</div>"
    )
