"""Messages keep telling members how to stop (and the other words they are told to send),
whatever interpreters change: a translation, or a list of keywords."""

from __future__ import annotations

from html import escape

import pytest
from sqlalchemy import select

from feedback_bot.config import SHIPPED_LOCALES
from feedback_bot.extensions import db
from feedback_bot.interpreting.catalogue_io import entries, member_texts
from feedback_bot.interpreting.checks import translation_problems
from feedback_bot.interpreting.keyword_mentions import (
    dropped_word_problems,
    named_actions,
    named_words,
)
from feedback_bot.interpreting.saving import TranslationRefused, save_override
from feedback_bot.messaging import keywords
from feedback_bot.messaging.overrides import form_context, plural_form
from feedback_bot.messaging.templates import (
    KEYWORD_CONTEXT,
    KEYWORD_MSGIDS,
    POLITE_MSGID,
    RATING_WORD_MSGIDS,
    TEMPLATES,
    keywords_for,
    render,
)
from feedback_bot.models import MessageOverride, ReviewState

from .test_interpreter_pages import interpreter

RATING_QUESTION = TEMPLATES["rating_question"].msgid
HELP = TEMPLATES["help"].msgid
ACK = TEMPLATES["ack"].msgid
FORGET_WORDS = KEYWORD_MSGIDS["forget"]
STOP_WORDS = KEYWORD_MSGIDS["stop"]
# The interpreter's text: "Did we listen?" with its answers, and no way to stop.
POLISH_WITHOUT_STOP = "Czy Cię wysłuchaliśmy? Odpowiedz: 1 tak, 2 częściowo, 3 nie."
REFUSED_STOP = (
    "This message must still tell members how to stop: include one of your words for STOP: "
    "STOP, WYPISZ, REZYGNUJĘ, ZATRZYMAJ."
)
POLISH_HELP_ZAPOMNIJ = (
    "%(org)s czyta każdą wiadomość w każdym języku i odpowiada. Wyślij JĘZYK, by zmienić "
    "język, ZAPOMNIJ, by usunąć dane, STOP, by zakończyć."
)


def test_the_english_texts_name_the_keywords_their_notes_promise():
    """Which keywords a translation must name is read from its English text: the STOP
    confirmation offers START instead of STOP, and the FORGET confirmation is the last
    message, with nothing to stop."""
    assert named_actions(TEMPLATES["stop"].msgid) == ["start"]
    assert named_actions(TEMPLATES["forget"].msgid) == []
    assert named_actions(HELP) == ["stop", "language", "forget"]
    for kind in set(TEMPLATES) - {"stop", "forget", "help"}:
        assert named_actions(TEMPLATES[kind].msgid) == ["stop"], kind


def test_a_translation_that_drops_how_to_stop_is_refused(app):
    with app.app_context():
        shipped = render("rating_question", "pl")
        with pytest.raises(TranslationRefused) as refused:
            save_override(None, "pl", RATING_QUESTION, POLISH_WITHOUT_STOP, "reviewed")
        assert str(refused.value) == REFUSED_STOP
        assert render("rating_question", "pl") == shipped
        assert db.session.scalars(select(MessageOverride)).all() == []


@pytest.mark.parametrize(
    "ending",
    [
        "Odpowiedz STOP, aby zrezygnować.",  # the English word works in every language
        "Wyślij WYPISZ, aby zrezygnować.",  # a word of the Polish list
        "Wyślij WYPISZ (albo STOP), aby zrezygnować.",
        "Wyślij „REZYGNUJE”, aby zrezygnować.",  # without its accent, as members may send it
    ],
)
def test_a_translation_naming_a_word_that_stops_is_saved(app, ending):
    with app.app_context():
        text = f"{POLISH_WITHOUT_STOP} {ending}"
        save_override(None, "pl", RATING_QUESTION, text, "reviewed")
        assert render("rating_question", "pl") == text


