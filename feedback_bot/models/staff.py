"""People who run the service: accounts with roles, and the audit log of what they did."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_login import UserMixin
from itsdangerous import Signer
from sqlalchemy import JSON, Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates
from werkzeug.security import check_password_hash, generate_password_hash

from .. import clock
from ..extensions import db
from .types import UTCDateTime


class Role:
    ADMIN = "admin"  # users, settings, everything
    STAFF = "staff"  # triage, decisions, publishing
    INTERPRETER = "interpreter"  # translation work; never contact details
    ALL = (ADMIN, STAFF, INTERPRETER)


def normalise_email(email: str) -> str:
    """An address as accounts store it and sign-in looks it up: trimmed, lower case.

    In Python, not SQL: SQLite's lower() (and PostgreSQL's, under a C locale) leaves
    non-ASCII letters alone, so "Émile@" would never find "émile@", nor itself."""
    return email.strip().lower()


def email_problem(text: str) -> str | None:
    """What is wrong with ``text`` (trimmed) as an email address, in words a person can act
    on, or None; one rule for the users page and ``flask users create``.

    The address's syntax only: whether mail reaches it is for the person who owns it to
    find out, and the panel may run where DNS is not reachable."""
    try:
        validate_email(text.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        return str(exc)
    return None


class User(UserMixin, db.Model):  # type: ignore[name-defined]
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    # Interpreters: the locales they work in, comma-separated ("ar,ur").
    languages: Mapped[str] = mapped_column(String(255), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @validates("email")
    def _normalise_email(self, key: str, email: str) -> str:
        return normalise_email(email)

    def set_password(self, password: str) -> None:
        # scrypt: memory-hard, Werkzeug's default and strongest built-in scheme.
        self.password_hash = generate_password_hash(password, method="scrypt")

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def get_id(self) -> str:
        """What Flask-Login keeps in the session and the remember-me cookie: the row id and
        a keyed digest of the password hash, so a new password signs out every session and
        cookie from before it (``auth.load_user`` compares the whole value)."""
        signer = Signer(current_app.config["SECRET_KEY"], salt="user-session-id")
        return f"{self.id}:{signer.get_signature(self.password_hash).decode()}"

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive accounts
        return self.active

    @property
    def language_list(self) -> list[str]:
        return [code for code in self.languages.split(",") if code]

    def has_role(self, *roles: str) -> bool:
        return self.role in roles


class AuditEntry(db.Model):  # type: ignore[name-defined]
    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[int | None]
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)

    user: Mapped[User | None] = relationship()
