"""A member is answered in their language: guessed from the first text, else the country."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from feedback_bot.extensions import db
from feedback_bot.messaging.language import (
    LocaleChoice,
    choose_locale,
    detect,
    from_region,
    menu_choice,
    menu_options,
)
from feedback_bot.messaging.templates import render
from feedback_bot.models import Contact, FeedbackItem, InboundMessage

from .conftest import drain, send_sms

UK_MEMBER = "+447911123456"


def rows(app: Flask, model: Any) -> list[Any]:
    with app.app_context():
        found = list(db.session.scalars(select(model).order_by(model.id)))
        db.session.expunge_all()
        return found


def expected_ack(app: Flask, locale: str, item: FeedbackItem) -> str:
    with app.app_context():
        return render("ack", locale, days=app.config["INTERIM_UPDATE_DAYS"], ref=item.ref)


def help_reply(app: Flask, locale: str) -> str:
    with app.app_context():
        return render("help", locale, org=app.config["ORG_NAME"])


def english_ack(app: Flask, item: FeedbackItem) -> str:
    return expected_ack(app, "en", item)


@pytest.mark.parametrize(
    ("locale", "sender", "body"),
    [
        ("pl", UK_MEMBER, "Dzień dobry, winda w bloku C nie działa od dwóch tygodni."),
        ("es", UK_MEMBER, "Hola, el ascensor del bloque C lleva dos semanas roto."),
        ("ar", UK_MEMBER, "مرحبا، المصعد في المبنى ج معطل منذ أسبوعين."),
        ("uk", UK_MEMBER, "Добрий день, ліфт у блоці С не працює вже два тижні."),
        ("cy", UK_MEMBER, "Bore da, mae'r lifft ym mloc C wedi torri ers pythefnos."),
        # The text wins over the country too.
        ("es", "+48512345678", "Hola, el ascensor del bloque C lleva dos semanas roto."),
        ("pl", "+33612345678", "Dzień dobry, winda w bloku C nie działa od dwóch tygodni."),
    ],
)
def test_first_message_sets_the_language(app, client, fake_twilio, locale, sender, body):
    assert send_sms(client, sender, body).status_code == 200
    drain(app)

    [contact] = rows(app, Contact)
    assert (contact.locale, contact.locale_source) == (locale, "detected")
    [message] = rows(app, InboundMessage)
    assert message.detected_locale == locale
    [item] = rows(app, FeedbackItem)
    assert item.locale == locale
    [sent] = fake_twilio.messages
    assert sent["to"] == sender
    assert sent["body"] == expected_ack(app, locale, item)
    # Really translated: the catalogue's text, not the English fallback.
    assert sent["body"] != english_ack(app, item)


@pytest.mark.parametrize("body", ["OK", "👍", "Tak", "123"])
def test_short_message_from_poland_falls_back_to_polish(app, client, fake_twilio, body):
    assert send_sms(client, "+48512345678", body).status_code == 200
    drain(app)

    [contact] = rows(app, Contact)
    assert (contact.locale, contact.locale_source, contact.region) == ("pl", "country", "PL")
    [item] = rows(app, FeedbackItem)
    [sent] = fake_twilio.messages
    assert sent["body"] == expected_ack(app, "pl", item)
    assert sent["body"] != english_ack(app, item)


@pytest.mark.parametrize(
    "body", ["Hiya", "Salaam!", "Shukriya", "languge", "Ji haan", "Salaam bhai", "Haan bilkul"]
)
def test_one_word_many_languages_share_leaves_the_countrys_language(app, client, fake_twilio, body):
    """Lingua reads these as Somali or Romanian (0.66 to 0.94): a word or two is not
    enough to answer a British member in another language from now on."""
    send_sms(client, UK_MEMBER, body)
    drain(app)

    [contact] = rows(app, Contact)
    assert (contact.locale, contact.locale_source) == ("en", "country")
    [message] = rows(app, InboundMessage)
    assert message.detected_locale is None  # too short to tell
    [item] = rows(app, FeedbackItem)
    assert fake_twilio.messages[0]["body"] == english_ack(app, item)


@pytest.mark.parametrize(("body", "locale"), [("Dziękuję", "pl"), ("Привіт", "uk")])
def test_one_word_only_its_language_writes_sets_it(app, client, fake_twilio, body, locale):
    send_sms(client, UK_MEMBER, body)
    drain(app)

    [contact] = rows(app, Contact)
    assert (contact.locale, contact.locale_source) == (locale, "detected")
    [item] = rows(app, FeedbackItem)
    assert fake_twilio.messages[0]["body"] == expected_ack(app, locale, item)


def test_one_word_leaves_a_guessed_language_as_it_was(app, client, fake_twilio):
    """A member whose language is still the country's guess keeps it when a later message is
    one such word: a typo of LANGUAGE made an English member Romanian."""
    send_sms(client, UK_MEMBER, "👍")
    send_sms(client, UK_MEMBER, "languge")
    drain(app)

    [contact] = rows(app, Contact)
    assert (contact.locale, contact.locale_source) == ("en", "country")


@pytest.mark.parametrize(
    ("sender", "locale"),
    [
        ("+40721234567", "ro"),
        ("+923001234567", "ur"),  # Pakistan: Urdu comes before English
        ("+8801712345678", "bn"),
        ("+252612345678", "so"),  # Somalia: Somali comes before Arabic
        ("+447911123456", "en"),
    ],
)
def test_short_message_falls_back_to_the_countrys_language(
    app, client, fake_twilio, sender, locale
):
    send_sms(client, sender, "👍")
    drain(app)

    [contact] = rows(app, Contact)
    assert (contact.locale, contact.locale_source) == (locale, "country")
    [item] = rows(app, FeedbackItem)
    assert fake_twilio.messages[0]["body"] == expected_ack(app, locale, item)


@pytest.mark.parametrize("default", ["en", "cy"])
def test_country_without_a_shipped_language_falls_back_to_the_default(
    make_app, fake_twilio, default
):
    app = make_app(DEFAULT_LOCALE=default)
    assert send_sms(app.test_client(), "+33612345678", "OK").status_code == 200
    drain(app)

    [contact] = rows(app, Contact)
    assert (contact.locale, contact.locale_source, contact.region) == (default, "default", "FR")
    [item] = rows(app, FeedbackItem)
    [sent] = fake_twilio.messages
    assert sent["to"] == "+33612345678"
    assert sent["body"] == expected_ack(app, default, item)


def test_locale_of_an_existing_contact_does_not_change(make_app, fake_twilio):
    app = make_app(ACK_COALESCE_SECONDS=0)
    client = app.test_client()
    send_sms(client, UK_MEMBER, "Dzień dobry, winda w bloku C nie działa od dwóch tygodni.")
    drain(app)
    send_sms(client, UK_MEMBER, "Hola, el ascensor del bloque C lleva dos semanas roto.")
    send_sms(client, UK_MEMBER, "The lift in Block C has been broken for two weeks.")
    drain(app)

    [contact] = rows(app, Contact)
    assert (contact.locale, contact.locale_source) == ("pl", "detected")
    messages = rows(app, InboundMessage)
    assert [m.detected_locale for m in messages] == ["pl", "es", "en"]  # noted, not applied
    items = rows(app, FeedbackItem)
    assert [i.locale for i in items] == ["pl", "pl", "pl"]
    bodies = sorted(m["body"] for m in fake_twilio.messages)
    assert bodies == sorted(expected_ack(app, "pl", item) for item in items)


SPANISH = "Buenas tardes, en el centro de salud nunca hay intérprete de español."
POLISH = "Dzień dobry, winda w bloku C nie działa od dwóch tygodni."


def test_a_keyword_first_then_text_answers_in_the_language_of_the_text(app, client, fake_twilio):
    """HELP says nothing of the member's language (the English words work in every one):
    the country's guess, until a message says which it is."""
    send_sms(client, UK_MEMBER, "HELP")
    drain(app)
    [contact] = rows(app, Contact)
    assert (contact.locale, contact.locale_source) == ("en", "country")

    send_sms(client, UK_MEMBER, SPANISH)
    drain(app)

    [contact] = rows(app, Contact)
    assert (contact.locale, contact.locale_source) == ("es", "detected")
    [item] = rows(app, FeedbackItem)
    assert item.locale == "es"
    helped, ack = fake_twilio.messages
    assert helped["body"] == help_reply(app, "en")
    assert ack["body"] == expected_ack(app, "es", item)