@pytest.mark.parametrize(
    ("locale", "text", "problem"),
    [
        # A word of the sentence, not the word to send: BAJA means STOP in Spanish.
        (
            "es",
            "¿Le hemos escuchado? Responda 1, 2 o 3. Responda para darse de baja.",
            "write BAJA in capitals, so they see it is the word to send",
        ),
        (
            "pl",
            f"{POLISH_WITHOUT_STOP} Odpowiedz stop, aby zrezygnować.",
            "write STOP in capitals, so they see it is the word to send",
        ),
        # No capitals in Arabic script: quotation marks set the word apart instead.
        (
            "ar",
            "هل استمعنا إليكم؟ أرسلوا 1 أو 2 أو 3. أرسلوا توقف لإيقاف الرسائل.",
            'put "توقف" in quotation marks, so they see it is the word to send',
        ),
        # A word that stops in another language only: a Polish member is not told it.
        ("pl", f"{POLISH_WITHOUT_STOP} Odpowiedz STOPIO.", "include one of your words for STOP"),
    ],
)
def test_a_keyword_only_half_named_is_refused_with_what_to_change(app, locale, text, problem):
    with app.app_context(), pytest.raises(TranslationRefused, match=problem):
        save_override(None, locale, RATING_QUESTION, text, "reviewed")


def test_a_word_in_quotation_marks_is_named_in_a_script_without_capitals(app):
    with app.app_context():
        text = "هل استمعنا إليكم؟ أرسلوا 1 أو 2 أو 3. أرسلوا «توقف» لإيقاف الرسائل."
        save_override(None, "ar", RATING_QUESTION, text, "reviewed")
        assert render("rating_question", "ar") == text


def test_the_confirmations_need_only_what_their_english_offers(app):
    """The STOP confirmation says how to come back, not how to stop; after FORGET there is
    nothing left to stop."""
    stop, forget = TEMPLATES["stop"].msgid, TEMPLATES["forget"].msgid
    with app.app_context():
        back = "Nie dostaniesz już wiadomości od %(org)s. Wyślij WZNÓW, by wrócić."
        save_override(None, "pl", stop, back, "reviewed")
        save_override(None, "pl", forget, "Usunęliśmy Twój numer i wiadomości.", "reviewed")
        with pytest.raises(TranslationRefused, match="how to get messages again: include one"):
            save_override(None, "pl", stop, "Nie dostaniesz już wiadomości od %(org)s.", "draft")


def test_help_must_name_every_keyword_its_english_names(app):
    with app.app_context():
        text = "%(org)s czyta każdą wiadomość. Wyślij JĘZYK, by zmienić język, STOP, by zakończyć."
        with pytest.raises(TranslationRefused) as refused:
            save_override(None, "pl", HELP, text, "reviewed")
    assert str(refused.value) == (
        "This message must still tell members how to have their data erased: include one of "
        "your words for FORGET: FORGET, USUŃ, ZAPOMNIJ."
    )


def test_a_word_counts_once_the_list_has_it_and_not_while_only_a_draft_has_it(app):
    """The current list is what members' messages are matched against: a draft of the list
    is not, so a message may not send members to a word of the draft."""
    with app.app_context():
        text = POLISH_HELP_ZAPOMNIJ.replace("ZAPOMNIJ", "KASUJ")
        save_override(
            None, "pl", FORGET_WORDS, "USUŃ, ZAPOMNIJ, KASUJ", ReviewState.DRAFT, KEYWORD_CONTEXT
        )
        with pytest.raises(TranslationRefused, match="FORGET, USUŃ, ZAPOMNIJ\\."):
            save_override(None, "pl", HELP, text, "reviewed")
        save_override(None, "pl", FORGET_WORDS, "USUŃ, ZAPOMNIJ, KASUJ", "reviewed", "keyword")
        save_override(None, "pl", HELP, text, "reviewed")
        assert "KASUJ, by usunąć dane" in render("help", "pl", org="Riverside")


def test_every_form_of_a_message_with_forms_must_say_how_to_stop(app):
    with app.app_context():
        few = form_context(plural_form("pl", 2))
        text = "Dziękujemy. W ciągu %(days)s dni napiszemy, co dalej. Nr %(ref)s."
        with pytest.raises(TranslationRefused, match="how to stop"):
            save_override(None, "pl", ACK, text, "reviewed", few)


def test_an_imported_translation_that_drops_how_to_stop_is_refused(app):
    from .test_interpreting import po_file

    with app.app_context():
        from feedback_bot.interpreting.catalogue_io import read_import

        report = read_import("pl", po_file("pl", ("", RATING_QUESTION, POLISH_WITHOUT_STOP, [])))
    assert report.changes == []
    assert report.errors == [f"{RATING_QUESTION[:50]!r}: {REFUSED_STOP}"]


# Keyword lists: the reverse.


