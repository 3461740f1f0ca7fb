"""Decisions: write, link, publish, watch progress, and update members already told."""

from __future__ import annotations

import html
import re
from datetime import date

import pytest
from flask import Flask
from sqlalchemy import select

from feedback_bot import clock
from feedback_bot.extensions import db
from feedback_bot.models import (
    Decision,
    DecisionTranslation,
    FeedbackItem,
    ItemStatus,
    MessageKind,
    OutboundMessage,
    ReviewState,
    Role,
)

from .conftest import drain, outbound, send_sms
from .test_auth import audit_entries, create_user, sign_in

POLISH_NAMED = '<span lang="pl" dir="ltr">Polski</span> (pl)'  # how staff pages name a language
ENGLISH_NAMED = '<span lang="en" dir="ltr">English</span> (en)'

ENGLISH = "+447911123456"
POLISH = "+48512345678"
SUMMARY = "We will repair the street lights on Mill Road by the end of May."
SUMMARY_PL = "Naprawimy oświetlenie uliczne na Mill Road do końca maja."
PROGRESS_KEYS = {
    "linked",
    "queued",
    "sent",
    "delivered",
    "failed",
    "waiting_quiet_hours",
    "awaiting_translation",
    "pending",
}


@pytest.fixture
def app(make_app) -> Flask:
    # Quiet hours off, so that "what happened next" goes whatever the time of the run.
    return make_app(QUIET_HOURS_START=0, QUIET_HOURS_END=0)


@pytest.fixture
def items(app, client) -> dict[str, int]:
    send_sms(client, ENGLISH, "The street lights on Mill Road have been out for a week.")
    send_sms(client, POLISH, "Dzień dobry, na Mill Road od tygodnia nie działa oświetlenie.")
    drain(app)
    with app.app_context():
        return {item.locale: item.id for item in db.session.scalars(select(FeedbackItem))}


@pytest.fixture
def staff(app, client):
    user_id = create_user(app, Role.STAFF)
    assert sign_in(client, "staff@example.org").status_code == 302
    return user_id


def new_decision(client, **fields) -> int:
    data = {"title": "Street lights", "outcome": "adopted", "summary": SUMMARY, **fields}
    response = client.post("/admin/decisions/new", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(response.headers["Location"].rsplit("/", 1)[1])


def add_polish(app: Flask, decision_id: int, summary: str = SUMMARY_PL) -> None:
    with app.app_context():
        db.session.add(
            DecisionTranslation(
                decision_id=decision_id, locale="pl", summary=summary, state=ReviewState.REVIEWED
            )
        )
        db.session.commit()


def decision_state(app: Flask, decision_id: int) -> Decision:
    with app.app_context():
        decision = db.session.get(Decision, decision_id)
        db.session.expunge_all()
        return decision


def told(fake_twilio, number: str, text: str) -> list[str]:
    """Bodies of the messages Twilio took for ``number`` that contain ``text``."""
    return [r["body"] for r in fake_twilio.messages_to(number) if text in r["body"]]


# ------------------------------------------------------------------------ writing one


def test_an_expected_date_is_one_a_service_could_mean(app, client, staff):
    """0001-01-01 and 9999-12-31 were saved, and the year 1 came back empty in the form (a
    date input reads four digits), so saving it again erased it without a word."""
    fields = {"title": "Street lights", "outcome": "adopted", "summary": SUMMARY}
    last = clock.now().year + 25
    for typed in ("0001-01-01", "9999-12-31", "1999-12-31", f"{last + 1}-01-01"):
        refused = client.post("/admin/decisions/new", data={**fields, "expected_date": typed})
        assert refused.status_code == 400, typed
        assert f"Enter a date between 2000 and {last}." in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(Decision)).all() == []
    decision_id = new_decision(client, expected_date=f"{last}-12-31")
    assert decision_state(app, decision_id).expected_date == date(last, 12, 31)


