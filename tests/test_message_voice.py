"""Guards on the house voice of member-facing messages (see messaging/templates.py).

Every message says how to stop, and the English ones fit one SMS: a member pays nothing
extra for our replies only while they stay one segment.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
from flask import Flask

from feedback_bot.config import SHIPPED_LOCALES, defaults
from feedback_bot.messaging import keywords
from feedback_bot.messaging.language import menu_options
from feedback_bot.messaging.segments import sms_cost
from feedback_bot.messaging.templates import (
    KEYWORD_MSGIDS,
    TEMPLATES,
    as_sentence,
    keywords_for,
    render,
)
from feedback_bot.refs import MAX_ID, encode_ref

# The two messages with no way to stop (their translator notes say why too): the STOP
# confirmation offers START, and after FORGET the number is gone and it is our last message.
NO_STOP_NEEDED = {"stop", "forget"}

# Templates allowed past one segment. language_menu lists each language in its own
# script, so it is UCS-2 and several segments whatever its English words say.
LONGER_THAN_ONE_SEGMENT = {"language_menu"}

# The summary staff write goes into these; the frame around it must leave room for it.
WITH_SUMMARY = ("what_next", "what_next_update")
SUMMARY_ROOM = 100
GSM7_SINGLE_SEGMENT = 160


def realistic_values() -> dict[str, Any]:
    """Values as the app fills them in; the longest reference an id can have (7 chars)."""
    return {
        "ref": encode_ref(MAX_ID),
        "days": 21,
        "org": defaults()["ORG_NAME"],
        "options": menu_options(),
        "summary": "",
    }


def rendered(kind: str, locale: str) -> tuple[str, dict[str, Any]]:
    """The text of ``kind`` in ``locale`` and the values put in it; needs an app context."""
    values = {key: realistic_values()[key] for key in TEMPLATES[kind].placeholders}
    return render(kind, locale, **values), values


def unpunctuated(word: str) -> str:
    return "".join(ch for ch in word if not unicodedata.category(ch).startswith("P"))


def words(text: str) -> set[str]:
    """The words of ``text`` stripped of punctuation ("STOP." is STOP, "«СТОП»" is СТОП)."""
    return {unpunctuated(word) for word in text.split()} - {""}


def stop_words(text: str, values: dict[str, Any]) -> set[str]:
    """Words of ``text`` a member could send to stop, not counting those of ``values`` (a
    reference or name that happened to be a keyword would not be the message saying so)."""
    from_values = set().union(*(words(str(value)) for value in values.values()))
    return {word for word in words(text) - from_values if keywords.match(word) == "stop"}


def stop_instructions(text: str, values: dict[str, Any], locale: str) -> set[str]:
    """The words of ``text`` that tell the member what to send to stop: a stop keyword of
    English or of ``locale``'s own list, written in capitals as such an instruction is
    (STOP, СТОП). A word of the sentence that is a keyword somewhere ("baja" of "darse de
    baja", the Bengali "বন্ধ", to close) does not tell anybody what to send."""
    own = {
        keywords.normalise(word)
        for word in (*keywords.split_words(KEYWORD_MSGIDS["stop"]), *keywords_for("stop", locale))
    }
    return {
        word
        for word in stop_words(text, values)
        if word.isupper() and keywords.normalise(word) in own
    }


@pytest.mark.parametrize("locale", SHIPPED_LOCALES)
@pytest.mark.parametrize("kind", sorted(set(TEMPLATES) - NO_STOP_NEEDED))
def test_every_message_says_how_to_stop(app: Flask, kind: str, locale: str) -> None:
    with app.app_context():
        text, values = rendered(kind, locale)
        assert stop_instructions(text, values, locale), (
            f"{kind}/{locale} does not say how to stop: {text!r}"
        )


def test_a_keyword_that_is_only_a_word_of_the_sentence_is_no_instruction(app: Flask) -> None:
    """The check above would pass a Spanish text that lost its STOP on "darse de baja"."""
    with app.app_context():
        assert stop_instructions("Responda STOP para darse de baja.", {}, "es") == {"STOP"}
        assert stop_instructions("Responda para darse de baja.", {}, "es") == set()
        assert stop_instructions("Надішліть СТОП, щоб відписатися.", {}, "uk") == {"СТОП"}


@pytest.mark.parametrize("kind", sorted(set(TEMPLATES) - LONGER_THAN_ONE_SEGMENT))
def test_english_messages_fit_one_sms(app: Flask, kind: str) -> None:
    with app.app_context():
        text, _ = rendered(kind, "en")
    cost = sms_cost(text)
    assert cost.segments == 1, f"{kind} is {cost.segments} segments ({cost}): {text!r}"


ACKNOWLEDGEMENTS = ("ack", "ack_photo", "ack_voice", "ack_inline")
# A service's first million items have four-character references (``refs``).
TYPICAL_REF_ID = 10_000
# INTERIM_UPDATE_DAYS is at least 2; these reach every plural form each shipped language
# has from 2 on (Arabic: 2, 3-10, 11-99, 100-102; Romanian: 2-19, 20 and over; Ukrainian:
# 2-4, 5-20, 21...).
DAYS_OF_EVERY_FORM = (2, 3, 5, 11, 14, 20, 21, 22, 28, 100, 365)


@pytest.mark.parametrize("locale", SHIPPED_LOCALES)
def test_every_message_fits_two_segments_in_every_language(app: Flask, locale: str) -> None:
    """Languages written outside GSM-7 (Polish, Arabic, Spanish with its "á") pay 70
    characters a segment, so one is out of reach for most messages; two is not, and a
    third is a third more for every message. The acknowledgement, which every member
    gets, fits one in English and Welsh."""
    with app.app_context():
        values = {**realistic_values(), "ref": encode_ref(TYPICAL_REF_ID)}
        for kind, template in TEMPLATES.items():
            if kind in LONGER_THAN_ONE_SEGMENT:
                continue
            # Every form of a message whose wording depends on its number of days.
            wanted = {key: values[key] for key in template.placeholders}
            for days in DAYS_OF_EVERY_FORM if template.count else (None,):
                text = render(kind, locale, **{**wanted, **({"days": days} if days else {})})
                cost = sms_cost(text)
                most = 1 if kind in ACKNOWLEDGEMENTS and locale in ("en", "cy") else 2
                assert cost.segments <= most, (kind, locale, days, cost, text)


@pytest.mark.parametrize("kind", WITH_SUMMARY)
def test_english_frame_leaves_room_for_the_summary(app: Flask, kind: str) -> None:
    with app.app_context():
        text, _ = rendered(kind, "en")
    cost = sms_cost(text)
    assert cost.encoding == "GSM-7", text
    room = GSM7_SINGLE_SEGMENT - cost.units
    assert room >= SUMMARY_ROOM, f"{kind} leaves {room} characters for the summary: {text!r}"


def test_the_exceptions_are_real_templates() -> None:
    # A renamed template would otherwise slip out of the guards unnoticed.
    assert NO_STOP_NEEDED | LONGER_THAN_ONE_SEGMENT | set(WITH_SUMMARY) <= set(TEMPLATES)


def test_a_name_that_makes_a_reply_two_segments_is_warned_of_at_start(app, caplog):
    """HELP names the organisation: "Riverside Council" (the tests' app, built in setup)
    fits one SMS, a long name does not, and the app says so when it starts."""
    from feedback_bot.messaging import warn_if_name_costs_a_segment

    assert not [r for r in caplog.get_records("setup") if "ORG_NAME" in r.getMessage()]
    app.config["ORG_NAME"] = "Riverside Borough Council Community Services"
    warn_if_name_costs_a_segment(app)
    assert "makes the English help reply 2 SMS segments" in caplog.text


@pytest.mark.parametrize(
    ("summary", "locale", "sent"),
    [
        ("We will run route 7 every hour", "en", "We will run route 7 every hour."),
        ("  We will run route 7 every hour.  ", "en", "We will run route 7 every hour."),
        ("Will it work? We think so!", "en", "Will it work? We think so!"),
        ('We said "yes."', "en", 'We said "yes."'),
        ('We said "yes"', "en", 'We said "yes".'),
        ("Fixed 👍", "en", "Fixed 👍"),
        ("لفٹ جمعہ تک ٹھیک ہو جائے گی", "ur", "لفٹ جمعہ تک ٹھیک ہو جائے گی۔"),
        ("শুক্রবারের মধ্যে লিফট ঠিক হবে", "bn", "শুক্রবারের মধ্যে লিফট ঠিক হবে।"),
        ("سنصلح المصعد", "ar", "سنصلح المصعد."),
        ("هل سنصلحه؟", "ar", "هل سنصلحه؟"),
    ],
)
def test_a_summary_is_sent_as_a_sentence(summary: str, locale: str, sent: str) -> None:
    assert as_sentence(summary, locale) == sent


def test_a_summary_without_a_full_stop_does_not_run_into_how_to_stop(app: Flask) -> None:
    with app.app_context():
        text = render("what_next", "en", ref="7QX2", summary="We will run route 7 every hour")
    assert text == "About your feedback 7QX2: We will run route 7 every hour. Reply STOP to stop."
