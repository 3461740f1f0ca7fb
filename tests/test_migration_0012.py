"""Migration 0012 lower-cases stored emails, so accounts with any letters can sign in."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from feedback_bot.extensions import db

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _insert_account(account_id: int, email: str) -> None:
    db.session.execute(
        text(
            "INSERT INTO user_account (id, email, password_hash, role, languages, active,"
            " created_at) VALUES (:id, :email, 'x', 'staff', '', true, :now)"
        ),
        {"id": account_id, "email": email, "now": NOW},
    )


def accounts_before_0012(*emails: str) -> None:
    """The schema as it was before 0012, holding accounts with ``emails``."""
    downgrade(revision="0011")
    try:
        for account_id, email in enumerate(emails, start=1):
            _insert_account(account_id, email)
        db.session.commit()
    finally:
        db.session.remove()


def test_upgrade_lower_cases_every_address(app: Flask) -> None:
    with app.app_context():
        accounts_before_0012("Émile@Example.org", "staff@example.org")
        upgrade()
        emails = db.session.execute(text("SELECT email FROM user_account ORDER BY id")).scalars()
        assert list(emails) == ["émile@example.org", "staff@example.org"]


def test_upgrade_refuses_to_merge_two_accounts(app: Flask) -> None:
    with app.app_context():
        accounts_before_0012("Émile@example.org", "émile@example.org")
        # Flask-Migrate logs the error and exits, as ``flask db upgrade`` would; nothing
        # has changed.
        with pytest.raises(SystemExit):
            upgrade()
        db.session.remove()
        emails = db.session.execute(text("SELECT email FROM user_account ORDER BY id")).scalars()
        assert list(emails) == ["Émile@example.org", "émile@example.org"]
        version = db.session.execute(text("SELECT version_num FROM alembic_version")).scalar()
        assert version == "0011"
        db.session.execute(text("DELETE FROM user_account WHERE id = 2"))
        db.session.commit()
        db.session.remove()
        upgrade()