def test_text_after_a_greeting_gives_the_member_and_the_item_its_language(app, client, fake_twilio):
    """A greeting, then the feedback a moment later: one item, acknowledged once (in the guess,
    as the greeting came first), and both the member and the item take the language of the text,
    which the next messages (what happened next, Did we listen?) go in."""
    send_sms(client, UK_MEMBER, "👍")
    send_sms(client, UK_MEMBER, POLISH)
    drain(app)

    [contact] = rows(app, Contact)
    assert (contact.locale, contact.locale_source) == ("pl", "detected")
    [item] = rows(app, FeedbackItem)
    assert item.locale == "pl"
    [ack] = fake_twilio.messages
    assert ack["body"] == expected_ack(app, "en", item)


def test_a_keyword_in_a_language_answers_an_existing_member_in_it(app, client, fake_twilio):
    send_sms(client, UK_MEMBER, "👍")
    drain(app)
    send_sms(client, UK_MEMBER, "AYUDA")
    drain(app)

    [contact] = rows(app, Contact)
    assert (contact.locale, contact.locale_source) == ("es", "detected")
    assert fake_twilio.messages[-1]["body"] == help_reply(app, "es")


def test_the_first_language_a_message_says_stays_the_members(make_app, fake_twilio):
    """A Polish number is guessed Polish; an English text says otherwise, once. A Polish
    text after it changes nothing: detection decides once, LANGUAGE any time."""
    app = make_app(ACK_COALESCE_SECONDS=0)
    client = app.test_client()
    send_sms(client, "+48512345678", "OK")
    drain(app)
    [contact] = rows(app, Contact)
    assert (contact.locale, contact.locale_source) == ("pl", "country")

    send_sms(client, "+48512345678", "The lift in Block C has been broken for two weeks.")
    send_sms(client, "+48512345678", POLISH)
    drain(app)

    [contact] = rows(app, Contact)
    assert (contact.locale, contact.locale_source) == ("en", "detected")
    ok_item, english_item, polish_item = rows(app, FeedbackItem)
    # "OK" was acknowledged and its item taken in Polish; not yet read, it follows.
    assert [ok_item.locale, english_item.locale, polish_item.locale] == ["en", "en", "en"]
    acks = [m["body"] for m in fake_twilio.messages]
    assert acks == [
        expected_ack(app, "pl", ok_item),
        expected_ack(app, "en", english_item),
        expected_ack(app, "en", polish_item),
    ]


