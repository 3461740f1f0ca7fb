"""Interpreters' work reaches members: template edits, summaries, and the .po exchange."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po
from sqlalchemy import select

from feedback_bot import clock, loop
from feedback_bot.extensions import db
from feedback_bot.interpreting.catalogue_io import export_po, read_import
from feedback_bot.interpreting.checks import translation_problems
from feedback_bot.interpreting.placeholders import placeholder_problems
from feedback_bot.interpreting.saving import (
    TranslationRefused,
    save_decision_summary,
    save_override,
)
from feedback_bot.jobs import redis_connection
from feedback_bot.languages import enabled_locales, set_enabled
from feedback_bot.messaging import keywords
from feedback_bot.messaging import overrides as overrides_module
from feedback_bot.messaging.keywords import keyword_list_problems
from feedback_bot.messaging.overrides import form_context, plural_form
from feedback_bot.messaging.templates import (
    KEYWORD_CONTEXT,
    KEYWORD_MSGIDS,
    POLITE_MSGID,
    TEMPLATES,
    keywords_for,
    polite_words_for,
    render,
)
from feedback_bot.models import Decision, FeedbackItem, ReviewState

from .conftest import drain, open_rows, send_sms
from .test_guarantee import start_worker, stop_worker, wait_for, worker_environment

ACK = TEMPLATES["ack"].msgid
WELSH = "Mae'r lifft yn ein bloc wedi torri ers wythnosau ac does neb wedi dod i'w drwsio."
# The acknowledgement has a form per number of days; Welsh uses its form 0 for 21 (and for
# every number but 1, 2, 3 and 6).
WELSH_21 = form_context(0)
WELSH_FORMS = 5
NEW_WELSH_ACK = (
    "Diolch, mae eich neges gyda ni. Bydd rhywun yn ei darllen ac yn ateb o fewn %(days)s "
    "diwrnod. Cyf %(ref)s. Atebwch STOP i stopio."
)


def test_placeholder_problems_name_the_placeholder():
    assert placeholder_problems("Ref %(ref)s in %(days)s days", "Cyf %(ref)s, %(days)s") == []
    assert placeholder_problems("Ref %(ref)s", "Cyf") == [
        "The translation must keep %(ref)s, which puts in the member's reference: write it "
        "exactly like that."
    ]
    assert placeholder_problems("Ref %(ref)s", "Cyf %(ref)s %(org)s") == [
        "%(org)s is not in the original; remove it."
    ]
    assert placeholder_problems("{ref} here", "{ref} yma {ref}") == [
        "{ref} is in the original once; remove the extra one."
    ]
    assert placeholder_problems("Ref %(ref)s", "Cyf %(ref)s %(ref)s") == [
        "%(ref)s is in the original once; remove the extra one."
    ]
    assert placeholder_problems("%(ref)s", "%(ref)s 100%") == [
        "A lone % sign breaks the message; write %% for a percent sign."
    ]


POLISH_ACK = "W ciągu %(days)s dni napiszemy, co dalej. Nr %(ref)s. Odpowiedz STOP."


@pytest.mark.parametrize(
    ("typed", "wrote", "fault"),
    [
        # Parsed, "%(days) d" is a placeholder (a space flag and a d): "ni" follows it.
        ("%(days) dni", "%(days)", "the s after the bracket is missing"),
        ("%(days)dni", "%(days)", "the s after the bracket is missing"),
        ("%(days)S dni", "%(days)S", "the s after the bracket must be a small s"),
        ("%(days) s dni", "%(days) s", "take out the space between the bracket and the s"),
        ("(days)s dni", "(days)s", "the % before the bracket is missing"),
        ("% (days)s dni", "% (days)s", "take out the space between % and the bracket"),
        ("%( days )s dni", "%( days )s", "take out the spaces inside the brackets"),
        ("%(days s dni", "%(days s", "the closing bracket ) is missing"),
        ("%（days）s dni", "%（days）s", "use plain round brackets ( ), as in the original"),
        ("%(Days)s dni", "%(Days)s", "write days inside the brackets as the original does"),
        (
            "%(dni)s dni",
            "%(dni)s",
            "the word in brackets stays days, as in the original, even in your language",
        ),
        ("%days dni", "%days", "the brackets around days are missing"),
        (
            "{days} dni",
            "{days}",
            "this message writes it with % and round brackets, not curly ones",
        ),
        (
            "%%(days)s dni",
            "%%(days)s",
            "write one % before the bracket: %% makes a percent sign",
        ),
    ],
)
def test_a_mistyped_placeholder_is_explained_in_plain_words(typed, wrote, fault):
    """Each says what to change, with the placeholder as it must be written, and nothing
    about a placeholder the parser made of the mistake ("%(days) d")."""
    problem = f"Write %(days)s exactly: {fault} (you wrote “{wrote}”)."
    translation = POLISH_ACK.replace("%(days)s dni", typed)
    assert placeholder_problems(ACK, translation) == [problem]
    # Where the form may say its number in words, the mistake is still one.
    assert placeholder_problems(ACK, translation, optional={"days"}) == [problem]


def test_brackets_and_percent_signs_of_the_text_are_left_alone():
    assert placeholder_problems(ACK, POLISH_ACK + " 100%% (zwykle).") == []
    assert placeholder_problems(ACK, POLISH_ACK + " (days)") == []
    # Two names the original does not have: which one was meant for the reference?
    still = "the word in brackets stays as the original writes it, in English. This message "
    assert placeholder_problems(ACK, POLISH_ACK.replace("%(ref)s", "%(nr)s %(numer)s")) == [
        f"%(nr)s is not in the original: {still}still needs %(ref)s.",
        f"%(numer)s is not in the original: {still}still needs %(ref)s.",
        "The translation must keep %(ref)s, which puts in the member's reference: write it "
        "exactly like that.",
    ]
    in_words = "W ciągu (zwykle) %(dni)s dni"
    assert placeholder_problems(ACK, POLISH_ACK.replace("W ciągu %(days)s dni", in_words)) == [
        "Write %(days)s exactly: the word in brackets stays days, as in the original, even in "
        "your language (you wrote “%(dni)s”)."
    ]
    assert placeholder_problems(ACK, POLISH_ACK + " %(org)s") == [
        "%(org)s is not in the original; remove it."
    ]


def test_a_mistyped_placeholder_is_refused_in_plain_words(app):
    few = form_context(plural_form("pl", 2))
    with app.app_context(), pytest.raises(TranslationRefused) as refused:
        save_override(None, "pl", ACK, POLISH_ACK.replace("%(days)s", "%(days)"), "reviewed", few)
    assert str(refused.value) == (
        "Write %(days)s exactly: the s after the bracket is missing (you wrote “%(days)”)."
    )


def test_a_missing_placeholder_is_refused(app):
    with app.app_context(), pytest.raises(TranslationRefused, match=r"must keep %\(ref\)s"):
        save_override(
            None, "cy", ACK, "Diolch o fewn %(days)s diwrnod.", ReviewState.DRAFT, WELSH_21
        )


@pytest.mark.slow
def test_editing_the_welsh_acknowledgement_reaches_a_running_worker(
    app, client, fake_twilio, database_url, redis_url, tmp_path
):
    env = worker_environment(database_url, redis_url, fake_twilio)
    log_path = tmp_path / "worker.log"
    worker = start_worker(env, log_path)
    try:
        send_sms(client, "+447911123456", WELSH)
        wait_for(lambda: len(fake_twilio.messages) == 1, 30, "the first acknowledgement")
        with app.app_context():
            first_ref = db.session.scalars(select(FeedbackItem)).one().ref
            assert fake_twilio.messages[0]["body"] == render("ack", "cy", ref=first_ref, days=21)
            save_override(None, "cy", ACK, NEW_WELSH_ACK, ReviewState.REVIEWED, WELSH_21)

        send_sms(client, "+447911123457", WELSH)
        wait_for(lambda: len(fake_twilio.messages) == 2, 30, "the second acknowledgement")
    finally:
        stop_worker(worker, log_path)
    with app.app_context():
        refs = [item.ref for item in db.session.scalars(select(FeedbackItem).order_by("id"))]
    assert fake_twilio.messages[1]["body"] == NEW_WELSH_ACK % {"ref": refs[1], "days": 21}
    assert open_rows(app) == 0


def test_po_export_import_round_trips_exactly(app):
    with app.app_context():
        save_override(None, "cy", ACK, NEW_WELSH_ACK, ReviewState.REVIEWED, WELSH_21)
        exported = export_po("cy")
        assert NEW_WELSH_ACK.encode() in exported

        report = read_import("cy", exported)
        assert report.errors == [] and report.changes == []
        assert report.unchanged > 10
        assert export_po("cy") == exported

        edited = exported.replace(b"yn ei darllen ac", b"yn ei darllen yn fuan ac")
        report = read_import("cy", edited)
        assert [(c.context, c.msgid, "yn fuan" in c.text) for c in report.changes] == [
            (WELSH_21, ACK, True)
        ]
        broken = exported.replace(b"diwrnod. Cyf %(ref)s.", b"diwrnod. Cyf.")
        assert "must keep %(ref)s" in read_import("cy", broken).errors[0]


def test_saving_a_summary_sends_what_waiting_members_are_owed(app, client, fake_twilio):
    clock.freeze(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    send_sms(client, "+48512345678", "Winda w naszym bloku jest zepsuta od tygodni.")
    drain(app)
    with app.app_context():
        decision = Decision(title="Lift", summary="We will repair the lift by 1 March.")
        db.session.add(decision)
        db.session.commit()
        loop.link(decision, list(db.session.scalars(select(FeedbackItem))))
        loop.publish(decision)
    drain(app)
    assert len(fake_twilio.messages) == 1  # only the acknowledgement: no Polish summary yet

    with app.app_context():
        decision = db.session.scalars(select(Decision)).one()
        save_decision_summary(
            None, decision, "pl", "Naprawimy windę do 1 marca.", ReviewState.NEEDS_REVIEW
        )
    drain(app)
    assert "Naprawimy windę do 1 marca." in fake_twilio.messages[1]["body"]


STOP_WORDS = KEYWORD_MSGIDS["stop"]


@pytest.mark.parametrize(
    ("words", "problem"),
    [
        ("STOPIO, 1", r"Numbers cannot be keywords \(1\)"),
        ("STOPIO, HELP", r"'help' already means HELP"),
        ("STOPIO, ,DIM", r"A keyword is empty"),
    ],
)
def test_a_keyword_list_that_would_catch_other_messages_is_refused(app, words, problem):
    """Every language's keywords are matched for every member: a digit would opt out
    whoever answers "Did we listen?" with it, and another action's word would mean two
    things."""
    with app.app_context(), pytest.raises(TranslationRefused, match=problem):
        save_override(None, "cy", STOP_WORDS, words, ReviewState.DRAFT, KEYWORD_CONTEXT)


def test_a_good_keyword_list_is_saved_and_matched(app):
    with app.app_context():
        save_override(
            None, "cy", STOP_WORDS, "STOPIO, DIM MWY", ReviewState.NEEDS_REVIEW, KEYWORD_CONTEXT
        )
        assert keywords.match("dim mwy") == "stop"


def test_the_same_check_refuses_an_imported_keyword_list(app):
    with app.app_context():
        catalog = Catalog(locale="cy")
        catalog.add(STOP_WORDS, "STOPIO, 2", context=KEYWORD_CONTEXT)
        buffer = io.BytesIO()
        write_po(buffer, catalog)
        report = read_import("cy", buffer.getvalue())
    assert report.changes == []
    assert any("Numbers cannot be keywords" in error for error in report.errors)


def test_the_shipped_keyword_lists_pass_the_check(app):
    with app.app_context():
        for locale in enabled_locales():
            for action in KEYWORD_MSGIDS:
                words = ", ".join(keywords_for(action, locale))
                assert keyword_list_problems(action, locale, words) == [], (locale, action)


def test_the_shipped_polite_words_pass_the_check_and_a_keyword_among_them_is_refused(app):
    """A polite word is forgiven around any keyword: one that is itself a keyword would make
    "stop help" mean STOP."""
    with app.app_context():
        for locale in enabled_locales():
            words = ", ".join(polite_words_for(locale))
            assert translation_problems(KEYWORD_CONTEXT, POLITE_MSGID, locale, words) == []
        with pytest.raises(TranslationRefused, match=r"'help' already means HELP"):
            save_override(
                None, "cy", POLITE_MSGID, "PLIS, HELP", ReviewState.DRAFT, KEYWORD_CONTEXT
            )
        assert keywords.match("stop iawn") is None
        save_override(
            None,
            "cy",
            POLITE_MSGID,
            "PLIS, DIOLCH YN FAWR IAWN",
            ReviewState.NEEDS_REVIEW,
            KEYWORD_CONTEXT,
        )
        assert keywords.match("stop, diolch yn fawr iawn") == "stop"  # the interpreter's words


def test_an_escaped_placeholder_is_not_a_placeholder(app):
    """ "%%(ref)s" is a percent sign and the text "(ref)s": members would read that, and
    no reference."""
    escaped = NEW_WELSH_ACK.replace("%(ref)s", "%%(ref)s")
    assert placeholder_problems(ACK, escaped) == [
        "Write %(ref)s exactly: write one % before the bracket: %% makes a percent sign (you "
        "wrote “%%(ref)s”)."
    ]
    assert placeholder_problems(ACK, NEW_WELSH_ACK + " %s") == [
        "A lone % sign breaks the message; write %% for a percent sign."
    ]
    assert placeholder_problems(ACK, NEW_WELSH_ACK + " 100%%") == []
    with app.app_context(), pytest.raises(TranslationRefused, match=r"Write %\(ref\)s exactly"):
        save_override(None, "cy", ACK, escaped, ReviewState.REVIEWED, WELSH_21)


def po_file(locale: str | None, *entries: tuple[str, str, str, list[str]]) -> bytes:
    """A .po file as a tool writes one: (context, msgid, text, flags) per entry."""
    catalog = Catalog(locale=locale)
    for context, msgid, text, flags in entries:
        catalog.add(msgid, text, context=context or None, flags=flags)
    buffer = io.BytesIO()
    write_po(buffer, catalog)
    return buffer.getvalue()


def test_a_po_file_of_another_language_is_refused(app):
    with app.app_context():
        polish = read_import("cy", export_po("pl"))
        assert polish.changes == [] and polish.unchanged == 0
        assert polish.errors == [
            "This file is in Polish (pl), not Welsh (cy); nothing was imported. Import it on "
            "the page of its own language."
        ]
        nameless = read_import("cy", po_file(None, ("", ACK, NEW_WELSH_ACK, [])))
        assert nameless.changes == []
        assert "does not say which language" in nameless.errors[0]
        # The same language with its country named is the same language. (The file has
        # the acknowledgement as it was before it had a form per number: for every number.)
        welsh = read_import("cy", po_file("cy_GB", ("", ACK, NEW_WELSH_ACK, [])))
        assert [(change.context, change.text) for change in welsh.changes] == [
            (form_context(form), NEW_WELSH_ACK) for form in range(WELSH_FORMS)
        ]


def test_fuzzy_entries_are_left_out_and_named(app):
    """A fuzzy entry is a tool's guess ("msgmerge" matched an old, similar message): gettext
    never uses one, and neither does the import."""
    start = TEMPLATES["start"].msgid
    data = po_file(
        "cy",
        ("", start, "Croeso nol (a guess). Atebwch STOP i stopio.", ["fuzzy"]),
        ("", ACK, NEW_WELSH_ACK, []),
    )
    with app.app_context():
        report = read_import("cy", data)
    assert {change.msgid for change in report.changes} == {ACK}
    assert report.fuzzy == [start]
    assert report.errors == []


def test_an_arabic_keyword_list_is_split_on_the_arabic_comma(app):
    with app.app_context():
        save_override(
            None, "ar", STOP_WORDS, "توقف، إلغاء، الغاء", ReviewState.REVIEWED, KEYWORD_CONTEXT
        )
        assert keywords_for("stop", "ar") == ["توقف", "إلغاء", "الغاء"]
        assert keywords.match("الغاء") == "stop"
        assert keywords.match("توقف") == "stop"
        # The check splits the same way: it sees each word, and the empty one.
        assert keyword_list_problems("stop", "ar", "توقف، مساعدة") == [
            "'مساعدة' already means HELP; a word can mean one thing only."
        ]
        assert keyword_list_problems("stop", "ar", "توقف،،الغاء") == [
            "A keyword is empty: separate the words with single commas."
        ]


def test_a_keyword_edit_counts_after_redis_lost_the_version(app):
    """Redis restarted without its data: a version counter would start again and repeat
    one a process already built its keyword table for."""
    with app.app_context():
        save_override(None, "cy", STOP_WORDS, "STOPIO, PAID", ReviewState.REVIEWED, KEYWORD_CONTEXT)
        assert keywords.match("paid") == "stop"
        redis_connection().flushdb()
        save_override(
            None, "cy", STOP_WORDS, "STOPIO, PAID, DIM MWY", ReviewState.REVIEWED, KEYWORD_CONTEXT
        )
        assert keywords.match("dim mwy") == "stop"


def test_with_redis_down_edits_count_within_the_fallback_ttl(app, make_app, monkeypatch):
    """A process that cannot reach Redis cannot hear of a change: it reloads what it caches
    after FALLBACK_TTL (0 here, not to wait), keywords and offered languages included."""
    down = make_app(REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens on port 1
    monkeypatch.setattr(overrides_module, "FALLBACK_TTL", 0.0)
    with down.app_context():
        assert keywords.match("dim mwy") is None
        assert "so" in enabled_locales()
    with app.app_context():
        save_override(
            None, "cy", STOP_WORDS, "STOPIO, DIM MWY", ReviewState.REVIEWED, KEYWORD_CONTEXT
        )
        set_enabled("so", False, None)
    with down.app_context():
        assert keywords.match("dim mwy") == "stop"
        assert "so" not in enabled_locales()


def test_a_draft_is_kept_for_the_interpreter_and_never_sent(app):
    """Draft, Needs review, Reviewed: a draft is unfinished work. Members keep getting what
    they got; the editor and the .po file show the draft, flagged as one."""
    with app.app_context():
        shipped = render("ack", "cy", ref="K7Q2", days=21)
        save_override(None, "cy", ACK, NEW_WELSH_ACK, ReviewState.DRAFT, WELSH_21)
        assert render("ack", "cy", ref="K7Q2", days=21) == shipped
        exported = export_po("cy")
        [entry] = [m for m in read_po(io.BytesIO(exported)) if m.id and m.id[0] == ACK]
        assert entry.string[0] == NEW_WELSH_ACK and "draft" in entry.flags
        assert read_import("cy", exported).changes == []

        save_override(None, "cy", STOP_WORDS, "DIM MWY", ReviewState.DRAFT, KEYWORD_CONTEXT)
        assert keywords.match("dim mwy") is None

        save_override(None, "cy", ACK, NEW_WELSH_ACK, ReviewState.NEEDS_REVIEW, WELSH_21)
        assert render("ack", "cy", ref="K7Q2", days=21) == NEW_WELSH_ACK % {
            "ref": "K7Q2",
            "days": 21,
        }


def test_a_draft_summary_does_not_tell_waiting_members(app, client, fake_twilio):
    clock.freeze(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    send_sms(client, "+48512345678", "Winda w naszym bloku jest zepsuta od tygodni.")
    drain(app)
    with app.app_context():
        decision = Decision(title="Lift", summary="We will repair the lift by 1 March.")
        db.session.add(decision)
        db.session.commit()
        loop.link(decision, list(db.session.scalars(select(FeedbackItem))))
        loop.publish(decision)
        decision_id = decision.id
    drain(app)
    with app.app_context():
        decision = db.session.get(Decision, decision_id)
        save_decision_summary(None, decision, "pl", "Naprawimy windę (szkic).", ReviewState.DRAFT)
    drain(app)
    assert len(fake_twilio.messages) == 1  # the acknowledgement only


def test_a_draft_summary_is_not_sent_by_a_later_fan_out(app, client, fake_twilio):
    clock.freeze(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    send_sms(client, "+48512345678", "Winda w naszym bloku jest zepsuta od tygodni.")
    drain(app)
    with app.app_context():
        decision = Decision(title="Lift", summary="We will repair the lift by 1 March.")
        db.session.add(decision)
        db.session.commit()
        loop.link(decision, list(db.session.scalars(select(FeedbackItem))))
        save_decision_summary(None, decision, "pl", "Naprawimy windę (szkic).", ReviewState.DRAFT)
        loop.publish(decision)  # publishing runs the fan-out
    drain(app)
    assert len(fake_twilio.messages) == 1  # the acknowledgement only