def test_create_and_edit_a_decision_audited(app, client, staff):
    form = client.get("/admin/decisions/new").get_data(as_text=True)
    assert 'data-segment-counter="summary-count"' in form
    assert "{summary}" in form and "Reply STOP to stop." in form  # the frame for the counter
    for label in ("Adopted", "Partly adopted", "Not adopted", "Referred elsewhere"):
        assert label in form

    decision_id = new_decision(
        client,
        description="Cabling fault found by the contractor.",
        reason="Safety at night.",
        responsible="Highways team",
        expected_date="2026-05-31",
    )
    decision = decision_state(app, decision_id)
    assert decision.title == "Street lights"
    assert decision.outcome == "adopted"
    assert decision.summary == SUMMARY
    assert decision.responsible == "Highways team"
    assert decision.expected_date == date(2026, 5, 31)
    assert decision.created_by_id == staff
    assert decision.published_at is None
    [created] = audit_entries(app, "decision.create")
    assert (created.target_id, created.user_id) == (decision_id, staff)

    client.post(
        f"/admin/decisions/{decision_id}/edit",
        data={"title": "Street lights on Mill Road", "outcome": "adopted", "summary": SUMMARY},
    )
    assert decision_state(app, decision_id).title == "Street lights on Mill Road"
    [edited] = audit_entries(app, "decision.edit")
    assert edited.detail["changed"][0] == "title"
    assert edited.detail["before"]["title"] == "Street lights"
    assert audit_entries(app, "decision.update_outcome") == []

    # A title is required: nothing is created without one.
    refused = client.post("/admin/decisions/new", data={"title": "", "outcome": "adopted"})
    assert refused.status_code == 400
    assert "This field is required." in refused.get_data(as_text=True)
    with app.app_context():
        assert len(db.session.scalars(select(Decision)).all()) == 1


def test_a_form_says_which_fields_are_required_unless_all_are(app, client, staff):
    """The eye is told which fields must be filled before sending, not after: the decision
    form marks its title, and only its title. A screen reader hears the field's own
    "required", so the mark is hidden from it. The sign-in form, all of it required, has
    no mark to repeat on every line."""
    form = client.get("/admin/decisions/new").get_data(as_text=True)
    mark = '<span class="required-mark" aria-hidden="true">(required)</span>'
    assert f'<label for="title">Title {mark}</label>' in form
    assert form.count(mark) == 1
    assert re.search(r'<input[^>]*id="title"[^>]*required', form)

    client.post("/logout")
    login = client.get("/login").get_data(as_text=True)
    assert '<label for="email">Email</label>' in login
    assert "required-mark" not in login


def test_the_segment_counter_names_the_staff_language(make_app):
    """The form counts the summary inside "what happened next" in the staff language, and
    says which: a panel working in Polish counts, and names, the Polish message."""
    app = make_app(STAFF_LOCALE="pl")
    create_user(app, Role.STAFF)
    client = app.test_client()
    assert sign_in(client, "staff@example.org").status_code == 302

    form = client.get("/admin/decisions/new").get_data(as_text=True)
    assert 'data-frame-label="Whole message in Polski, as members get it"' in form
    assert "Whole message in English" not in form


# ------------------------------------------------------------------------- publishing


def test_publish_tells_each_linked_member_in_their_language(app, client, items, staff, fake_twilio):
    decision_id = new_decision(client)
    add_polish(app, decision_id)
    client.post(
        "/admin/items/bulk",
        data={"item_ids": list(items.values()), "action": "link", "decision_id": decision_id},
    )

    confirm = client.get(f"/admin/decisions/{decision_id}/publish")
    assert confirm.status_code == 200
    page = confirm.get_data(as_text=True)
    assert "<strong>2</strong> linked items" in page
    assert f"{ENGLISH_NAMED} 1, {POLISH_NAMED} 1" in page
    assert "data-untranslated" not in page
    assert decision_state(app, decision_id).published_at is None  # GET only asks

    response = client.post(f"/admin/decisions/{decision_id}/publish")
    assert response.status_code == 302
    assert decision_state(app, decision_id).published_at is not None
    [entry] = audit_entries(app, "decision.publish")
    assert (entry.target_id, entry.user_id) == (decision_id, staff)

    drain(app)

    [english] = told(fake_twilio, ENGLISH, SUMMARY)
    assert english.startswith("About your feedback")
    [polish] = told(fake_twilio, POLISH, SUMMARY_PL)
    assert "About your feedback" not in polish  # the Polish template, not the English one
    assert told(fake_twilio, POLISH, SUMMARY) == []
    with app.app_context():
        for item_id in items.values():
            assert db.session.get(FeedbackItem, item_id).status == ItemStatus.TOLD

    # Publishing again does nothing more.
    client.post(f"/admin/decisions/{decision_id}/publish")
    assert len(audit_entries(app, "decision.publish")) == 1