def test_a_guess_the_text_confirms_stays(make_app):
    app = make_app(ACK_COALESCE_SECONDS=0)
    client = app.test_client()
    send_sms(client, "+48512345678", "OK")
    send_sms(client, "+48512345678", POLISH)
    send_sms(client, "+48512345678", "The lift in Block C has been broken for two weeks.")
    drain(app)
    [contact] = rows(app, Contact)
    assert (contact.locale, contact.locale_source) == ("pl", "detected")


FRENCH = "Bonjour, le centre communautaire est fermé le dimanche et personne ne répond."


def test_a_text_in_a_language_we_do_not_offer_is_followed_by_the_menu_once(make_app, fake_twilio):
    app = make_app(ACK_COALESCE_SECONDS=0)
    client = app.test_client()
    send_sms(client, UK_MEMBER, FRENCH)
    drain(app)

    ack, menu = fake_twilio.messages
    [item] = rows(app, FeedbackItem)
    assert ack["body"] == english_ack(app, item)
    with app.app_context():
        assert menu["body"] == render("language_menu", "en", options=menu_options())

    send_sms(client, UK_MEMBER, "Le bus 42 ne passe plus devant l'école depuis lundi.")
    drain(app)
    assert [m["body"] for m in fake_twilio.messages[2:]] == [
        english_ack(app, rows(app, FeedbackItem)[1])
    ]  # offered once

    send_sms(client, UK_MEMBER, "2")  # the menu still waits for its answer
    drain(app)
    [contact] = rows(app, Contact)
    assert (contact.locale, contact.locale_source) == ("cy", "chosen")