def test_a_keyword_list_that_drops_a_word_a_message_names_is_refused(app):
    """The Polish help reply says "USUŃ, by usunąć dane": dropping USUŃ from the FORGET
    words would leave a member who sends it unerased, their message taken for feedback."""
    with app.app_context():
        with pytest.raises(TranslationRefused) as refused:
            save_override(None, "pl", FORGET_WORDS, "ZAPOMNIJ", "reviewed", KEYWORD_CONTEXT)
        assert str(refused.value) == (
            "“Help” tells members to send USUŃ, which this list drops: a member who sent USUŃ "
            "would not be erased. Keep USUŃ in the list, or first change “Help” to name a "
            "word you keep (ZAPOMNIJ)."
        )
        assert keywords.match("USUŃ") == "forget"
        assert keywords_for("forget", "pl") == ["USUŃ", "ZAPOMNIJ"]


def test_the_message_changed_first_the_list_may_drop_the_word(app):
    with app.app_context():
        save_override(None, "pl", HELP, POLISH_HELP_ZAPOMNIJ, "reviewed")
        save_override(None, "pl", FORGET_WORDS, "ZAPOMNIJ", "reviewed", KEYWORD_CONTEXT)
        assert keywords_for("forget", "pl") == ["ZAPOMNIJ"]
        assert keywords.match("USUŃ") is None
        assert keywords.match("zapomnij") == "forget"


def test_a_word_new_to_the_list_takes_three_saves_and_the_refusal_says_which(app):
    """KASUJ for USUŃ: the message may name KASUJ only once it works, and the list may drop
    USUŃ only once no message names it."""
    with app.app_context():
        with pytest.raises(TranslationRefused) as refused:
            save_override(None, "pl", FORGET_WORDS, "KASUJ", "reviewed", KEYWORD_CONTEXT)
        assert str(refused.value) == (
            "“Help” tells members to send USUŃ, which this list drops: a member who sent USUŃ "
            "would not be erased. Keep USUŃ in the list, or first change “Help” to name a "
            "word you keep (FORGET). To name KASUJ there, first save the list with KASUJ and "
            "USUŃ."
        )
        save_override(None, "pl", FORGET_WORDS, "KASUJ, USUŃ", "reviewed", KEYWORD_CONTEXT)
        kasuj = POLISH_HELP_ZAPOMNIJ.replace("ZAPOMNIJ", "KASUJ")
        save_override(None, "pl", HELP, kasuj, "reviewed")
        save_override(None, "pl", FORGET_WORDS, "KASUJ", "reviewed", KEYWORD_CONTEXT)
        assert keywords.match("kasuj") == "forget"
        assert keywords.match("usuń") is None
        assert "KASUJ, by usunąć dane" in render("help", "pl", org="Riverside")


def test_a_draft_list_drops_nothing_members_are_told(app):
    """A draft is not matched: members' USUŃ keeps working until the list is marked done,
    which is checked then."""
    with app.app_context():
        save_override(None, "pl", FORGET_WORDS, "ZAPOMNIJ", ReviewState.DRAFT, KEYWORD_CONTEXT)
        assert keywords.match("USUŃ") == "forget"
        with pytest.raises(TranslationRefused, match="“Help” tells members to send USUŃ"):
            save_override(None, "pl", FORGET_WORDS, "ZAPOMNIJ", "needs_review", KEYWORD_CONTEXT)


def test_each_form_naming_a_dropped_word_is_named(app):
    """A message with forms is named with the numbers of the form that names the word."""
    with app.app_context():
        few = form_context(plural_form("pl", 2))
        text = "Dziękujemy. W ciągu %(days)s dni napiszemy, co dalej. Nr %(ref)s. Wyślij WYPISZ."
        save_override(None, "pl", ACK, text, "reviewed", few)
        with pytest.raises(TranslationRefused) as refused:
            save_override(None, "pl", STOP_WORDS, "REZYGNUJĘ", "reviewed", KEYWORD_CONTEXT)
        title = entries("pl")[f"ack-{plural_form('pl', 2)}"].form_title
        assert str(refused.value) == (
            f"“Acknowledgement ({title})” tells members to send WYPISZ, which this list drops: "
            "a member who sent WYPISZ would go on getting messages. Keep WYPISZ in the list, "
            "or first change “Acknowledgement "
            f"({title})” to name a word you keep (REZYGNUJĘ)."
        )
        # STOP, named everywhere else, is English: no list can drop it.
        save_override(None, "pl", ACK, text.replace("WYPISZ", "STOP"), "reviewed", few)
        save_override(None, "pl", STOP_WORDS, "REZYGNUJĘ", "reviewed", KEYWORD_CONTEXT)
        assert keywords.match("wypisz") is None