def test_a_decision_with_no_feedback_says_nobody_is_told_and_still_publishes(
    app, client, items, staff, fake_twilio
):
    """Nothing linked: the confirmation says plainly that no member will be told, and
    publishing puts the decision on the public page all the same."""
    sent = len(fake_twilio.messages)
    decision_id = new_decision(client, title="Longer library hours")
    confirm = client.get(f"/admin/decisions/{decision_id}/publish")
    assert confirm.status_code == 200
    page = confirm.get_data(as_text=True)
    assert "No feedback is linked to this decision, so no member will be told." in page
    assert "Publishing tells every member" not in page
    assert "Publish on the public page</button>" in page
    assert "Publish and tell members" not in page

    assert client.post(f"/admin/decisions/{decision_id}/publish").status_code == 302
    assert decision_state(app, decision_id).published_at is not None
    drain(app)
    assert len(fake_twilio.messages) == sent
    assert "Longer library hours" in client.get("/you-said-we-did").get_data(as_text=True)

    # With feedback linked, the page counts it and says it tells its members.
    linked = new_decision(client)
    client.post(
        "/admin/items/bulk",
        data={"item_ids": [items["en"]], "action": "link", "decision_id": linked},
    )
    page = client.get(f"/admin/decisions/{linked}/publish").get_data(as_text=True)
    assert "no member will be told" not in page
    assert "<strong>1</strong> linked item;" in page and "Publish and tell members" in page


def test_members_without_a_translation_wait_and_are_shown(app, client, items, staff, fake_twilio):
    decision_id = new_decision(client)
    client.post(
        "/admin/items/bulk",
        data={"item_ids": list(items.values()), "action": "link", "decision_id": decision_id},
    )
    confirm = client.get(f"/admin/decisions/{decision_id}/publish").get_data(as_text=True)
    assert "data-untranslated" in confirm and f"{POLISH_NAMED} for 1 member:" in confirm

    client.post(f"/admin/decisions/{decision_id}/publish")
    drain(app)

    assert len(told(fake_twilio, ENGLISH, SUMMARY)) == 1
    assert told(fake_twilio, POLISH, SUMMARY) == told(fake_twilio, POLISH, SUMMARY_PL) == []
    assert [row.kind for row in outbound(app) if row.item_id == items["pl"]] == ["ack"]
    data = client.get(f"/admin/decisions/{decision_id}/progress").get_json()
    assert data["awaiting_translation"] == {"pl": 1}
    assert data["progress"]["awaiting_translation"] == 1
    page = client.get(f"/admin/decisions/{decision_id}").get_data(as_text=True)
    assert f'data-locale="pl">{POLISH_NAMED}: 1 member waiting' in page


def test_publishing_counts_members_in_the_language_they_are_texted_in(
    app, client, items, staff, fake_twilio
):
    """The confirmation says what the fan-out does: a member who wrote in English and chose
    Polish since is told in Polish, so waits for a Polish summary; one who texted STOP is
    not told at all."""
    send_sms(client, ENGLISH, "LANGUAGE")
    send_sms(client, ENGLISH, "Polski")
    stopped = "+447911123499"
    send_sms(client, stopped, "The street lights on Mill Road are still out, a week now.")
    send_sms(client, stopped, "STOP")
    drain(app)
    with app.app_context():
        item_ids = list(db.session.scalars(select(FeedbackItem.id)))
    assert len(item_ids) == 3
    decision_id = new_decision(client)
    client.post(
        "/admin/items/bulk",
        data={"item_ids": item_ids, "action": "link", "decision_id": decision_id},
    )

    page = client.get(f"/admin/decisions/{decision_id}/publish").get_data(as_text=True)

    texted = re.search(r"<p data-texted>(.*?)</p>", page, re.S)
    assert texted is not None
    said = " ".join(texted.group(1).split())
    assert (
        f"<strong>3</strong> linked items; <strong>2</strong> members texted: {POLISH_NAMED} 2."
        in said
    )
    assert "1 gets no messages from us (opted out, or asked to be forgotten)." in said
    assert f"{POLISH_NAMED} for 2 members:" in page

    client.post(f"/admin/decisions/{decision_id}/publish")
    drain(app)
    data = client.get(f"/admin/decisions/{decision_id}/progress").get_json()
    assert data["awaiting_translation"] == {"pl": 2}  # as the page said
    assert told(fake_twilio, ENGLISH, SUMMARY) == []


