"""Answers to the questions we ask members, as members write them: "Did we listen?" in words
("no", "Tak", "not really"), a number that answers nothing ("4" to "Did we listen?", "12"
to the language menu) and a language named in the staff language ("Polish")."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from feedback_bot import clock
from feedback_bot.extensions import db
from feedback_bot.interpreting.saving import TranslationRefused, save_override
from feedback_bot.languages import enabled_locales
from feedback_bot.messaging import keywords
from feedback_bot.messaging.language import menu_choice, menu_options, named_languages
from feedback_bot.messaging.templates import (
    KEYWORD_CONTEXT,
    RATING_WORD_MSGIDS,
    rating_words_for,
    render,
)
from feedback_bot.models import (
    Contact,
    Disposition,
    FeedbackItem,
    InboundMessage,
    ItemStatus,
    ReviewState,
)

from .conftest import drain, send_sms
from .test_loop import DAYTIME, UK, link_all_and_publish, make_decision, told_of_a_decision
from .test_outage_opt_outs import during_outage

POLISH_MEMBER = "+48512345678"


def rendered(app, kind: str, locale: str = "en", **values) -> str:
    with app.app_context():
        return render(kind, locale, **values)


def items(app) -> list[FeedbackItem]:
    with app.app_context():
        found = list(db.session.scalars(select(FeedbackItem).order_by(FeedbackItem.id)))
        db.session.expunge_all()
        return found


def last_disposition(app) -> str:
    with app.app_context():
        return db.session.scalars(
            select(InboundMessage.disposition).order_by(InboundMessage.id.desc()).limit(1)
        ).one()


@pytest.mark.parametrize(
    ("reply", "rating"),
    [
        ("No", "no"),
        ("not really", "no"),
        ("No, thank you.", "no"),
        ("yes please", "yes"),
        ("Yes!", "yes"),
        ("partly", "partly"),
        ("Yes you did", "yes"),
        ("1 thanks", "yes"),
        ("1!", "yes"),
        ("3\ufe0f\u20e3", "no"),  # a phone's keycap 3
        ("Not at all", "no"),
    ],
)
def test_did_we_listen_answered_in_words(app, client, fake_twilio, reply, rating):
    told_of_a_decision(app, client)

    send_sms(client, UK, reply)
    drain(app)

    [item] = items(app)
    assert item.rating == rating
    assert item.status == (ItemStatus.REOPENED if rating == "no" else ItemStatus.TOLD)
    assert last_disposition(app) == Disposition.RATING
    thanks = "rating_reopened" if rating == "no" else "rating_thanks"
    days = app.config["INTERIM_UPDATE_DAYS"]
    values = {"ref": item.ref, "days": days} if rating == "no" else {}
    assert fake_twilio.messages[-1]["body"] == rendered(app, thanks, **values)


def test_did_we_listen_answered_in_the_members_language(app, client, fake_twilio):
    clock.freeze(DAYTIME)
    send_sms(client, POLISH_MEMBER, "Winda w naszym bloku jest zepsuta od tygodni.")
    drain(app)
    link_all_and_publish(app, make_decision(app, {"pl": "Naprawimy windę do 1 marca."}))
    drain(app)

    send_sms(client, POLISH_MEMBER, "Tak, dziękuję")
    drain(app)

    [item] = items(app)
    assert item.rating == "yes"
    assert fake_twilio.messages[-1]["body"] == rendered(app, "rating_thanks", "pl")


def test_no_with_no_question_waiting_is_feedback(app, client, fake_twilio):
    clock.freeze(DAYTIME)
    send_sms(client, UK, "No")
    drain(app)

    [item] = items(app)
    assert item.rating is None
    assert fake_twilio.messages[-1]["body"] == rendered(app, "ack", ref=item.ref, days=21)


def test_a_number_that_answers_nothing_asks_did_we_listen_again(app, client, fake_twilio):
    told_of_a_decision(app, client)
    question = fake_twilio.messages[-1]["body"]
    assert question == rendered(app, "rating_question")

    send_sms(client, UK, "4")
    drain(app)

    assert fake_twilio.messages[-1]["body"] == question  # asked again: it says 1, 2 or 3
    assert last_disposition(app) == Disposition.ASKED_AGAIN
    [item] = items(app)  # no new feedback from a "4"
    assert item.rating is None

    clock.freeze(DAYTIME + timedelta(minutes=5))
    send_sms(client, UK, "1")
    drain(app)
    [item] = items(app)
    assert item.rating == "yes"
    assert fake_twilio.messages[-1]["body"] == rendered(app, "rating_thanks")


def test_a_number_that_is_no_menu_choice_sends_the_menu_again(app, client, fake_twilio):
    clock.freeze(DAYTIME)
    send_sms(client, UK, "LANGUAGE")
    drain(app)
    menu = fake_twilio.messages[-1]["body"]
    with app.app_context():
        assert menu == render("language_menu", "en", options=menu_options())

    send_sms(client, UK, "12")
    drain(app)
    assert fake_twilio.messages[-1]["body"] == menu
    assert last_disposition(app) == Disposition.ASKED_AGAIN
    assert items(app) == []

    send_sms(client, UK, "Polish")
    drain(app)
    with app.app_context():
        contact = db.session.scalars(select(Contact)).one()
        assert (contact.locale, contact.locale_source) == ("pl", "chosen")


def test_a_number_with_no_question_waiting_is_still_feedback(app, client, fake_twilio):
    clock.freeze(DAYTIME)
    send_sms(client, UK, "4")
    drain(app)
    [item] = items(app)
    assert fake_twilio.messages[-1]["body"] == rendered(app, "ack", ref=item.ref, days=21)


@pytest.mark.parametrize(("name", "locale"), [("Polish", "pl"), ("welsh", "cy"), ("Arabic", "ar")])
def test_the_menu_takes_a_language_named_in_the_staff_language(app, name, locale):
    with app.app_context():
        assert menu_choice(name) == locale


def test_an_answer_in_words_is_not_acknowledged_inline_during_an_outage(make_app):
    """A "no" may answer "Did we listen?": only intake can tell, once the database is back."""
    make_app()  # the database, made before the app that cannot reach it
    assert "<Message>" not in during_outage(make_app, UK, "No")
    assert "<Message>" in during_outage(make_app, UK, "No heating in block C since Monday")


def test_the_shipped_answer_words_pass_the_check(app):
    from feedback_bot.interpreting.checks import translation_problems

    with app.app_context():
        for locale in enabled_locales():
            for answer, msgid in RATING_WORD_MSGIDS.items():
                words = ", ".join(rating_words_for(answer, locale))
                assert translation_problems(KEYWORD_CONTEXT, msgid, locale, words) == [], (
                    locale,
                    answer,
                )


@pytest.mark.parametrize(
    ("answer", "words", "problem"),
    [
        ("yes", "IE, NIE", r"'nie' already answers 'no'"),
        ("no", "NA, STOP", r"'stop' already means STOP"),
        ("partly", "RHANNOL, 2", r"Numbers cannot be keywords"),
    ],
)
def test_an_answer_list_that_means_something_else_is_refused(app, answer, words, problem):
    with app.app_context(), pytest.raises(TranslationRefused, match=problem):
        save_override(
            None, "cy", RATING_WORD_MSGIDS[answer], words, ReviewState.DRAFT, KEYWORD_CONTEXT
        )


def test_an_interpreters_answer_words_count(app):
    with app.app_context():
        assert keywords.rating_answer("nage") is None
        save_override(
            None,
            "cy",
            RATING_WORD_MSGIDS["no"],
            "NA, NADDO, NAGE",
            ReviewState.NEEDS_REVIEW,
            KEYWORD_CONTEXT,
        )
        assert keywords.rating_answer("Nage.") == "no"


@pytest.mark.parametrize(
    "reply",
    [
        "Thanks!",
        "thank you",
        "👍",
        "🙏🏽🙏🏽",
        "Diolch",
        "Ok thanks",
        "Thank you so much!",
        "Cheers",
        "Great, thanks",
        "ok",
        "Diolch yn fawr",
        "Muchas gracias",
        "Dziękuję bardzo",
        "شكرا جزيلا",
        "Shukriya",
    ],
)
def test_thanks_for_a_message_of_ours_is_kept_with_its_item_and_not_answered(
    app, client, fake_twilio, reply
):
    clock.freeze(DAYTIME)
    send_sms(client, UK, "The lift in our block has been broken for weeks.")
    drain(app)
    sent = len(fake_twilio.messages)

    clock.freeze(DAYTIME + timedelta(minutes=10))  # after the acknowledgement's item closed
    send_sms(client, UK, reply)
    drain(app)

    assert len(fake_twilio.messages) == sent  # no "a person will read it" for a thank-you
    [item] = items(app)
    with app.app_context():
        thanks = db.session.scalars(
            select(InboundMessage).order_by(InboundMessage.id.desc())
        ).first()
        assert (thanks.disposition, thanks.item_id, thanks.body) == (
            Disposition.COURTESY,
            item.id,
            reply,
        )


@pytest.mark.parametrize(
    ("first_at", "reply"),
    [
        (None, "Thanks!"),  # nothing of ours to thank for: a first message is feedback
        (timedelta(days=8), "Thanks!"),  # a week on, it is no answer to us
        (timedelta(minutes=10), "Thanks, but the lift is still broken"),  # more than thanks
    ],
)
def test_thanks_that_answers_nothing_of_ours_is_feedback(app, client, fake_twilio, first_at, reply):
    clock.freeze(DAYTIME)
    if first_at is not None:
        send_sms(client, UK, "The lift in our block has been broken for weeks.")
        drain(app)
        clock.freeze(DAYTIME + first_at)
    send_sms(client, UK, reply)
    drain(app)

    item = items(app)[-1]
    assert last_disposition(app) == Disposition.FEEDBACK
    assert fake_twilio.messages[-1]["body"] == rendered(app, "ack", ref=item.ref, days=21)


def test_the_item_page_shows_a_thank_you_as_one(app, client, fake_twilio):
    from .test_admin_items import as_role

    clock.freeze(DAYTIME)
    send_sms(client, UK, "The lift in our block has been broken for weeks.")
    drain(app)
    clock.freeze(DAYTIME + timedelta(minutes=10))
    send_sms(client, UK, "Thank you 👍")
    drain(app)

    [item] = items(app)
    as_role(app, client, "staff")
    page = client.get(f"/admin/items/{item.id}").get_data(as_text=True)
    assert "Thank you 👍" in page
    assert "thanks for our message, not answered" in page


FRENCH_MEMBER = "+33612345678"
FRENCH = "Bonjour, la piscine est fermée depuis deux semaines et personne ne nous dit pourquoi."


@pytest.mark.parametrize(
    "reply", ["Français", "French", "Deutsch", "Tagalog", "FRANCAIS", "norsk bokmål", "Kiswahili"]
)
def test_a_language_we_do_not_offer_named_to_the_menu_sends_it_again(
    app, client, fake_twilio, reply
):
    clock.freeze(DAYTIME)
    send_sms(client, UK, "LANGUAGE")
    drain(app)
    menu = fake_twilio.messages[-1]["body"]

    send_sms(client, UK, reply)
    drain(app)

    # The menu again, which shows what we offer: not "a person will read it".
    assert [m["body"] for m in fake_twilio.messages] == [menu, menu]
    assert last_disposition(app) == Disposition.ASKED_AGAIN
    assert items(app) == []
    with app.app_context():
        contact = db.session.scalars(select(Contact)).one()
        # Lingua reads "norsk bokmål" as Welsh: a name is no text in a language.
        assert (contact.locale, contact.locale_source) == ("en", "country")


def test_a_language_named_after_the_menu_we_offered_is_neither_merged_nor_acknowledged(
    app, client, fake_twilio
):
    """The menu follows the acknowledgement of a sentence in a language we do not offer;
    the member answers it by naming theirs, at once (the item is still open for more
    messages) and again later."""
    clock.freeze(DAYTIME)
    send_sms(client, FRENCH_MEMBER, FRENCH)
    drain(app)
    [item] = items(app)
    ack, menu = (m["body"] for m in fake_twilio.messages)
    assert ack == rendered(app, "ack", ref=item.ref, days=21)
    assert menu == rendered(app, "language_menu", options=menu_options_in(app))

    clock.freeze(DAYTIME + timedelta(seconds=30))
    send_sms(client, FRENCH_MEMBER, "Français")
    drain(app)
    clock.freeze(DAYTIME + timedelta(minutes=10))
    send_sms(client, FRENCH_MEMBER, "French")
    drain(app)

    assert [m["body"] for m in fake_twilio.messages] == [ack, menu, menu, menu]
    assert [i.id for i in items(app)] == [item.id]
    with app.app_context():
        merged = db.session.scalars(
            select(InboundMessage.body).where(InboundMessage.item_id == item.id)
        ).all()
    assert merged == [FRENCH]

    clock.freeze(DAYTIME + timedelta(minutes=11))
    send_sms(client, FRENCH_MEMBER, "Polski")
    drain(app)
    with app.app_context():
        contact = db.session.scalars(select(Contact)).one()
        assert (contact.locale, contact.locale_source) == ("pl", "chosen")

    # With no menu waiting, a language's name is feedback like any other word.
    clock.freeze(DAYTIME + timedelta(hours=3))
    send_sms(client, FRENCH_MEMBER, "Deutsch")
    drain(app)
    assert len(items(app)) == 2


def menu_options_in(app) -> str:
    with app.app_context():
        return menu_options()


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Français", "fr"),
        ("french", "fr"),
        ("Deutsch!", "de"),
        ("Tagalog", "tl"),
        ("Tiếng Việt", "vi"),
        ("TIENG VIET", "vi"),
        ("Brazilian Portuguese", "pt_BR"),
        ("Русский", "ru"),
        ("فارسی", "fa"),
        ("Polski", "pl"),
    ],
)
def test_a_language_is_known_by_its_own_name_or_its_english_one(app, text, code):
    with app.app_context():
        assert code in named_languages(text)


@pytest.mark.parametrize(
    "text", ["ok", "hello", "👍", "", "2", "Le français, s'il vous plaît", "no heating"]
)
def test_other_words_name_no_language(app, text):
    with app.app_context():
        assert named_languages(text) == ()


def test_a_name_of_an_offered_language_in_english_or_with_its_country_picks_it(make_app):
    app = make_app(STAFF_LOCALE="cy")
    with app.app_context():
        assert menu_choice("Polish") == "pl"  # in English, under Welsh staff
        assert menu_choice("Pwyleg") == "pl"  # in the staff language
        assert menu_choice("British English") == "en"
        assert menu_choice("Brazilian Portuguese") is None  # not offered
