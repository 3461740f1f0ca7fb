"""Keywords (STOP, START, HELP, LANGUAGE, FORGET) end to end: webhook, worker, fake Twilio."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from feedback_bot import clock
from feedback_bot.extensions import db
from feedback_bot.messaging import keywords
from feedback_bot.messaging.language import menu_options, native_name
from feedback_bot.messaging.templates import render
from feedback_bot.models import (
    Contact,
    Disposition,
    FeedbackItem,
    InboundMessage,
    OutboundMessage,
)

from .conftest import drain, outbound, send_sms

NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

MEMBER = "+447911123456"
ORG = "Riverside Council"
SHIPPED = ("en", "cy", "pl", "ro", "ur", "ar", "bn", "so", "es", "uk")


def rows(app: Flask, model: Any) -> list[Any]:
    with app.app_context():
        found = list(db.session.scalars(select(model).order_by(model.id)))
        db.session.expunge_all()
        return found


def rendered(app: Flask, kind: str, locale: str, **values: Any) -> str:
    with app.app_context():
        return render(kind, locale, **values)


def text(client: Any, body: str, sender: str = MEMBER, **kwargs: Any) -> None:
    response = send_sms(client, sender, body, **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)


def bodies(fake_twilio: Any) -> list[str]:
    return [message["body"] for message in fake_twilio.messages]


# --------------------------------------------------------------------------- STOP / START


@pytest.mark.parametrize(
    "word", ["STOP", "stop.", "Stop!", " sToP ", "Unsubscribe", "cancel", "QUIT"]
)
def test_stop_opts_out_with_one_confirmation(app, client, fake_twilio, word):
    text(client, word)
    drain(app)

    [sent] = fake_twilio.messages
    assert sent["to"] == MEMBER
    assert sent["body"] == rendered(app, "stop", "en", org=ORG)
    assert ORG in sent["body"]
    [contact] = rows(app, Contact)
    assert contact.opted_out_at is not None
    [message] = rows(app, InboundMessage)
    assert message.disposition == Disposition.KEYWORD
    assert message.item_id is None
    assert rows(app, FeedbackItem) == []
    [row] = outbound(app)
    assert (row.kind, row.status) == ("stop", "queued")


def test_feedback_after_stop_is_stored_but_not_answered(app, client, fake_twilio):
    text(client, "STOP")
    drain(app)
    assert len(fake_twilio.messages) == 1

    text(client, "The bins on Mill Lane were not collected this week.")
    drain(app)

    assert len(fake_twilio.messages) == 1  # only the STOP confirmation, ever
    [item] = rows(app, FeedbackItem)
    messages = rows(app, InboundMessage)
    assert messages[1].body == "The bins on Mill Lane were not collected this week."
    assert messages[1].item_id == item.id
    assert messages[1].disposition == Disposition.FEEDBACK
    assert [row.kind for row in outbound(app)] == ["stop"]


def test_acknowledgement_owed_before_stop_is_never_sent(app, client, fake_twilio):
    # The clock held still: the retry is not due until it moves, however long the machine
    # takes to reach the STOP (a retry due first would rightly go before it).
    clock.freeze(NOON)
    fake_twilio.fail_next(1, status=500)  # the acknowledgement waits for its retry ...
    text(client, "The streetlight outside number 12 is out.")
    text(client, "STOP")  # ... and the member says STOP meanwhile
    drain(app)
    clock.freeze(NOON + timedelta(minutes=1))
    drain(app)

    assert bodies(fake_twilio) == [rendered(app, "stop", "en", org=ORG)]
    statuses = {row.kind: row.status for row in outbound(app)}
    assert statuses == {"ack": "cancelled", "stop": "queued"}


def test_start_brings_a_member_back(app, client, fake_twilio):
    text(client, "STOP")
    drain(app)
    text(client, "Start")
    drain(app)

    assert bodies(fake_twilio) == [
        rendered(app, "stop", "en", org=ORG),
        rendered(app, "start", "en"),
    ]
    [contact] = rows(app, Contact)
    assert contact.opted_out_at is None

    text(client, "Thank you for fixing the lift.")
    drain(app)
    assert len(fake_twilio.messages) == 3
    assert "A person will read it" in fake_twilio.messages[2]["body"]


def test_start_acknowledges_feedback_sent_while_stopped(app, client, fake_twilio):
    """Stored and not answered while they were stopped: after START, the acknowledgement
    with its reference, or "About your feedback W3XB" would name one they never saw. Not
    for feedback staff closed meanwhile, nor twice."""
    clock.freeze(NOON)
    text(client, "STOP")
    drain(app)
    clock.freeze(NOON + timedelta(hours=1))
    text(client, "The streetlight outside number 12 is out again.")
    clock.freeze(NOON + timedelta(hours=3))
    text(client, "Also the bus shelter glass is broken.")
    drain(app)
    assert bodies(fake_twilio) == [rendered(app, "stop", "en", org=ORG)]
    with app.app_context():
        lights, shelter = db.session.scalars(select(FeedbackItem).order_by(FeedbackItem.id))
        shelter.status = "closed"
        db.session.commit()
        ref = lights.ref

    clock.freeze(NOON + timedelta(hours=4))
    text(client, "START")
    drain(app)
    days = app.config["INTERIM_UPDATE_DAYS"]
    assert bodies(fake_twilio)[1:] == [
        rendered(app, "start", "en"),
        rendered(app, "ack", "en", ref=ref, days=days),
    ]
    # Stopped and started again: nothing more for what was acknowledged.
    text(client, "STOP")
    text(client, "START")
    drain(app)
    assert bodies(fake_twilio)[3:] == [
        rendered(app, "stop", "en", org=ORG),
        rendered(app, "start", "en"),
    ]


def test_start_acknowledges_what_was_sent_while_stopped_after_stopping_twice(
    app, client, fake_twilio
):
    """A second STOP moved when they stopped, and feedback sent between the two was never
    acknowledged."""
    clock.freeze(NOON)
    text(client, "STOP")
    clock.freeze(NOON + timedelta(hours=1))
    text(client, "The streetlight outside number 12 is out again.")
    clock.freeze(NOON + timedelta(hours=2))
    text(client, "Please stop texting me")
    clock.freeze(NOON + timedelta(hours=3))
    text(client, "START")
    drain(app)

    [item] = rows(app, FeedbackItem)
    assert bodies(fake_twilio)[-2:] == [
        rendered(app, "start", "en"),
        rendered(app, "ack", "en", ref=item.ref, days=app.config["INTERIM_UPDATE_DAYS"]),
    ]


def test_start_from_a_member_who_never_stopped_says_what_we_are(app, client, fake_twilio):
    """Nothing to restart: "Welcome back" would puzzle them. HELP's text says what we are
    and which words work, and their first message is not acknowledged as feedback."""
    text(client, "START")
    drain(app)

    assert bodies(fake_twilio) == [rendered(app, "help", "en", org=ORG)]
    [contact] = rows(app, Contact)
    assert contact.opted_out_at is None


# --------------------------------------------------------------------------- HELP


@pytest.mark.parametrize("word", ["HELP", "help?", "Info"])
def test_help_names_the_org_and_how_to_stop(make_app, fake_twilio, word):
    app = make_app(ORG_NAME="Eastside Housing Trust")
    text(app.test_client(), word)
    drain(app)

    [sent] = fake_twilio.messages
    assert sent["to"] == MEMBER
    assert sent["body"] == rendered(app, "help", "en", org="Eastside Housing Trust")
    assert sent["body"].startswith("Eastside Housing Trust ")
    assert "STOP to stop" in sent["body"]
    [contact] = rows(app, Contact)
    assert contact.opted_out_at is None
    assert rows(app, FeedbackItem) == []


def test_help_is_answered_while_opted_out(app, client, fake_twilio):
    text(client, "STOP")
    text(client, "HELP")
    drain(app)

    assert bodies(fake_twilio) == [
        rendered(app, "stop", "en", org=ORG),
        rendered(app, "help", "en", org=ORG),
    ]
    [contact] = rows(app, Contact)
    assert contact.opted_out_at is not None  # HELP does not opt back in


# --------------------------------------------------------------------------- LANGUAGE


def test_language_menu_lists_every_shipped_language_in_its_own_name(app, client, fake_twilio):
    text(client, "LANGUAGE")
    drain(app)

    [sent] = fake_twilio.messages
    # In English: the English word LANGUAGE from a UK number says nothing else.
    assert sent["body"].startswith("Reply with a number to choose your language:\n")
    lines = sent["body"].splitlines()
    expected = [f"{n} {native_name_in(app, loc)}" for n, loc in enumerate(SHIPPED, 1)]
    assert lines[1 : 1 + len(SHIPPED)] == expected
    for name in ("English", "Cymraeg", "Polski", "Español", "Українська", "العربية", "اردو"):
        assert name in sent["body"]
    assert "Reply STOP to stop" in sent["body"]
    [contact] = rows(app, Contact)
    assert contact.language_menu_sent_at is not None
    assert contact.locale == "en"


def native_name_in(app: Flask, locale: str) -> str:
    with app.app_context():
        return native_name(locale)


@pytest.mark.parametrize("choice", ["2", "٢", " 2. "])
def test_menu_reply_switches_language(app, client, fake_twilio, choice):
    text(client, "LANGUAGE")
    drain(app)
    text(client, choice)
    drain(app)

    assert len(fake_twilio.messages) == 2
    welsh_confirmation = rendered(app, "language_set", "cy")
    assert fake_twilio.messages[1]["body"] == welsh_confirmation
    assert "Gymraeg" in welsh_confirmation  # really the Welsh catalogue, not English
    [contact] = rows(app, Contact)
    assert (contact.locale, contact.locale_source) == ("cy", "chosen")
    assert contact.language_menu_sent_at is None
    assert rows(app, InboundMessage)[1].disposition == Disposition.MENU_REPLY
    assert rows(app, FeedbackItem) == []

    # The next acknowledgement comes in Welsh too, even for an English text.
    text(client, "The playground gate is broken again.")
    drain(app)
    [item] = rows(app, FeedbackItem)
    assert item.locale == "cy"
    assert fake_twilio.messages[2]["body"] == rendered(app, "ack", "cy", days=21, ref=item.ref)

    # The menu was answered: another "2" is plain feedback, not a second choice.
    text(client, "2")
    drain(app)
    assert rows(app, InboundMessage)[-1].disposition == Disposition.FEEDBACK
    assert rows(app, Contact)[0].locale == "cy"


# A number that is no choice ("11") sends the menu again (tests/test_answers.py); these
# are no numbers a member types for one.
@pytest.mark.parametrize("reply", ["²", "①", "9" * 5000])
def test_reply_to_the_menu_that_is_no_choice_is_feedback(app, client, reply):
    text(client, "LANGUAGE")
    text(client, reply)

    [contact] = rows(app, Contact)
    assert (contact.locale, contact.locale_source) == ("en", "country")
    [item] = rows(app, FeedbackItem)
    message = rows(app, InboundMessage)[1]
    assert (message.disposition, message.body, message.item_id) == ("feedback", reply, item.id)
    assert [row.kind for row in outbound(app)] == ["language_menu", "ack"]


def test_a_photo_captioned_with_a_menu_number_is_feedback(app, client, fake_twilio):
    """As a photo captioned "STOP" is: the photo is what the member is sending."""
    text(client, "LANGUAGE")
    text(client, "2", media=[("https://api.twilio.com/m/1", "image/jpeg")])
    [contact] = rows(app, Contact)
    assert contact.locale_source != "chosen"
    [item] = rows(app, FeedbackItem)
    assert rows(app, InboundMessage)[1].item_id == item.id
    assert [row.kind for row in outbound(app)] == ["language_menu", "ack"]  # it has words


def test_number_without_a_menu_is_feedback(app, client, fake_twilio):
    text(client, "2")
    drain(app)

    [item] = rows(app, FeedbackItem)
    [message] = rows(app, InboundMessage)
    assert (message.disposition, message.body, message.item_id) == ("feedback", "2", item.id)
    [contact] = rows(app, Contact)
    assert contact.locale_source != "chosen"
    assert bodies(fake_twilio) == [rendered(app, "ack", contact.locale, days=21, ref=item.ref)]


def test_number_after_the_menu_expired_is_feedback(app, client, fake_twilio):
    start = clock.now()
    clock.freeze(start)
    text(client, "LANGUAGE")
    clock.freeze(start + timedelta(minutes=61))
    text(client, "3")
    drain(app)

    [contact] = rows(app, Contact)
    assert contact.locale == "en"
    assert rows(app, InboundMessage)[1].disposition == Disposition.FEEDBACK
    assert [row.kind for row in outbound(app)] == ["language_menu", "ack"]


# --------------------------------------------------------------------------- FORGET


def test_forget_erases_the_number_and_texts_but_keeps_the_item(app, client, fake_twilio):
    # The acknowledgement is still owed at FORGET: its retry is not due while the clock
    # stands still (otherwise a worker could take it up before the FORGET arrives).
    clock.freeze(clock.now())
    fake_twilio.fail_next(1, status=500)
    text(client, "The subway underpass floods every time it rains.")
    text(client, "Photo attached", media=[("https://api.twilio.com/m/1", "image/jpeg")])
    text(client, "FORGET")
    drain(app)

    # The pending acknowledgement is cancelled; only the confirmation goes out, once.
    [sent] = fake_twilio.messages
    assert sent["to"] == MEMBER
    assert sent["body"] == rendered(app, "forget", "en")
    [contact] = rows(app, Contact)
    assert contact.phone_hash is None
    assert contact.phone_ciphertext is None
    assert contact.forgotten_at is not None
    messages = rows(app, InboundMessage)
    assert len(messages) == 3
    assert [m.body for m in messages] == [None, None, None]
    assert all(m.erased_at is not None for m in messages)
    [item] = rows(app, FeedbackItem)
    assert item.contact_id == contact.id
    assert {m.item_id for m in messages[:2]} == {item.id}
    # Twilio's 500 leaves the acknowledgement in doubt (it may have arrived): it keeps the
    # number until its next attempt asks Twilio, which has no copy to delete; it is then
    # cancelled, not sent.
    kinds = {row.kind: row.status for row in outbound(app)}
    assert kinds == {"ack": "pending", "forget": "queued"}
    clock.freeze(clock.now() + timedelta(minutes=1))
    drain(app)
    kinds = {row.kind: row.status for row in outbound(app)}
    assert kinds == {"ack": "cancelled", "forget": "queued"}
    # Once the confirmation is sent, the number is gone from the outbox too.
    assert [row.to_ciphertext for row in outbound(app)] == [None, None]
    assert len(fake_twilio.messages) == 1


def test_forget_after_acknowledgement_sends_one_confirmation(app, client, fake_twilio):
    text(client, "The subway underpass floods every time it rains.")
    drain(app)
    text(client, "erase")
    drain(app)

    assert [m["body"] for m in fake_twilio.messages][1:] == [rendered(app, "forget", "en")]
    [ack, forget] = outbound(app)
    assert ack.to_ciphertext is None  # the erased number is not kept on old rows either
    assert forget.status == "queued"
    assert forget.to_ciphertext is None  # nor on the confirmation, once it is sent


def test_text_after_forget_creates_a_new_contact(app, client, fake_twilio):
    text(client, "FORGET")
    drain(app)
    text(client, "I want to report a pothole on King Street.")
    drain(app)

    old, new = rows(app, Contact)
    assert old.phone_hash is None
    assert new.phone_hash is not None and new.phone_ciphertext is not None
    assert new.id != old.id
    [item] = rows(app, FeedbackItem)
    assert item.contact_id == new.id
    assert len(fake_twilio.messages) == 2
    assert fake_twilio.messages[1]["to"] == MEMBER
    assert fake_twilio.messages[1]["body"] == rendered(app, "ack", "en", days=21, ref=item.ref)


# --------------------------------------------------------------------------- other languages


@pytest.mark.parametrize(
    ("sender", "word", "kind", "locale"),
    [
        ("+48512345678", "POMOC", "help", "pl"),
        ("+447911123456", "POMOC", "help", "pl"),  # the word's language beats the country
        ("+48512345678", "STOP", "stop", "pl"),  # English words say nothing: the country
        ("+923001234567", "مدد", "help", "ur"),
        ("+447911123456", "IAITH", "language_menu", "cy"),
        ("+201001234567", "مساعدة", "help", "ar"),
        ("+380501234567", "СТОП", "stop", "uk"),
        ("+34612345678", "ayuda", "help", "es"),
        ("+40721234567", "Ajutor!", "help", "ro"),
    ],
)
def test_keywords_in_other_languages(app, client, fake_twilio, sender, word, kind, locale):
    text(client, word, sender=sender)
    drain(app)

    [sent] = fake_twilio.messages
    assert sent["to"] == sender
    [contact] = rows(app, Contact)
    assert contact.locale == locale
    values: dict[str, Any] = {"org": ORG} if kind in {"help", "stop"} else {}
    if kind == "language_menu":
        with app.app_context():
            assert sent["body"] == render(kind, locale, options=menu_options())
    else:
        assert sent["body"] == rendered(app, kind, locale, **values)
    [row] = outbound(app)
    assert row.kind == kind
    assert rows(app, FeedbackItem) == []
    assert (contact.opted_out_at is not None) == (kind == "stop")


@pytest.mark.parametrize(
    "body",
    [
        "Please stop the roadworks at night",
        "Can you help with the damp in my flat?",
        "language",  # lowercase keyword alone IS a keyword: control for the others
    ],
)
def test_sentence_that_contains_a_keyword_is_feedback(app, client, fake_twilio, body):
    text(client, body)
    drain(app)

    [message] = rows(app, InboundMessage)
    [contact] = rows(app, Contact)
    assert contact.opted_out_at is None
    [sent] = fake_twilio.messages
    if body == "language":
        assert message.disposition == Disposition.KEYWORD
        assert rows(app, FeedbackItem) == []
        return
    assert message.disposition == Disposition.FEEDBACK
    [item] = rows(app, FeedbackItem)
    assert message.item_id == item.id
    assert sent["body"] == rendered(app, "ack", "en", days=21, ref=item.ref)


@pytest.mark.parametrize(
    ("body", "locale"),
    [("PARAR, gracias", "es"), ("СТОП будь ласка", "uk"), ("JOOJI fadlan", "so")],
)
def test_a_keyword_with_polite_words_is_answered_in_its_language(
    app, client, fake_twilio, body, locale
):
    text(client, body)
    drain(app)
    assert bodies(fake_twilio) == [rendered(app, "stop", locale, org=ORG)]


@pytest.mark.parametrize("body", ["Stop please", "STOP STOP", "opt out", "Please stop, thank you!"])
def test_a_keyword_with_polite_words_around_it_is_that_keyword(app, client, fake_twilio, body):
    """Twilio's own opt-out reads only the bare word; somebody who writes "Stop please"
    means it as much."""
    text(client, body)
    drain(app)

    [contact] = rows(app, Contact)
    assert contact.opted_out_at is not None
    assert rows(app, FeedbackItem) == []
    assert bodies(fake_twilio) == [rendered(app, "stop", "en", org=ORG)]


@pytest.mark.parametrize(
    ("body", "action"),
    [
        ("PARAR por favor", "stop"),  # Spanish words, both lists
        ("Proszę, STOP.", "stop"),  # the English keyword, Polish polite word
        ("stop all", "stop"),  # STOPALL with a space
        ("help please", "help"),
        ("LANGUAGE LANGUAGE", "language"),
        ("Please start, thanks", "start"),
        # The ways people ask to stop or be forgotten, as members wrote them.
        ("Please stop texting me", "stop"),
        ("Stop messaging me", "stop"),
        ("Unsubscribe me", "stop"),
        ("No more messages please", "stop"),
        ("Don't text me again", "stop"),
        ("Please stop the messages", "stop"),
        ("cancel my subscription", "stop"),
        ("No más mensajes por favor", "stop"),
        ("بند کریں", "stop"),
        ("বন্ধ করুন", "stop"),
        ("Please delete my data", "forget"),
        ("Forget me", "forget"),
    ],
)
def test_polite_words_of_every_language_are_forgiven(app, body, action):
    with app.app_context():
        assert keywords.match(body) == action


@pytest.mark.parametrize(
    "body",
    [
        "end it",  # somebody who needs a person to read this, not an opt-out
        "end me",
        "stop it now",
        "stop help",  # two actions: which?
        "thank you",  # no keyword at all
        "please",
        "stop " + "please " * 8,  # too long to be only a keyword
        "Please stop the roadworks at night",
        "No heating since Monday",
        "Thanks for nothing, the lift is still broken",
        "end of the road lights broken",
        "no more buses after 8pm",
    ],
)
def test_other_words_around_a_keyword_make_it_feedback(app, body):
    with app.app_context():
        assert keywords.match(body) is None


def test_keyword_with_a_photo_is_feedback(app, client, fake_twilio):
    text(client, "STOP", media=[("https://api.twilio.com/m/1", "image/jpeg")])
    drain(app)

    [contact] = rows(app, Contact)
    assert contact.opted_out_at is None
    [message] = rows(app, InboundMessage)
    assert message.disposition == Disposition.FEEDBACK
    assert [row.kind for row in outbound(app)] == ["ack"]


# --------------------------------------------------------------------------- marks that are letters


def match_in(app: Flask, body: str) -> str | None:
    with app.app_context():
        return keywords.match(body)


# Ordinary words that differ from a keyword only by a mark that is a letter of its own.
LOOKALIKES = {
    "বন্ধু": "friend (STOP is বন্ধ)",
    "চলো": "let's go (START is চালু)",
    "চাল": "rice",
    "চুল": "hair",
    "أبداً": "never! (START is ابدأ)",
    "أبدا": "never, without the tanwin",
}


@pytest.mark.parametrize("word", list(LOOKALIKES), ids=list(LOOKALIKES.values()))
def test_word_that_differs_from_a_keyword_by_a_letter_mark_is_no_keyword(app, word):
    assert match_in(app, word) is None
    assert match_in(app, f" {word}! ") is None


@pytest.mark.parametrize(
    ("word", "action"),
    [
        ("বন্ধ", "stop"),
        ("থামুন", "stop"),
        ("শুরু", "start"),
        ("চালু", "start"),
        ("সাহায্য", "help"),
        ("ভাষা", "language"),
        ("মুছুন", "forget"),
        ("মুছে  ফেলুন।", "forget"),
        ("توقف", "stop"),
        ("إلغاء", "stop"),
        ("الغاء", "stop"),  # as everyday typing spells it, without the hamza
        ("ابدأ", "start"),
        ("بدء", "start"),
        ("مساعدة", "help"),
        ("مُسَاعَدَة", "help"),  # short vowels written out
        ("مساعـــدة", "help"),  # stretched with tatweel
        ("اللغة؟", "language"),
        ("امسح", "forget"),
        ("مٹائیں", "forget"),
        ("رکیں", "stop"),  # Urdu keyboard: Farsi yeh
        ("رکيں", "stop"),  # Arabic yeh
        ("ركيں", "stop"),  # Arabic kaf and yeh
        ("حذف کريں", "forget"),
        ("Stóp", "stop"),
        ("STERGE", "forget"),  # Romanian ȘTERGE without its comma
        ("usun", "forget"),  # Polish USUŃ without its accent
        ("Jezyk", "language"),
        ("відписатися", "stop"),
    ],
)
def test_keywords_match_whatever_optional_marks_they_carry(app, word, action):
    assert match_in(app, word) == action


@pytest.mark.parametrize(
    ("sender", "body"),
    [("+8801712345678", "বন্ধু"), ("+201001234567", "أبداً")],
)
def test_lookalike_of_a_keyword_is_acknowledged_as_feedback(app, client, fake_twilio, sender, body):
    text(client, body, sender=sender)
    drain(app)

    [contact] = rows(app, Contact)
    assert contact.opted_out_at is None
    [message] = rows(app, InboundMessage)
    [item] = rows(app, FeedbackItem)
    assert (message.disposition, message.item_id) == (Disposition.FEEDBACK, item.id)
    assert [row.kind for row in outbound(app)] == ["ack"]
    assert len(fake_twilio.messages) == 1


# --------------------------------------------------------------------------- Advanced Opt-Out


def test_twilio_advanced_opt_out_is_recorded_without_a_reply(app, client, fake_twilio):
    text(client, "STOP", OptOutType="STOP")
    drain(app)

    assert fake_twilio.messages == []
    assert outbound(app) == []
    [contact] = rows(app, Contact)
    assert contact.opted_out_at is not None
    [message] = rows(app, InboundMessage)
    assert message.disposition == Disposition.KEYWORD

    text(client, "The recycling was not collected.")
    drain(app)
    assert fake_twilio.messages == []  # opted out: stored, not answered
    assert len(rows(app, FeedbackItem)) == 1

    text(client, "START", OptOutType="START")
    drain(app)
    # Twilio answered START itself; we acknowledge what was sent while stopped, as after
    # our own START.
    [item] = rows(app, FeedbackItem)
    assert bodies(fake_twilio) == [rendered(app, "ack", "en", ref=item.ref, days=21)]
    [contact] = rows(app, Contact)
    assert contact.opted_out_at is None


def test_advanced_opt_out_help_is_not_answered_twice(app, client, fake_twilio):
    text(client, "HELP", OptOutType="HELP")
    drain(app)

    assert fake_twilio.messages == []
    assert rows(app, OutboundMessage) == []
    [contact] = rows(app, Contact)
    assert contact.opted_out_at is None