def test_publish_needs_a_summary(app, client, items, staff):
    decision_id = new_decision(client, summary="")
    response = client.post(f"/admin/decisions/{decision_id}/publish")
    assert response.headers["Location"] == f"/admin/decisions/{decision_id}/edit"
    assert decision_state(app, decision_id).published_at is None
    assert audit_entries(app, "decision.publish") == []


def test_progress_counts_are_served_as_json(app, client, items, staff):
    decision_id = new_decision(client)
    client.post(f"/admin/items/{items['en']}/link", data={"decision_id": decision_id})

    before = client.get(f"/admin/decisions/{decision_id}/progress")
    assert before.headers["Cache-Control"] == "no-store"
    data = before.get_json()
    assert data["published"] is False
    assert set(data["progress"]) >= PROGRESS_KEYS
    assert data["progress"]["linked"] == 1

    client.post(f"/admin/decisions/{decision_id}/publish")
    drain(app)
    progress = client.get(f"/admin/decisions/{decision_id}/progress").get_json()["progress"]
    assert progress["linked"] == 1
    assert progress["pending"] == 0
    assert progress["queued"] + progress["sent"] + progress["delivered"] == 1
    page = client.get(f"/admin/decisions/{decision_id}").get_data(as_text=True)
    assert 'data-progress-url="/admin/decisions/' in page
    assert f'data-count="linked">{progress["linked"]}<' in page


# The counts of messages that did not arrive, as the page names them and a word of each hint.
DID_NOT_ARRIVE = {
    "undelivered": ("Not delivered:", "the phone did not receive it"),
    "failed": ("Failed:", "It could not be sent"),
    "cancelled": ("Cancelled:", "Nothing to do."),
}


def test_messages_that_did_not_arrive_are_counted_and_explained(
    app, client, items, staff, fake_twilio
):
    """Not delivered, failed, cancelled: the page counts each, and while one is counted
    says what it means and what to do."""
    decision_id = new_decision(client)
    client.post(f"/admin/items/{items['en']}/link", data={"decision_id": decision_id})
    client.post(f"/admin/decisions/{decision_id}/publish")
    drain(app)
    page = client.get(f"/admin/decisions/{decision_id}").get_data(as_text=True)
    for status in DID_NOT_ARRIVE:
        assert f'data-count="{status}">0<' in page
        assert f'data-hint-for="{status}" hidden' in page

    for status, (label, hint) in DID_NOT_ARRIVE.items():
        with app.app_context():
            [row] = db.session.scalars(
                select(OutboundMessage).where(OutboundMessage.kind == MessageKind.WHAT_NEXT)
            )
            row.status = status
            db.session.commit()
        progress = client.get(f"/admin/decisions/{decision_id}/progress").get_json()["progress"]
        assert progress[status] == 1
        page = client.get(f"/admin/decisions/{decision_id}").get_data(as_text=True)
        assert f'data-count="{status}">1<' in page
        shown = page.split(f'data-hint-for="{status}"', 1)[1].split("</li>", 1)[0]
        assert not shown.startswith(" hidden")
        assert f"<strong>{label}</strong>" in shown and hint in shown
        for other in set(DID_NOT_ARRIVE) - {status}:
            assert f'data-hint-for="{other}" hidden' in page


def test_linking_to_a_published_decision_tells_the_member(app, client, items, staff, fake_twilio):
    decision_id = new_decision(client)
    client.post(f"/admin/items/{items['en']}/link", data={"decision_id": decision_id})
    client.post(f"/admin/decisions/{decision_id}/publish")
    drain(app)
    add_polish(app, decision_id)

    # The decision is published: linking texts the member, so it says so and asks first.
    asked = client.post(f"/admin/items/{items['pl']}/link", data={"decision_id": decision_id})
    assert asked.status_code == 200
    page = " ".join(asked.get_data(as_text=True).split())
    assert "and text the member?" in page
    assert "linking texts the member now" in page
    assert f"<strong>1</strong> member texted: {POLISH_NAMED} 1." in page
    # What this member reads: the Polish summary, not the staff's.
    assert html.escape(SUMMARY_PL) in page and SUMMARY not in page
    assert 'name="confirmed" value="yes"' in page
    drain(app)
    assert told(fake_twilio, POLISH, SUMMARY_PL) == []
    assert decision_state_of_item(app, items["pl"]) == (None, ItemStatus.NEW)
    assert audit_entries(app, "item.link")[-1].target_id == items["en"]

    client.post(
        f"/admin/items/{items['pl']}/link",
        data={"decision_id": decision_id, "confirmed": "yes"},
    )
    drain(app)

    assert len(told(fake_twilio, POLISH, SUMMARY_PL)) == 1
    assert len(told(fake_twilio, ENGLISH, SUMMARY)) == 1  # not told twice