@pytest.mark.parametrize(
    "body",
    [
        "Hola, el ascensor del bloque C lleva dos semanas roto.",  # a language we offer
        "👍",  # nothing to tell
        "Merci beaucoup",  # too short to tell
    ],
)
def test_no_menu_when_the_language_is_known_or_cannot_be_told(app, client, fake_twilio, body):
    send_sms(client, UK_MEMBER, body)
    drain(app)
    assert [m["body"] for m in fake_twilio.messages] == [
        expected_ack(app, rows(app, Contact)[0].locale, rows(app, FeedbackItem)[0])
    ]


def test_no_menu_for_a_member_who_chose_their_language(app, client, fake_twilio):
    send_sms(client, UK_MEMBER, "LANGUAGE")
    send_sms(client, UK_MEMBER, "1")
    drain(app)
    fake_twilio.reset()
    send_sms(client, UK_MEMBER, FRENCH)
    drain(app)
    assert [m["body"] for m in fake_twilio.messages] == [
        english_ack(app, rows(app, FeedbackItem)[0])
    ]


@pytest.mark.parametrize(
    "quote",
    [
        '"Ar gau tan ddydd Llun" on the library door again!',
        "Croeso i Gymru sign on the A483 knocked down",
    ],
)
def test_a_sign_quoted_in_welsh_leaves_a_british_member_in_english(app, client, quote):
    """Mostly English, partly Welsh: lingua leans Welsh, but the English in it says the
    writer reads English; whether the first message or after a guess. The message reads
    as English: staff read it as written, and a longer one would wait for no interpreter
    as "language not recognised"."""
    send_sms(client, UK_MEMBER, quote)
    send_sms(client, "+447911123457", "👍")
    send_sms(client, "+447911123457", quote)
    drain(app)
    contacts = rows(app, Contact)
    assert [(c.locale, c.locale_source) for c in contacts] == [("en", "country")] * 2
    assert [m.detected_locale for m in rows(app, InboundMessage)] == ["en", None, "en"]


def test_whatsapp_and_sms_share_the_members_language(app, client, fake_twilio):
    send_sms(client, UK_MEMBER, "Hola, el ascensor del bloque C lleva dos semanas roto.")
    send_sms(client, "whatsapp:" + UK_MEMBER, "The lift in Block C is still broken.")
    drain(app)

    [contact] = rows(app, Contact)
    assert contact.locale == "es"
    [whatsapp_item] = [i for i in rows(app, FeedbackItem) if i.channel == "whatsapp"]
    [to_whatsapp] = fake_twilio.messages_to("whatsapp:" + UK_MEMBER)
    assert to_whatsapp["body"] == expected_ack(app, "es", whatsapp_item)


def test_a_language_offered_with_a_country_or_script_is_chosen(make_app):
    """Lingua and the country data name a language ("pt", "zh_Hant"); the offered locale
    may name a country too ("pt_BR"): exact code first, then the same language, the
    member's country's variant first."""
    app = make_app(SHIPPED_LOCALES=("en", "pt_PT", "pt_BR", "zh_Hant", "cy"))
    portuguese = "O elevador do nosso prédio está quebrado há três semanas e ninguém veio."
    with app.app_context():
        assert from_region("BR") == "pt_BR"
        assert from_region("PT") == "pt_PT"
        assert from_region("TW") == "zh_Hant"
        assert detect(portuguese, "BR") == "pt_BR"
        assert choose_locale(portuguese, "BR").locale == "pt_BR"
        assert choose_locale("👍", "BR") == LocaleChoice("pt_BR", "country")
        assert choose_locale(None, "GB", detected="pt") == LocaleChoice("pt_PT", "detected")
        assert menu_choice("pt_br") == "pt_BR"


@pytest.mark.parametrize(
    ("reply", "locale"),
    [("Espanol", "es"), ("ROMANA", "ro"), ("español", "es"), ("Cymraeg!", "cy"), ("UK", "uk")],
)
def test_a_menu_reply_names_a_language_without_its_accents(app, reply, locale):
    with app.app_context():
        assert menu_choice(reply) == locale
