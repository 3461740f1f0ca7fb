"""Migration 0016 keeps interpreters' versions of the reply to a "3" when its wording
changes: members of their language go on getting it until it is redone."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from feedback_bot.extensions import db
from feedback_bot.messaging.overrides import bump_version
from feedback_bot.messaging.templates import TEMPLATES, render

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
OLD = (
    "Thank you for telling us. A person will look at your feedback %(ref)s again. "
    "Reply STOP to stop."
)
WELSH = "Diolch yn fawr. Bydd rhywun yn darllen eich adborth %(ref)s eto. Atebwch STOP i stopio."
ARABIC_DRAFT = "شكرًا لكم. %(ref)s"


def overrides_before_0016(*rows: tuple[str, str, str]) -> None:
    """The schema as it was before 0016, holding overrides (locale, text, state) of the
    old wording."""
    downgrade(revision="0015")
    try:
        for locale, words, state in rows:
            db.session.execute(
                text(
                    "INSERT INTO message_override (locale, context, msgid, text, state,"
                    " updated_at) VALUES (:locale, '', :msgid, :text, :state, :now)"
                ),
                {"locale": locale, "msgid": OLD, "text": words, "state": state, "now": NOW},
            )
        db.session.commit()
    finally:
        db.session.remove()


def saved() -> list[tuple[str, str, str]]:
    return [
        tuple(row)
        for row in db.session.execute(
            text("SELECT locale, msgid, state FROM message_override ORDER BY locale")
        )
    ]


def test_an_interpreters_version_of_the_old_wording_is_kept_for_review(app: Flask) -> None:
    new = TEMPLATES["rating_reopened"].msgid
    with app.app_context():
        overrides_before_0016(("cy", WELSH, "reviewed"), ("ar", ARABIC_DRAFT, "draft"))
        upgrade()
        # Members got the Welsh version: it stays theirs, flagged as it does not say when
        # yet. A draft stays a draft.
        assert saved() == [("ar", new, "draft"), ("cy", new, "needs_review")]
        bump_version()
        for days in (2, 21):
            assert render("rating_reopened", "cy", ref="K7Q2", days=days) == WELSH % {"ref": "K7Q2"}
        # Nobody gets a draft: Arabic members get the shipped text, which says when.
        assert "ويراسلكم خلال 21 يومًا." in render("rating_reopened", "ar", ref="K7Q2", days=21)

        downgrade(revision="0015")
        assert [msgid for _, msgid, _ in saved()] == [OLD, OLD]
        db.session.remove()
        upgrade()
