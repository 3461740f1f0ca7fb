"""Every message a member can read, in one place.

The English text is the Babel msgid; the catalogues under ``translations/`` carry the
shipped translations. Rendering always happens under ``force_locale`` inside an app
context, because outside a request Flask-Babel has no locale and would quietly answer in
English.

House voice: short, plain and warm; say "you"; say what happens next and roughly when;
never ask for more than the member chose to tell; every message says how to stop.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated when rendered."""
    return message


def NP_(context: str, message: str) -> str:
    """Mark a string with a context for extraction (Babel keyword spec ``NP_:1c,2``)."""
    return message


def NN_(message: str) -> str:
    """Mark a string whose wording depends on a number, for extraction as a plural entry
    (Babel keyword spec ``NN_:1,1``: the English text is both msgid and msgid_plural, as
    the number is never 1). Each catalogue then holds one form per plural form of its
    language, chosen by the number when rendered."""
    return message


@dataclass(frozen=True)
class Template:
    kind: str
    msgid: str
    # For interpreters: where the message is used and what the placeholders mean.
    note: str
    # The placeholder whose number chooses the grammatical form ("within 21 days" takes
    # another form of "day" than "within 3 days" in Arabic, Romanian, Polish...), if any.
    count: str | None = None

    @property
    def placeholders(self) -> frozenset[str]:
        return frozenset(PLACEHOLDER.findall(self.msgid))


PLACEHOLDER = re.compile(r"%\((\w+)\)s")

TEMPLATES: dict[str, Template] = {
    t.kind: t
    for t in (
        Template(
            "ack",
            NN_(
                "Thank you, we got your message. A person will read it. We will tell you what "
                "happens next within %(days)s days. Ref %(ref)s. Reply STOP to stop."
            ),
            "Acknowledgement of a text. ref: short reference; days: when they will hear back.",
            count="days",
        ),
        Template(
            "ack_voice",
            NN_(
                "Thank you, we got your voice note. A person will listen to it. We will tell you "
                "what happens next within %(days)s days. Ref %(ref)s. Reply STOP to stop."
            ),
            "Acknowledgement of a voice note with no text.",
            count="days",
        ),
        Template(
            "ack_photo",
            NN_(
                "Thank you, we got your photo. A person will look at it. We will tell you what "
                "happens next within %(days)s days. Ref %(ref)s. Reply STOP to stop."
            ),
            "Acknowledgement of a photo or other file with no text.",
            count="days",
        ),
        Template(
            "ack_inline",
            NN_(
                "Thank you, we got your message. A person will read it. We will tell you what "
                "happens next within %(days)s days. Reply STOP to stop."
            ),
            "Acknowledgement sent straight away when our database is briefly unavailable.",
            count="days",
        ),
        Template(
            "help",
            N_(
                "%(org)s reads every message and replies. Text us in any language. Reply "
                "LANGUAGE to change language, FORGET to erase your data, STOP to stop."
            ),
            "Answer to HELP. org: the organisation's name. Keep the keywords in capitals.",
        ),
        Template(
            "stop",
            N_("You will get no more messages from %(org)s. Reply START if you want to come back."),
            "Confirmation after STOP. org: the organisation's name. Unlike other messages it does "
            "not say how to stop: the member just did, so it offers START instead.",
        ),
        Template(
            "start",
            N_("Welcome back. Text us any time, in any language. Reply STOP to stop."),
            "Confirmation after START.",
        ),
        Template(
            "language_menu",
            N_("Reply with a number to choose your language:\n%(options)s\nReply STOP to stop."),
            "Answer to LANGUAGE. options: one line per language, like '2 Cymraeg'.",
        ),
        Template(
            "language_set",
            N_("We will write to you in English from now on. Reply STOP to stop."),
            "Confirmation of a language choice. Name YOUR language instead of English.",
        ),
        Template(
            "forget",
            N_(
                "We have erased your phone number and your messages. This is our last message "
                "unless you text us again."
            ),
            "Confirmation after FORGET; the number is already erased. It does not say how to "
            "stop: there is nothing left to stop, and it says it is our last message.",
        ),
        Template(
            "what_next",
            N_("About your feedback %(ref)s: %(summary)s Reply STOP to stop."),
            "What was decided. summary: the decision's short summary, already in this language.",
        ),
        Template(
            "what_next_update",
            N_("An update about your feedback %(ref)s: %(summary)s Reply STOP to stop."),
            "A change to a decision the member was already told about.",
        ),
        Template(
            "rating_question",
            N_(
                "Did we listen to you? Reply 1 for yes, 2 for partly, 3 for no. Reply STOP to stop."
            ),
            "Sent after what_next, and after closed_no_action. Keep the digits 1, 2 and 3.",
        ),
        Template(
            "rating_thanks",
            N_("Thank you for telling us. Reply STOP to stop."),
            "Answer to a rating of yes or partly.",
        ),
        Template(
            "rating_reopened",
            NN_(
                "Thank you for telling us. A person will look at your feedback %(ref)s again "
                "and write to you within %(days)s days. Reply STOP to stop."
            ),
            "Answer to a rating of no: the feedback is reopened. days: when they will hear "
            "from us again (what staff decide, or that we are still working on it).",
            count="days",
        ),
        Template(
            "interim",
            NN_(
                "We are still working on your feedback %(ref)s. We will write to you again "
                "within %(days)s days. Reply STOP to stop."
            ),
            "Sent while nothing else has gone to the member for a while (no decision yet, or "
            "it waits to be published or translated), so nobody waits in silence. "
            "days: when they will hear from us again (a decision, or this message again).",
            count="days",
        ),
        Template(
            "closed_no_action",
            N_(
                "About your feedback %(ref)s: we read it, and we will not be taking it further "
                "this time. Thank you for telling us. Reply STOP to stop."
            ),
            "Sent when staff close the feedback without taking it further. ref: short "
            "reference. Their reason is not sent: it is kept for staff. Keep it kind, with no "
            "blame and no promise.",
        ),
    )
}