def decision_state_of_item(app: Flask, item_id: int) -> tuple[int | None, str]:
    with app.app_context():
        item = db.session.get(FeedbackItem, item_id)
        return item.decision_id, item.status


# ----------------------------------------------------------------- after publishing


def test_changing_a_published_outcome_can_update_those_told(app, client, items, staff, fake_twilio):
    decision_id = new_decision(client)
    client.post(f"/admin/items/{items['en']}/link", data={"decision_id": decision_id})
    client.post(f"/admin/decisions/{decision_id}/publish")
    drain(app)
    form = client.get(f"/admin/decisions/{decision_id}/edit").get_data(as_text=True)
    assert "Send an update to members already told" in form
    [box] = re.findall(r'<input[^>]*name="notify_told"[^>]*>', form)
    assert "checked" not in box  # saving a fixed typo texts nobody

    updated = "Only half of Mill Road will get new lights this spring."
    edit = {
        "title": "Street lights",
        "outcome": "partly_adopted",
        "summary": updated,
        "notify_told": "y",
    }
    # Ticked: it says how many members it texts, and asks first.
    asked = client.post(f"/admin/decisions/{decision_id}/edit", data=edit)
    assert asked.status_code == 200
    page = " ".join(asked.get_data(as_text=True).split())
    assert "Save and text 1 member already told?" in page
    assert f"<strong>1</strong> member texted: {ENGLISH_NAMED} 1." in page
    assert updated in page
    assert decision_state(app, decision_id).summary == SUMMARY
    assert audit_entries(app, "decision.update_outcome") == []

    client.post(f"/admin/decisions/{decision_id}/edit", data={**edit, "confirmed": "yes"})
    decision = decision_state(app, decision_id)
    assert (decision.outcome, decision.revision) == ("partly_adopted", 1)
    [entry] = audit_entries(app, "decision.update_outcome")
    assert entry.detail["notify_told"] is True
    assert entry.detail["before"]["outcome"] == "adopted"
    drain(app)
    [update] = told(fake_twilio, ENGLISH, updated)
    assert update.startswith("An update about your feedback")
    rows = [row for row in outbound(app) if row.kind == "what_next_update"]
    assert len(rows) == 1

    # Unchecked: saved, but nobody is messaged.
    client.post(
        f"/admin/decisions/{decision_id}/edit",
        data={"title": "Street lights", "outcome": "not_adopted", "summary": updated},
    )
    assert decision_state(app, decision_id).outcome == "not_adopted"
    assert decision_state(app, decision_id).revision == 1
    assert audit_entries(app, "decision.update_outcome")[-1].detail["notify_told"] is False
    drain(app)
    assert len([row for row in outbound(app) if row.kind == "what_next_update"]) == 1

    # A staff-only change is a plain edit.
    client.post(
        f"/admin/decisions/{decision_id}/edit",
        data={
            "title": "Street lights",
            "outcome": "not_adopted",
            "summary": updated,
            "description": "Budget cut.",
            "notify_told": "y",
        },
    )
    assert len(audit_entries(app, "decision.update_outcome")) == 2
    assert audit_entries(app, "decision.edit")[-1].detail["changed"] == ["description"]
    assert decision_state(app, decision_id).revision == 1


# ---------------------------------------------------------------------- interpreters


