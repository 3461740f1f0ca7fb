"""Small database helpers that need to know the dialect."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Insert
from sqlalchemy.dialects import postgresql, sqlite

from .extensions import db


def insert_ignoring_conflict(model: Any, values: dict[str, Any], key: str) -> int | None:
    """INSERT ... ON CONFLICT (key) DO NOTHING RETURNING id, in one atomic statement.

    Returns the new row's id, or None when a row with that key already exists. Unlike
    check-then-insert, two concurrent requests cannot both insert.
    """
    dialect = db.session.get_bind().dialect.name
    statement: Insert
    if dialect == "postgresql":
        statement = (
            postgresql.insert(model).values(**values).on_conflict_do_nothing(index_elements=[key])
        )
    elif dialect == "sqlite":
        statement = (
            sqlite.insert(model).values(**values).on_conflict_do_nothing(index_elements=[key])
        )
    else:  # pragma: no cover - PostgreSQL and SQLite are the supported databases
        raise RuntimeError(f"unsupported database dialect {dialect}")
    result = db.session.execute(statement.returning(model.id))
    return result.scalar_one_or_none()
