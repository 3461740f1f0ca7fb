"""A phone number a member typed into their own message: staff read it, interpreters never.

Interpreters see no member's number (README, "Closing the loop"), and that includes one the
member wrote in their message for staff to call them back. Every page the panel shows
members' words on (``admin.reading``) is checked here as an interpreter, and as staff,
who keep reading the words as written; and a walk over every page an interpreter may open
checks the pages added tomorrow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from flask import Flask, render_template_string, url_for
from flask_login import login_user
from sqlalchemy import select

from feedback_bot import clock
from feedback_bot.admin.reading import member_word_attributes
from feedback_bot.extensions import db
from feedback_bot.models import (
    Decision,
    FeedbackItem,
    InboundMedia,
    InboundMessage,
    MessageTranslation,
    ReviewState,
    Role,
    User,
)
from feedback_bot.privacy import PHONE_PLACEHOLDER

from .conftest import drain, send_sms
from .test_auth import create_user, sign_in
from .test_url_map_roles import panel_rules

UK_MEMBER = "+447956000111"
UK_TEXT = "Please call me on 07911 123456 about the lift"
UK_WORDS = ("Please call me on", "about the lift")
PL_MEMBER = "+48512345678"
PL_TEXT = "proszę zadzwonić 0601 234 567"
PL_WORDS = ("proszę zadzwonić",)
# An admin's translation of the Polish message, number and all, and the transcript of
# what the member said: the member's words too, read as the member's words are.
PL_TRANSLATION = "Please ring me on 0601 234 567, the lift is broken"
PL_TRANSCRIPT = "winda nie działa, proszę dzwonić 0601 234 567"
# What would give either number away: the whole of it, or a part long enough to check.
DIGITS = ("07911", "123456", "0601", "234 567")
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Fixture:
    uk_item: int
    pl_item: int
    pl_message: int
    decision: int


@pytest.fixture
def typed(app: Flask, client) -> Fixture:
    """A British and a Polish member who each typed a number; the Polish member sent a
    voice note too, and an admin's translation and transcript of their message keep the
    number; both items linked to one decision."""
    clock.freeze(T0)
    assert send_sms(client, UK_MEMBER, UK_TEXT).status_code == 200
    assert send_sms(client, PL_MEMBER, PL_TEXT).status_code == 200
    drain(app)
    with app.app_context():
        messages = {m.body: m for m in db.session.scalars(select(InboundMessage))}
        uk, pl = messages[UK_TEXT], messages[PL_TEXT]
        assert uk.item is not None and pl.item is not None
        # A voice note with it (not fetched: its transcript is what counts here).
        db.session.add(InboundMedia(message_id=pl.id, position=0, content_type="audio/ogg"))
        db.session.add(
            MessageTranslation(
                message_id=pl.id,
                locale="en",
                text=PL_TRANSLATION,
                transcript=PL_TRANSCRIPT,
                state=ReviewState.REVIEWED,
            )
        )
        decision = Decision(title="Lift repairs", summary="We will repair the lift.")
        db.session.add(decision)
        db.session.flush()
        uk.item.decision_id = pl.item.decision_id = decision.id
        db.session.commit()
        return Fixture(uk.item.id, pl.item.id, pl.id, decision.id)


def as_role(app: Flask, client, role: str):
    create_user(app, role, languages="pl")
    assert sign_in(client, f"{role}@example.org").status_code == 302
    return client


def page_of(client, url: str, **query: str) -> str:
    response = client.get(url, query_string=query)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def assert_no_number(html: str, where: object = "") -> None:
    for digits in DIGITS:
        assert digits not in html, (where, digits)


def listed(client, q: str) -> list[int]:
    html = page_of(client, "/admin/items", q=q)
    return sorted(int(found) for found in re.findall(r'data-item="(\d+)"', html))


# ------------------------------------------------------------------------ each surface


def test_an_interpreter_reads_the_item_page_without_the_number(app, client, typed):
    as_role(app, client, Role.INTERPRETER)
    uk = page_of(client, f"/admin/items/{typed.uk_item}")
    assert_no_number(uk)
    assert all(words in uk for words in UK_WORDS)
    assert f"Please call me on {PHONE_PLACEHOLDER} about the lift" in uk

    pl = page_of(client, f"/admin/items/{typed.pl_item}")
    assert_no_number(pl)
    assert f"proszę zadzwonić {PHONE_PLACEHOLDER}" in pl
    # The translation and the transcript beside it: the rest of them, without the number.
    assert f"Please ring me on {PHONE_PLACEHOLDER}, the lift is broken" in pl
    assert f"winda nie działa, proszę dzwonić {PHONE_PLACEHOLDER}" in pl


def test_staff_read_the_item_page_as_the_member_wrote_it(app, client, typed):
    as_role(app, client, Role.STAFF)
    assert UK_TEXT in page_of(client, f"/admin/items/{typed.uk_item}")
    pl = page_of(client, f"/admin/items/{typed.pl_item}")
    assert PL_TEXT in pl and PL_TRANSLATION in pl and PL_TRANSCRIPT in pl
    assert PHONE_PLACEHOLDER not in pl


def test_an_interpreter_reads_the_inbox_without_the_number(app, client, typed):
    as_role(app, client, Role.INTERPRETER)
    inbox = page_of(client, "/admin/items")
    assert_no_number(inbox)
    assert f"Please call me on {PHONE_PLACEHOLDER} about the lift" in inbox
    assert f"proszę zadzwonić {PHONE_PLACEHOLDER}" in inbox


@pytest.mark.parametrize("role", [Role.STAFF, Role.ADMIN])
def test_staff_and_admins_read_the_inbox_as_written(app, client, typed, role):
    as_role(app, client, role)
    inbox = page_of(client, "/admin/items")
    assert UK_TEXT in inbox and PL_TEXT in inbox
    assert PHONE_PLACEHOLDER not in inbox


def test_an_interpreter_translates_without_the_number(app, client, typed):
    """The workspace, the message to translate, and the translation already saved (an
    admin's, with the number) as the form to correct it: saved again, it is what they saw."""
    as_role(app, client, Role.INTERPRETER)
    # The saved translation takes the message out of the queue: put one in it again.
    assert send_sms(client, PL_MEMBER, "winda znowu stoi, 0601 234 567").status_code == 200
    drain(app)
    workspace = page_of(client, "/admin/translate/")
    assert_no_number(workspace, "workspace")
    assert f"winda znowu stoi, {PHONE_PLACEHOLDER}" in workspace

    form = page_of(client, f"/admin/translate/feedback/{typed.pl_message}")
    assert_no_number(form, "form")
    assert f"proszę zadzwonić {PHONE_PLACEHOLDER}" in form
    assert f"Please ring me on {PHONE_PLACEHOLDER}, the lift is broken" in form
    assert f"winda nie działa, proszę dzwonić {PHONE_PLACEHOLDER}" in form


def test_an_admin_translates_from_the_words_as_written(app, client, typed):
    as_role(app, client, Role.ADMIN)
    form = page_of(client, f"/admin/translate/feedback/{typed.pl_message}")
    assert PL_TEXT in form and PL_TRANSLATION in form and PL_TRANSCRIPT in form


# ------------------------------------------------------------------------------ search


def test_an_interpreter_cannot_find_a_message_by_its_number(app, client, typed):
    as_role(app, client, Role.INTERPRETER)
    for number in ("0601", "07911", "123456", "234", "0601 234 567", "+44", "lift 07911"):
        assert listed(client, number) == [], number
    # In the translation too: the admin's has the number in it.
    assert listed(client, "ring 0601") == []
    # The rest of the words are found as ever, and a reference by its digits.
    assert listed(client, "zadzwonić") == [typed.pl_item]
    assert listed(client, "lift") == sorted([typed.uk_item, typed.pl_item])
    with app.app_context():
        ref = db.session.get(FeedbackItem, typed.pl_item).ref
    assert listed(client, ref) == [typed.pl_item]
    note = page_of(client, "/admin/items", q="0601")
    assert "data-search-numbers" in note
    assert_no_number(note.replace('value="0601"', ""), "results")


def test_a_number_next_to_words_is_not_found_either(app, client, typed):
    """A word and a number in one ("ring:07911123456", "ext. 12"): only what the reader
    sees counts, so the visible word finds it and the number's part does not."""
    assert send_sms(client, "+447956000222", "Ring:07911 654321 ext. 12 re bins").status_code == 200
    drain(app)
    with app.app_context():
        bins = db.session.scalars(
            select(InboundMessage.item_id).where(InboundMessage.body.contains("bins"))
        ).one()
    as_role(app, client, Role.INTERPRETER)
    assert listed(client, "Ring:0") == []
    assert listed(client, "ext.") == []
    assert listed(client, "Ring:") == [bins]
    assert listed(client, "bins") == [bins]


@pytest.mark.parametrize("role", [Role.STAFF, Role.ADMIN])
def test_staff_find_a_message_by_the_number_in_it(app, client, typed, role):
    as_role(app, client, role)
    assert listed(client, "0601") == [typed.pl_item]
    assert listed(client, "07911") == [typed.uk_item]
    assert listed(client, "ring 0601") == [typed.pl_item]  # the translation
    assert "data-search-numbers" not in page_of(client, "/admin/items", q="0601")


# ------------------------------------------------------------------ pages added tomorrow


# A value for each URL argument of a page an interpreter may open, once for each member's
# item; a page with a new argument fails below until it is given values here.
def argument_values(typed: Fixture) -> list[dict[str, object]]:
    return [
        {
            "item_id": item_id,
            "decision_id": typed.decision,
            "message_id": typed.pl_message,
            "locale": "pl",
        }
        for item_id in (typed.uk_item, typed.pl_item)
    ]


def test_no_page_an_interpreter_opens_shows_a_typed_number(app, client, typed):
    """Every GET page of the panel that interpreters may open, walked from the URL map,
    with real rows: the member's number is on none. (Not the media: a photo or voice note
    is the member's, as sent, and no text.)"""
    as_role(app, client, Role.INTERPRETER)
    urls = set()
    with app.test_request_context():
        for rule in panel_rules(app):
            view = app.view_functions[rule.endpoint]
            if "GET" not in (rule.methods or ()) or rule.endpoint == "media.media_file":
                continue
            if Role.INTERPRETER not in view.required_roles:
                continue
            for values in argument_values(typed):
                missing = set(rule.arguments) - set(values)
                assert not missing, f"{rule.endpoint}: give {missing} values in argument_values"
                urls.add(url_for(rule.endpoint, **{name: values[name] for name in rule.arguments}))
    assert {f"/admin/items/{typed.uk_item}", f"/admin/items/{typed.pl_item}"} <= urls
    for url in sorted(urls):
        response = client.get(url)
        assert response.status_code in (200, 302), (url, response.status_code)
        assert_no_number(response.get_data(as_text=True), url)


def test_a_template_cannot_read_a_members_words_around_the_rule(app, typed):
    """However a template reaches a member's words, it gets what its reader may read: a
    page written tomorrow without thinking of numbers is right."""
    source = (
        "{{ m.body }}|{{ m['body'] }}|{{ m|attr('body') }}|{{ [m]|map(attribute='body')|join }}"
        "|{{ m.body|truncate(20) }}|{{ t.text }}|{{ t.transcript }}"
    )
    assert member_word_attributes(InboundMessage) == {"body"}
    assert member_word_attributes(MessageTranslation) == {"text", "transcript"}
    create_user(app, Role.INTERPRETER)
    create_user(app, Role.STAFF)
    with app.test_request_context():
        message = db.session.get(InboundMessage, typed.pl_message)
        translation = message.translations[0]
        users = {u.role: u for u in db.session.scalars(select(User))}
        login_user(users[Role.INTERPRETER])
        shown = render_template_string(source, m=message, t=translation)
        assert_no_number(shown)
        assert shown.count("proszę zadzwonić") == 5
        login_user(users[Role.STAFF])
        shown = render_template_string(source, m=message, t=translation)
        assert shown.count(PL_TEXT) == 4
        assert PL_TRANSLATION in shown and PL_TRANSCRIPT in shown
