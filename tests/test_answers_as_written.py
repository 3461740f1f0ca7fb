"""Answers to our questions as members write them beside the answer itself: "Did we
listen?" answered with a comment ("2 - but it should run every half hour"), in a number
word ("three") or a thumb ("👎"); the language menu answered with polite words ("English
please") or in the member's own language ("inglés"); and either answered while a message
sent a moment before still has its item open for more."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from feedback_bot import clock, intake
from feedback_bot.extensions import db
from feedback_bot.loop import ratings
from feedback_bot.messaging import keywords
from feedback_bot.messaging.language import menu_choice
from feedback_bot.models import Contact, Disposition, InboundMessage, ItemStatus
from feedback_bot.webhooks.payload import parse

from .conftest import drain, send_sms, twilio_params
from .test_answers import items, last_disposition, rendered
from .test_loop import DAYTIME, UK, told_of_a_decision
from .test_outage_opt_outs import during_outage

SPANISH_MEMBER = "+34612345678"
UKRAINIAN_MEMBER = "+380501234567"


def messages(app) -> list[InboundMessage]:
    with app.app_context():
        found = list(db.session.scalars(select(InboundMessage).order_by(InboundMessage.id)))
        db.session.expunge_all()
        return found


def the_contact(app) -> Contact:
    with app.app_context():
        contact = db.session.scalars(select(Contact)).one()
        db.session.expunge_all()
        return contact


def reply_for(app, rating: str, item) -> str:
    if rating == "no":
        return rendered(
            app, "rating_reopened", ref=item.ref, days=app.config["INTERIM_UPDATE_DAYS"]
        )
    return rendered(app, "rating_thanks")


# --------------------------------------------------------------------------- A comment


@pytest.mark.parametrize(
    ("reply", "rating"),
    [
        ("2 - but it should run every half hour", "partly"),
        ("2, ale za późno", "partly"),
        ("3, the lift broke again on Friday", "no"),
        ("3️⃣ still broken", "no"),
        ("1: Thank you, it works now", "yes"),
        ("No, the lift is still broken", "no"),
        ("Not really - it only works on weekdays", "no"),
        ("Yes thanks, and please fix the stairs light too", "yes"),
        ("Nie, nadal nie działa", "no"),
        ("👍 great job", "yes"),
        ("Three, nothing changed", "no"),
    ],
)
def test_an_answer_with_a_comment_is_the_answer_and_the_comment_stays_with_it(
    app, client, fake_twilio, reply, rating
):
    told_of_a_decision(app, client)
    sent = len(fake_twilio.messages)

    send_sms(client, UK, reply)
    drain(app)

    [item] = items(app)  # not new feedback with a new reference
    assert item.rating == rating
    assert item.status == (ItemStatus.REOPENED if rating == "no" else ItemStatus.TOLD)
    # The usual answer to a rating, and nothing else: no "a person will read it".
    assert [m["body"] for m in fake_twilio.messages[sent:]] == [reply_for(app, rating, item)]
    last = messages(app)[-1]
    # The message is kept whole on the item it answers about, in the member's words.
    assert (last.disposition, last.item_id, last.body) == (Disposition.RATING, item.id, reply)

    # The question has its answer: a "1" now is feedback of its own.
    clock.freeze(DAYTIME + timedelta(minutes=10))
    send_sms(client, UK, "1")
    drain(app)
    assert len(items(app)) == 2
    assert items(app)[0].rating == rating


@pytest.mark.parametrize(
    "reply",
    [
        "stop the 2 buses",
        "No heating in block C since Monday",
        "2nd bus never came",
        "20 minutes late again",
        "2.5 hours waiting at the stop",
        "Two buses came at once",
        "The one by the shop is broken",
        "4 - never",
        # A digit the words go on from: feedback, which staff must see as new.
        "2 weeks and still broken",
        "1. Lift still broken 2. Bins not collected",
        "2 more lights are out on floor 3 too",
    ],
)
def test_a_message_that_does_not_start_with_an_answer_is_feedback(app, client, fake_twilio, reply):
    told_of_a_decision(app, client)

    send_sms(client, UK, reply)
    drain(app)

    told, new = items(app)
    assert told.rating is None
    assert fake_twilio.messages[-1]["body"] == rendered(app, "ack", ref=new.ref, days=21)


def test_the_item_page_shows_the_comment_as_the_members_answer(app, client, fake_twilio):
    from .test_admin_items import as_role

    told_of_a_decision(app, client)
    send_sms(client, UK, "2 - but it should run every half hour")
    drain(app)

    [item] = items(app)
    as_role(app, client, "staff")
    page = client.get(f"/admin/items/{item.id}").get_data(as_text=True)
    assert "2 - but it should run every half hour" in page
    assert "answer to &#34;Did we listen?&#34;" in page or 'answer to "Did we listen?"' in page


def test_forget_erases_a_comment_like_any_of_the_members_words(app, client, fake_twilio):
    told_of_a_decision(app, client)
    send_sms(client, UK, "3 - the lift at 14 Elm Street is still broken")
    drain(app)
    clock.freeze(DAYTIME + timedelta(minutes=10))
    send_sms(client, UK, "FORGET")
    drain(app)

    assert all(m.body is None and m.erased_at is not None for m in messages(app))
    assert fake_twilio.messages[-1]["body"] == rendered(app, "forget")


def test_a_comment_sent_before_a_forget_but_processed_after_it_is_erased_unread(
    app, client, fake_twilio
):
    """Kept in the spool through an outage, it comes after the FORGET: it goes by when the
    member sent it, and answers nothing."""
    told_of_a_decision(app, client)
    sent_at = clock.now() + timedelta(minutes=5)
    clock.freeze(sent_at + timedelta(minutes=1))
    send_sms(client, UK, "FORGET")
    drain(app)
    sent = len(fake_twilio.messages)

    late = parse(MultiDict(twilio_params(UK, "3 - the lift is still broken")), 1600, 10)
    with app.app_context():
        intake.accept(late, received_at=sent_at)
    drain(app)

    [item] = items(app)
    assert item.rating is None
    assert item.status == ItemStatus.TOLD
    last = messages(app)[-1]
    assert (last.disposition, last.body) == (Disposition.FORGOTTEN, None)
    assert len(fake_twilio.messages) == sent


@pytest.mark.parametrize("reply", ["3 STOP", "2, stop please", "Yes STOP", "No stop"])
def test_a_keyword_after_the_answer_is_that_keyword(app, client, fake_twilio, reply):
    """Keywords come first, as they would alone: a member who says STOP is stopped."""
    told_of_a_decision(app, client)

    send_sms(client, UK, reply)
    drain(app)

    assert the_contact(app).opted_out_at is not None
    assert last_disposition(app) == Disposition.KEYWORD
    assert fake_twilio.messages[-1]["body"] == rendered(app, "stop", org=app.config["ORG_NAME"])


def test_an_answer_with_a_comment_is_not_acknowledged_inline_during_an_outage(make_app):
    """Only intake can tell whether a question waits for it, once the database is back."""
    make_app()
    assert "<Message>" not in during_outage(make_app, UK, "2 - but it should run every half hour")
    assert "<Message>" not in during_outage(make_app, UK, "three")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2 - but it should run every half hour", ("partly", "but it should run every half hour")),
        ("2, ale za późno", ("partly", "ale za późno")),
        ("٣ - متأخر جدا", ("no", "متأخر جدا")),
        ("3 STOP", ("no", "STOP")),  # for the keyword's sake (see the test above)
        # A digit the words go on from is feedback: what was sent, not an answer.
        ("2 ale za późno", None),
        ("2 weeks and still broken", None),
        ("1 more thing: the bins", None),
        ("1. Lift still broken 2. Bins not collected", None),
        ("2 am noise again", None),
        ("1/2 the lights are out", None),
        ("২ দিন পানি নেই", None),
        # Asking us to stop messaging is not "no".
        ("No texts please", None),
        ("No SMS, thanks", None),
        ("3", ("no", "")),
        ("No, the lift", ("no", "the lift")),
        ("not really: it is late", ("no", "it is late")),
        ("👎🏽 still late", ("no", "still late")),
        ("Tak, dziękuję, ale późno", ("yes", "ale późno")),
        ("stop the 2 buses", None),
        ("No heating since Monday", None),
        ("23 buses", None),
        ("2:30 is too late", None),
        ("The one, by the shop", None),
        ("👍👎 hmm", None),
    ],
)
def test_the_answer_a_message_starts_with(app, text, expected):
    with app.app_context():
        assert ratings.answer_and_comment(text) == expected


# --------------------------------------------------------------------------- Number words


@pytest.mark.parametrize(("reply", "rating"), [("three", "no"), ("One", "yes"), ("two!", "partly")])
def test_a_number_word_answers_did_we_listen(app, client, fake_twilio, reply, rating):
    told_of_a_decision(app, client)

    send_sms(client, UK, reply)
    drain(app)

    [item] = items(app)
    assert item.rating == rating
    assert last_disposition(app) == Disposition.RATING
    assert fake_twilio.messages[-1]["body"] == reply_for(app, rating, item)


@pytest.mark.parametrize("reply", ["four", "Zero", "4 please", "1 or 2", "2/3"])
def test_a_number_that_answers_nothing_in_any_form_asks_again(app, client, fake_twilio, reply):
    told_of_a_decision(app, client)
    question = fake_twilio.messages[-1]["body"]

    send_sms(client, UK, reply)
    drain(app)

    assert fake_twilio.messages[-1]["body"] == question
    assert last_disposition(app) == Disposition.ASKED_AGAIN
    [item] = items(app)
    assert item.rating is None


# --------------------------------------------------------------------------- The menu


def language_menu(app, client, sender: str, first: str | None = None) -> None:
    """``sender`` writes ``first`` (which sets their language), then LANGUAGE, a few minutes
    later: the item of ``first`` no longer takes more messages."""
    clock.freeze(DAYTIME)
    if first is not None:
        send_sms(client, sender, first)
        drain(app)
    clock.freeze(DAYTIME + timedelta(minutes=10))
    send_sms(client, sender, "LANGUAGE")
    drain(app)
    clock.freeze(DAYTIME + timedelta(minutes=11))


@pytest.mark.parametrize(
    ("sender", "first", "reply", "chosen"),
    [
        (SPANISH_MEMBER, "La farola de mi calle lleva tres semanas sin funcionar.", "inglés", "en"),
        (SPANISH_MEMBER, "La farola de mi calle lleva tres semanas sin funcionar.", "Ingles", "en"),
        (UKRAINIAN_MEMBER, "Ліфт у нашому будинку не працює вже три тижні.", "англійська", "en"),
        (UK, None, "English please", "en"),
        (UK, None, "Spanish please", "es"),
        (UK, None, "1 please", "en"),
        (UK, None, "Polski, dziękuję", "pl"),
        (UK, None, "two", "cy"),
        (SPANISH_MEMBER, "La farola de mi calle lleva tres semanas sin funcionar.", "polaco", "pl"),
    ],
)
def test_the_menu_is_answered_in_the_members_words(
    app, client, fake_twilio, sender, first, reply, chosen
):
    language_menu(app, client, sender, first)
    before = items(app)

    send_sms(client, sender, reply)
    drain(app)

    contact = the_contact(app)
    assert (contact.locale, contact.locale_source) == (chosen, "chosen")
    assert last_disposition(app) == Disposition.MENU_REPLY
    assert fake_twilio.messages[-1]["body"] == rendered(app, "language_set", chosen)
    assert [i.id for i in items(app)] == [i.id for i in before]


@pytest.mark.parametrize(
    ("sender", "first", "reply"),
    [
        (UK, None, "French please"),
        (UK, None, "Deutsch"),
        (SPANISH_MEMBER, "La farola de mi calle lleva tres semanas sin funcionar.", "francés"),
        (UK, None, "12 please"),
    ],
)
def test_an_answer_to_the_menu_that_picks_nothing_gets_the_menu_again(
    app, client, fake_twilio, sender, first, reply
):
    language_menu(app, client, sender, first)
    menu = fake_twilio.messages[-1]["body"]
    before = items(app)

    send_sms(client, sender, reply)
    drain(app)

    assert fake_twilio.messages[-1]["body"] == menu
    assert last_disposition(app) == Disposition.ASKED_AGAIN
    assert the_contact(app).locale_source != "chosen"
    assert [i.id for i in items(app)] == [i.id for i in before]


@pytest.mark.parametrize(
    "reply",
    [
        "The English lessons at the library have stopped, can they start again?",
        "Spanish speakers cannot read the bin collection leaflet",
        "no heating",
        # A language's name with another word is no answer to the menu.
        "Polish shop",
        "Welsh Water",
    ],
)
def test_feedback_sent_while_the_menu_waits_is_still_feedback(app, client, fake_twilio, reply):
    language_menu(app, client, UK)

    send_sms(client, UK, reply)
    drain(app)

    [item] = items(app)
    assert last_disposition(app) == Disposition.FEEDBACK
    assert fake_twilio.messages[-1]["body"] == rendered(app, "ack", ref=item.ref, days=21)


@pytest.mark.parametrize(
    ("text", "locale"),
    [("inglés", "en"), ("англійська", "en"), ("English, please!", "en"), ("3 pls", "pl")],
)
def test_the_menu_takes_a_name_in_any_offered_language_and_polite_words(app, text, locale):
    with app.app_context():
        assert menu_choice(text) == locale


# --------------------------------------------------------------------------- An item open


@pytest.mark.parametrize("reply", ["English please", "1 please", "Polski"])
def test_an_answer_to_the_menu_sent_while_an_item_is_open_answers_it(
    app, client, fake_twilio, reply
):
    clock.freeze(DAYTIME)
    send_sms(client, UK, "The lift in our block has been broken for weeks.")
    drain(app)
    send_sms(client, UK, "LANGUAGE")
    drain(app)
    clock.freeze(DAYTIME + timedelta(seconds=40))  # the item still takes more messages

    send_sms(client, UK, reply)
    drain(app)

    assert last_disposition(app) == Disposition.MENU_REPLY
    assert the_contact(app).locale_source == "chosen"
    [item] = items(app)
    assert [m.body for m in messages(app) if m.item_id == item.id] == [
        "The lift in our block has been broken for weeks."
    ]


@pytest.mark.parametrize(
    ("reply", "rating"), [("👍", "yes"), ("👎", "no"), ("1 please", "yes"), ("three", "no")]
)
def test_an_answer_to_did_we_listen_sent_while_an_item_is_open_answers_it(
    app, client, fake_twilio, reply, rating
):
    told_of_a_decision(app, client)
    clock.freeze(DAYTIME + timedelta(hours=1))
    send_sms(client, UK, "Also the stairs light is out.")
    drain(app)
    clock.freeze(DAYTIME + timedelta(hours=1, seconds=30))  # that item takes more messages

    send_sms(client, UK, reply)
    drain(app)

    told, new = items(app)
    assert told.rating == rating
    assert fake_twilio.messages[-1]["body"] == reply_for(app, rating, told)
    assert [m.body for m in messages(app) if m.item_id == new.id] == [
        "Also the stairs light is out."
    ]


def test_more_words_sent_while_an_item_is_open_still_join_it(app, client, fake_twilio):
    told_of_a_decision(app, client)
    clock.freeze(DAYTIME + timedelta(hours=1))
    send_sms(client, UK, "Also the stairs light is out.")
    drain(app)
    sent = len(fake_twilio.messages)
    clock.freeze(DAYTIME + timedelta(hours=1, seconds=30))

    send_sms(client, UK, "On the third floor.")
    drain(app)

    told, new = items(app)
    assert told.rating is None
    assert len(fake_twilio.messages) == sent
    assert [m.body for m in messages(app) if m.item_id == new.id] == [
        "Also the stairs light is out.",
        "On the third floor.",
    ]


def test_a_thumb_with_no_question_waiting_is_still_thanks(app, client, fake_twilio):
    clock.freeze(DAYTIME)
    send_sms(client, UK, "The lift in our block has been broken for weeks.")
    drain(app)
    sent = len(fake_twilio.messages)
    clock.freeze(DAYTIME + timedelta(minutes=10))

    send_sms(client, UK, "👍")
    drain(app)

    assert last_disposition(app) == Disposition.COURTESY
    assert len(fake_twilio.messages) == sent


def test_number_words_are_numbers_only_alone(app):
    with app.app_context():
        assert keywords.reply_number("three") == 3
        assert keywords.reply_number("Two, please") == 2
        assert keywords.reply_number("3️⃣") == 3
        assert keywords.reply_number("²") is None
        assert keywords.reply_number("two buses") is None
        assert keywords.rating_answer("three", ratings.RATINGS) == "no"
        assert keywords.rating_answer("three") is None  # no digits asked for