# The shipped catalogues pass the same checks.


@pytest.mark.parametrize("locale", SHIPPED_LOCALES)
def test_the_shipped_catalogues_pass_the_editors_checks(app, locale):
    """Every form of every message, as members get it from the shipped catalogue, and every
    list of words, would be saved by the editor as it is."""
    with app.app_context():
        messages = member_texts(locale)
        assert len(messages) >= len(TEMPLATES)
        for entry in entries(locale).values():
            if entry.context == KEYWORD_CONTEXT:
                words = keywords.split_words(_current(entry.msgid, locale))
                text = ", ".join(words)
                assert translation_problems(entry.context, entry.msgid, locale, text) == [], (
                    entry.kind
                )
        for message in messages:
            entry = _entry_named(locale, message.name)
            problems = translation_problems(entry.context, entry.msgid, locale, message.text)
            assert problems == [], (locale, message.name, message.text)
        for action in KEYWORD_MSGIDS:
            current = ", ".join(keywords_for(action, locale))
            assert dropped_word_problems(action, locale, current, messages) == [], action


def _current(msgid: str, locale: str) -> str:
    from feedback_bot.messaging.overrides import translate

    return translate(msgid, locale, KEYWORD_CONTEXT)


def _entry_named(locale: str, name: str):
    for entry in entries(locale).values():
        label = f"{entry.title} ({entry.form_title})" if entry.form is not None else entry.title
        if entry.context != KEYWORD_CONTEXT and label == name:
            return entry
    raise AssertionError(name)


def test_the_shipped_help_replies_name_every_keyword_in_a_way_that_works(app):
    """Quotation marks in Urdu, Bengali and Arabic, capitals elsewhere: each word named is
    one a member can send, and it is matched."""
    with app.app_context():
        for locale in SHIPPED_LOCALES:
            text = render("help", locale, org="Riverside")
            for action in ("stop", "language", "forget"):
                words = keywords.split_words(KEYWORD_MSGIDS[action]) + keywords_for(action, locale)
                named = named_words(text, words)
                assert named, (locale, action, text)
                assert all(keywords.match(word) == action for word in named), (locale, named)


def test_the_lists_answering_did_we_listen_and_polite_words_are_not_keyword_lists(app):
    """Only the lists of actions are checked against the messages: "TAK" is named by no
    message as a word to send alone."""
    with app.app_context():
        save_override(None, "pl", RATING_WORD_MSGIDS["yes"], "TAK", "reviewed", KEYWORD_CONTEXT)
        save_override(None, "pl", POLITE_MSGID, "PROSZĘ", "reviewed", KEYWORD_CONTEXT)


# Through the editor's pages, as an interpreter.


def test_the_editor_refuses_did_we_listen_without_how_to_stop_and_keeps_the_text(app, client):
    interpreter(app, client)
    response = client.post(
        "/admin/translate/templates/pl",
        data={"kind": "rating_question", "text": POLISH_WITHOUT_STOP, "state": "reviewed"},
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    section = page[page.index('id="template-rating_question"') :]
    section = section[: section.index("</section>")]
    assert f"Not saved: {escape(REFUSED_STOP, quote=False)}" in section
    assert f">{escape(POLISH_WITHOUT_STOP, quote=False)}</textarea>" in section
    with app.app_context():
        assert "Odpowiedz STOP" in render("rating_question", "pl")

    fixed = f"{POLISH_WITHOUT_STOP} Odpowiedz STOP, aby zrezygnować."
    response = client.post(
        "/admin/translate/templates/pl",
        data={"kind": "rating_question", "text": fixed, "state": "reviewed"},
    )
    assert response.status_code == 302
    with app.app_context():
        assert render("rating_question", "pl") == fixed


def test_the_editor_refuses_a_keyword_list_dropping_a_word_help_names(app, client):
    interpreter(app, client)
    response = client.post(
        "/admin/translate/templates/pl",
        data={"kind": "keywords: forget", "text": "ZAPOMNIJ", "state": "reviewed"},
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    section = page[page.index('id="template-keywords-forget"') :]
    section = section[: section.index("</section>")]
    assert "Not saved: “Help” tells members to send USUŃ, which this list drops" in section
    assert ">ZAPOMNIJ</textarea>" in section
    with app.app_context():
        assert keywords.match("usuń") == "forget"