# The msgid of each message with a form per number, and the placeholder whose number
# chooses the form.
COUNT_OF_MSGID = {t.msgid: t.count for t in TEMPLATES.values() if t.count}

# Keywords members can send. The English words always work; each catalogue adds its own.
# The msgstr is a comma-separated list of words in that language.
KEYWORD_CONTEXT = "keyword"
KEYWORD_MSGIDS: dict[str, str] = {
    # One line each: Babel reads a msgid only as one string literal.
    "stop": NP_(
        "keyword",
        "STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, OPTOUT, REVOKE, STOPP, NO MORE, STOP IT, STOP TEXT, STOP TEXTING ME, STOP MESSAGING ME, STOP SENDING ME, UNSUBSCRIBE ME, OPT ME OUT, REMOVE ME, DONT TEXT ME, DONT TEXT ME AGAIN, DO NOT TEXT ME, CANCEL MY SUBSCRIPTION",  # noqa: E501
    ),
    "start": NP_("keyword", "START, UNSTOP, OPTIN"),
    "help": NP_("keyword", "HELP, INFO"),
    "language": NP_("keyword", "LANGUAGE, LANG"),
    "forget": NP_(
        "keyword",
        "FORGET, ERASE, FORGET ME, DELETE ME, DELETE MY DATA, ERASE MY DATA, DELETE MY NUMBER",
    ),
}
# Words a member may send around a keyword and still mean only it: "Stop please", "STOP,
# thank you". Never a keyword alone, and never a word that could turn feedback into one:
# "end it" or "end me" is somebody who needs a person to read it, not an opt-out.
POLITE_MSGID = NP_(
    "keyword",
    "PLEASE, PLS, PLZ, THANKS, THANK YOU, THX, TA, CHEERS, OK, OKAY, SO, MUCH, VERY, GREAT, THE, MESSAGES, TEXTS, SMS",  # noqa: E501
)
# Answers in words to "Did we listen?", beside its digits: a member who replies "no" means
# 3. Read only while a question waits for its answer; at any other time they are feedback.
RATING_WORD_MSGIDS: dict[str, str] = {
    "yes": NP_("keyword", "YES, Y, YEAH, YEP, YOU DID, YES YOU DID"),
    "partly": NP_("keyword", "PARTLY, SOMEWHAT, A BIT, A LITTLE"),
    "no": NP_("keyword", "NO, N, NOPE, NOT REALLY, NOT AT ALL, YOU DID NOT, YOU DIDNT"),
}


@dataclass(frozen=True)
class About:
    """A message as people in the panel know it (members never read this)."""

    title: str  # its name: "Acknowledgement"
    sent_when: str  # one line: when a member gets it


