"""Migration 0010 brings rows written before it in line with what the code now expects."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from feedback_bot.extensions import db

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _insert_row(row_id: int, key: str, kind: str, status: str, **extra: object) -> None:
    values = {
        "id": row_id,
        "key": key,
        "kind": kind,
        "status": status,
        "fallback": extra.get("fallback_of_id"),
        "to": extra.get("to_ciphertext"),
        "error": extra.get("error_message"),
        "now": NOW,
    }
    db.session.execute(
        text(
            "INSERT INTO outbound_message (id, idempotency_key, kind, channel, locale, status,"
            " attempts, variables, fallback_of_id, to_ciphertext, error_message, created_at,"
            " updated_at) VALUES (:id, :key, :kind, 'sms', 'en', :status, 0, '{}', :fallback,"
            " :to, :error, :now, :now)"
        ),
        values,
    )


def test_upgrade_brings_earlier_rows_in_line(app: Flask) -> None:
    with app.app_context():
        downgrade(revision="0009")
        try:
            _insert_row(1, "what_next:decision:3:r2:item:9", "what_next", "queued")
            _insert_row(
                2,
                "sms_fallback:1",
                "what_next",
                "pending",
                fallback_of_id=1,
                to_ciphertext="secret",
            )
            _insert_row(
                3,
                "outside_window:2",
                "what_next",
                "failed",
                fallback_of_id=2,
                to_ciphertext="secret",
                error_message="The 'To' phone number: +447911123456, is not valid.",
            )
            _insert_row(4, "ack:item:9", "ack", "delivered", to_ciphertext="secret")
            db.session.execute(
                text(
                    "INSERT INTO contact (id, locale, locale_source, uses_sms, uses_whatsapp,"
                    " created_at, opted_out_at) VALUES (1, 'en', 'detected', true, false,"
                    " :now, :now)"
                ),
                {"now": NOW},
            )
            db.session.execute(
                text(
                    "INSERT INTO decision (id, title, description, outcome, reason, responsible,"
                    " summary, revision, fan_out_requests, fan_out_done, created_at, updated_at)"
                    " VALUES (1, 'Lifts', '', 'adopted', '', '', 'We will fix it.', 0, 0, 0,"
                    " :now, :now)"
                ),
                {"now": NOW},
            )
            for item_id, status in ((1, "closed"), (2, "linked")):
                db.session.execute(
                    text(
                        "INSERT INTO feedback_item (id, contact_id, channel, locale, status,"
                        " decision_id, created_at, last_message_at) VALUES (:id, 1, 'sms',"
                        " 'en', :status, 1, :now, :now)"
                    ),
                    {"id": item_id, "status": status, "now": NOW},
                )
            db.session.commit()
        finally:
            db.session.remove()
            upgrade()

        rows = db.session.execute(
            text(
                "SELECT id, decision_revision, to_ciphertext, error_message"
                " FROM outbound_message ORDER BY id"
            )
        ).all()
        assert [(r.id, r.decision_revision) for r in rows] == [(1, 2), (2, 2), (3, 2), (4, None)]
        # Only the row still owed keeps where it goes.
        assert [r.to_ciphertext for r in rows] == [None, "secret", None, None]
        assert "447911123456" not in rows[2].error_message
        assert "not valid" in rows[2].error_message
        opt_changed = db.session.execute(text("SELECT opt_changed_at FROM contact")).scalar_one()
        assert opt_changed is not None
        # A closed item is no longer linked: it would be told its old decision.
        linked = db.session.execute(
            text("SELECT id, decision_id FROM feedback_item ORDER BY id")
        ).all()
        assert [tuple(row) for row in linked] == [(1, None), (2, 1)]
