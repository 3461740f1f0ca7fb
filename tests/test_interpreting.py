"""Interpreters' work reaches members: template edits, summaries, and the .po exchange."""

from __future__ import annotations

import io
import signal
from datetime import UTC, datetime

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po
from sqlalchemy import select

from feedback_bot import clock, loop
from feedback_bot.extensions import db
from feedback_bot.interpreting.catalogue_io import export_po, read_import
from feedback_bot.interpreting.placeholders import placeholder_problems
from feedback_bot.interpreting.saving import (
    TranslationRefused,
    save_decision_summary,
    save_override,
)
from feedback_bot.languages import enabled_locales
from feedback_bot.messaging import keywords
from feedback_bot.messaging.keywords import keyword_list_problems
from feedback_bot.messaging.templates import (
    KEYWORD_CONTEXT,
    KEYWORD_MSGIDS,
    TEMPLATES,
    keywords_for,
    render,
)
from feedback_bot.models import Decision, FeedbackItem, ReviewState

from .conftest import drain, open_rows, send_sms
from .test_guarantee import start_worker, wait_for, worker_environment

ACK = TEMPLATES["ack"].msgid
WELSH = "Mae'r lifft yn ein bloc wedi torri ers wythnosau ac does neb wedi dod i'w drwsio."
NEW_WELSH_ACK = (
    "Diolch, mae eich neges gyda ni. Bydd rhywun yn ei darllen ac yn ateb o fewn %(days)s "
    "diwrnod. Cyf %(ref)s. Atebwch STOP i stopio."
)


def test_placeholder_problems_name_the_placeholder():
    assert placeholder_problems("Ref %(ref)s in %(days)s days", "Cyf %(ref)s, %(days)s") == []
    assert placeholder_problems("Ref %(ref)s", "Cyf") == ["The translation must keep %(ref)s."]
    assert placeholder_problems("Ref %(ref)s", "Cyf %(ref)s %(org)s") == [
        "%(org)s is not in the original; remove it."
    ]
    assert placeholder_problems("{ref} here", "{ref} yma {ref}") == [
        "{ref} is not in the original; remove it."
    ]
    assert placeholder_problems("%(ref)s", "%(ref)s 100%") == [
        "A lone % sign breaks the message; write %% for a percent sign."
    ]


def test_a_missing_placeholder_is_refused(app):
    with app.app_context(), pytest.raises(TranslationRefused, match=r"must keep %\(ref\)s"):
        save_override(None, "cy", ACK, "Diolch o fewn %(days)s diwrnod.", ReviewState.DRAFT)


@pytest.mark.slow
def test_editing_the_welsh_acknowledgement_reaches_a_running_worker(
    app, client, fake_twilio, database_url, redis_url, tmp_path
):
    env = worker_environment(database_url, redis_url, fake_twilio)
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        send_sms(client, "+447911123456", WELSH)
        wait_for(lambda: len(fake_twilio.messages) == 1, 30, "the first acknowledgement")
        with app.app_context():
            first_ref = db.session.scalars(select(FeedbackItem)).one().ref
            assert fake_twilio.messages[0]["body"] == render("ack", "cy", ref=first_ref, days=21)
            save_override(None, "cy", ACK, NEW_WELSH_ACK, ReviewState.REVIEWED)

        send_sms(client, "+447911123457", WELSH)
        wait_for(lambda: len(fake_twilio.messages) == 2, 30, "the second acknowledgement")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=15)
    with app.app_context():
        refs = [item.ref for item in db.session.scalars(select(FeedbackItem).order_by("id"))]
    assert fake_twilio.messages[1]["body"] == NEW_WELSH_ACK % {"ref": refs[1], "days": 21}
    assert open_rows(app) == 0


def test_po_export_import_round_trips_exactly(app):
    with app.app_context():
        save_override(None, "cy", ACK, NEW_WELSH_ACK, ReviewState.REVIEWED)
        exported = export_po("cy")
        assert NEW_WELSH_ACK.encode() in exported

        report = read_import("cy", exported)
        assert report.errors == [] and report.changes == []
        assert report.unchanged > 10
        assert export_po("cy") == exported

        edited = exported.replace(b"yn ei darllen ac", b"yn ei darllen yn fuan ac")
        report = read_import("cy", edited)
        assert [(c.msgid, "yn fuan" in c.text) for c in report.changes] == [(ACK, True)]
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
        save_override(None, "cy", STOP_WORDS, "STOPIO, DIM MWY", ReviewState.DRAFT, KEYWORD_CONTEXT)
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