# Kept apart from TEMPLATES, whose line numbers the catalogues' references point at.
ABOUT: dict[str, About] = {
    "ack": About("Acknowledgement", "Sent when someone sends us feedback as text."),
    "ack_voice": About(
        "Acknowledgement (voice note)", "Sent when someone sends a voice note with no text."
    ),
    "ack_photo": About(
        "Acknowledgement (photo)", "Sent when someone sends a photo or other file with no text."
    ),
    "ack_inline": About(
        "Acknowledgement (immediate)",
        "Sent straight back when someone sends feedback while our database is briefly down.",
    ),
    "help": About("Help", "Sent when someone texts HELP."),
    "stop": About(
        "Stopped",
        "Sent when someone texts STOP, or asks in other words and staff stop messages for "
        "them: our last message until START.",
    ),
    "start": About("Welcome back", "Sent when someone who had texted STOP texts START."),
    "language_menu": About("Language menu", "Sent when someone texts LANGUAGE."),
    "language_set": About(
        "Language chosen", "Sent when someone picks this language from the language menu."
    ),
    "forget": About(
        "Data erased",
        "Sent when someone texts FORGET, or asks in other words and staff erase them, once "
        "their number and messages are gone.",
    ),
    "what_next": About(
        "What happened next",
        "Sent when staff publish the decision someone's feedback is linked to.",
    ),
    "what_next_update": About(
        "Update on what happened next",
        "Sent when staff change a decision someone was already told about.",
    ),
    "rating_question": About(
        "Did we listen?",
        "Sent after “What happened next” and after “Closed as no action”.",
    ),
    "rating_thanks": About(
        "Thanks for the rating",
        "Sent when someone answers “Did we listen?” with 1 (yes) or 2 (partly).",
    ),
    "rating_reopened": About(
        "Reopened after rating",
        "Sent when someone answers “Did we listen?” with 3 (no): their feedback is reopened.",
    ),
    "interim": About(
        "Still working on it",
        "Sent every so many days while someone's feedback has no decision yet.",
    ),
    "closed_no_action": About(
        "Closed as no action",
        "Sent when staff close someone's feedback without taking it further.",
    ),
}

# What each list of keywords lets a member do, by sending one of its words alone.
KEYWORD_PURPOSES: dict[str, str] = {
    "stop": "stop all messages",
    "start": "get messages again after STOP",
    "help": "ask how this service works",
    "language": "choose another language",
    "forget": "have their number and messages erased",
}


# What each placeholder puts in, for an interpreter told to keep it.
PLACEHOLDER_MEANINGS = {
    "ref": "the member's reference",
    "days": "the number of days",
    "org": "the organisation's name",
    "options": "the list of languages",
    "summary": "the decision's summary",
}


class UnknownTemplate(KeyError):
    pass


def render(kind: str, locale: str, **values: Any) -> str:
    """The text of message ``kind`` in ``locale``, with ``values`` filled in."""
    try:
        template = TEMPLATES[kind]
    except KeyError as exc:
        raise UnknownTemplate(kind) from exc
    missing = template.placeholders - values.keys()
    if missing:
        raise ValueError(f"{kind} needs {', '.join(sorted(missing))}")
    from .overrides import translate

    count = int(values[template.count]) if template.count else None
    text = translate(template.msgid, locale, count=count)
    if "summary" in values and values["summary"] != SUMMARY_MARK:
        values = {**values, "summary": as_sentence(str(values["summary"]), locale)}
    return text % values if template.placeholders else text


# What ends a sentence, in the scripts we ship: a summary ending in none of them ran into
# the words after it ("...every hour Reply STOP to stop.").
SENTENCE_ENDS = ".!?…。！？۔؟।"
# Quotation marks and brackets that may close a sentence after its full stop.
CLOSERS = "\"'”’»)]」』"
# The full stop of a language that does not write ".".
FULL_STOPS = {"bn": "।", "ur": "۔", "zh": "。", "ja": "。"}


def full_stop(locale: str) -> str:
    return FULL_STOPS.get(locale.split("_")[0], ".")


def as_sentence(text: str, locale: str) -> str:
    """``text``, trimmed, ending as a sentence does in ``locale``: a decision's summary is
    sent with more words after it. An emoji ends one too ("Fixed 👍")."""
    text = text.strip()
    last = text.rstrip(CLOSERS)[-1:]
    if not last or last in SENTENCE_ENDS or unicodedata.category(last) == "So":
        return text
    return text + full_stop(locale)


# Where a decision's summary goes in ``summary_frame``: panel.js puts the summary being
# typed in its place to count the message a member gets.
SUMMARY_MARK = "{summary}"


def summary_frame(locale: str) -> str:
    """The "what happened next" message in ``locale`` as a member gets it, with a typical
    reference and ``SUMMARY_MARK`` where the decision's summary goes: a summary that fits
    one segment alone may not once the message around it is in the member's language."""
    from ..refs import TYPICAL_REF

    return render("what_next", locale, ref=TYPICAL_REF, summary=SUMMARY_MARK)


def keywords_for(action: str, locale: str) -> list[str]:
    """The words that mean ``action`` in ``locale`` (the English ones are separate)."""
    return _word_list(KEYWORD_MSGIDS[action], locale)


def rating_words_for(answer: str, locale: str) -> list[str]:
    """The words that answer "Did we listen?" with ``answer`` in ``locale``."""
    return _word_list(RATING_WORD_MSGIDS[answer], locale)


def polite_words_for(locale: str) -> list[str]:
    """The words a member may send around a keyword in ``locale`` (``POLITE_MSGID``)."""
    return _word_list(POLITE_MSGID, locale)


def _word_list(msgid: str, locale: str) -> list[str]:
    from .keywords import split_words
    from .overrides import translate

    return [word for word in split_words(translate(msgid, locale, KEYWORD_CONTEXT)) if word]