def test_interpreter_can_read_but_not_publish_or_change(app, client, items, fake_twilio):
    create_user(app, Role.STAFF)
    sign_in(client, "staff@example.org")
    decision_id = new_decision(client)
    client.post(f"/admin/items/{items['en']}/link", data={"decision_id": decision_id})
    client.post("/logout")
    create_user(app, Role.INTERPRETER, languages="pl")
    sign_in(client, "interpreter@example.org")

    page = client.get(f"/admin/decisions/{decision_id}")
    assert page.status_code == 200
    assert "Publish…" not in page.get_data(as_text=True)
    assert client.get(f"/admin/decisions/{decision_id}/progress").status_code == 200
    assert client.get(f"/admin/decisions/{decision_id}/publish").status_code == 403
    assert client.post(f"/admin/decisions/{decision_id}/publish").status_code == 403
    edit = client.post(
        f"/admin/decisions/{decision_id}/edit",
        data={"title": "Hijacked", "outcome": "not_adopted", "summary": "x"},
    )
    assert edit.status_code == 403
    assert client.post("/admin/decisions/new", data={"title": "Mine"}).status_code == 403

    decision = decision_state(app, decision_id)
    assert decision.published_at is None and decision.title == "Street lights"
    drain(app)
    assert told(fake_twilio, ENGLISH, SUMMARY) == []
    assert audit_entries(app, "decision.publish") == []


def published(app: Flask, client, items: dict[str, int]) -> int:
    """A decision published to the English member, its "what happened next" sent."""
    decision_id = new_decision(client)
    client.post(f"/admin/items/{items['en']}/link", data={"decision_id": decision_id})
    client.post(f"/admin/decisions/{decision_id}/publish")
    drain(app)
    return decision_id


def test_a_published_summary_cannot_be_emptied(app, client, items, staff, fake_twilio):
    decision_id = published(app, client, items)

    response = client.post(
        f"/admin/decisions/{decision_id}/edit",
        data={"title": "Street lights", "outcome": "adopted", "summary": "  ", "notify_told": "y"},
    )
    assert response.status_code == 400
    assert "Members have been sent this summary" in response.get_data(as_text=True)
    decision = decision_state(app, decision_id)
    assert (decision.summary, decision.revision) == (SUMMARY, 0)
    assert audit_entries(app, "decision.update_outcome") == []
    drain(app)
    assert [row.kind for row in outbound(app) if row.kind == "what_next_update"] == []
    progress = client.get(f"/admin/decisions/{decision_id}/progress").get_json()
    assert progress["awaiting_translation"] == {}

    # A draft may still be saved without one: publishing asks for it.
    draft_id = new_decision(client)
    client.post(
        f"/admin/decisions/{draft_id}/edit",
        data={"title": "Street lights", "outcome": "adopted", "summary": ""},
    )
    assert decision_state(app, draft_id).summary == ""


def test_a_new_outcome_alone_is_not_sent_as_an_update(app, client, items, staff, fake_twilio):
    decision_id = published(app, client, items)
    edit = f"/admin/decisions/{decision_id}/edit"
    fields = {"title": "Street lights", "summary": SUMMARY}

    # Members are sent the summary: the same one again would be no update at all.
    refused = client.post(edit, data={**fields, "outcome": "partly_adopted", "notify_told": "y"})
    assert refused.status_code == 400
    assert "Members are sent only the summary" in refused.get_data(as_text=True)
    assert decision_state(app, decision_id).outcome == "adopted"

    # Unticked, the new outcome is saved (and audited), and nobody is messaged.
    client.post(edit, data={**fields, "outcome": "partly_adopted"})
    decision = decision_state(app, decision_id)
    assert (decision.outcome, decision.revision) == ("partly_adopted", 0)
    [entry] = audit_entries(app, "decision.update_outcome")
    assert entry.detail["changed"] == ["outcome"] and entry.detail["notify_told"] is False

    # A summary that says what changed is sent, once, as an update.
    updated = "Only half of Mill Road will get new lights this spring."
    client.post(
        edit,
        data={
            **fields,
            "outcome": "partly_adopted",
            "summary": updated,
            "notify_told": "y",
            "confirmed": "yes",
        },
    )
    assert decision_state(app, decision_id).revision == 1
    drain(app)
    [update] = told(fake_twilio, ENGLISH, updated)
    assert update.startswith("An update about your feedback")
    assert len(told(fake_twilio, ENGLISH, SUMMARY)) == 1  # the first message only


def test_the_decision_page_names_each_translations_state_in_words(app, client, staff):
    with app.app_context():
        decision = Decision(title="Street lights", summary=SUMMARY)
        decision.translations.append(
            DecisionTranslation(locale="pl", summary=SUMMARY_PL, state=ReviewState.NEEDS_REVIEW)
        )
        db.session.add(decision)
        db.session.commit()
        decision_id = decision.id
    page = client.get(f"/admin/decisions/{decision_id}").get_data(as_text=True)
    assert f"Summary in {POLISH_NAMED}, needs review" in page
    assert "needs_review" not in page
