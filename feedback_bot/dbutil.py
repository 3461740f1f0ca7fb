"""Small database helpers that need to know the dialect."""

from __future__ import annotations

import functools
import sqlite3
from datetime import datetime, timedelta
from typing import Any

from flask import g
from sqlalchemy import event, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.dml import ReturningInsert

from .extensions import db


def lower_every_letter_in_sqlite() -> None:
    """Make SQLite's lower(), and so ILIKE (which SQLAlchemy writes as lower() LIKE lower()
    there), lower every letter, as PostgreSQL's does in a UTF-8 locale: SQLite's own lowers
    A to Z alone, so a search for "нічний" did not find "Нічний", nor "PRZYJEŻDŻA"
    "przyjeżdża". SQLite lets an application's function replace a built-in one."""
    if not event.contains(Engine, "connect", _python_lower):
        event.listen(Engine, "connect", _python_lower)


def _python_lower(dbapi_connection: Any, _record: Any) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.create_function("lower", 1, _lower, deterministic=True)


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def note_database_unavailable() -> None:
    """Say, for the rest of this request, that the database could not be reached."""
    g.database_unavailable = True


def database_known_unavailable() -> bool:
    """This request already found the database down: reading settings from it again would
    only wait for another connect timeout, so use what is cached or shipped instead."""
    return bool(g) and bool(g.get("database_unavailable"))


def lock_until_commit(space: int, key: str) -> None:
    """Hold a lock on ``key`` in ``space`` until the transaction ends (PostgreSQL only).

    For a check-then-write that two workers may run at once on rows that do not exist
    yet, where no row lock can serialise them. SQLite needs none: a transaction there
    holds the database's write lock from its first write, and these run after one.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(select(func.pg_advisory_xact_lock(space, func.hashtext(key))))


def _insert(model: Any, dialect: str | None = None) -> postgresql.Insert | sqlite.Insert:
    dialect = dialect or db.session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model)
    if dialect == "sqlite":
        return sqlite.insert(model)
    raise RuntimeError(f"unsupported database dialect {dialect}")  # pragma: no cover


def insert_ignoring_conflict(model: Any, values: dict[str, Any], key: str) -> int | None:
    """INSERT ... ON CONFLICT (key) DO NOTHING RETURNING id, in one atomic statement.

    Returns the new row's id, or None when a row with that key already exists. Unlike
    check-then-insert, two concurrent requests cannot both insert.
    """
    statement = (
        _insert(model).values(**values).on_conflict_do_nothing(index_elements=[key])
    ).returning(model.id)
    return db.session.execute(statement).scalar_one_or_none()


def insert_entity_ignoring_conflict(model: Any, values: dict[str, Any], key: str) -> Any | None:
    """The same, returning the new row as an ORM object (one statement, no SELECT after);
    None when a row with that key already exists. The new row stays locked by this
    transaction until it commits."""
    statement = (
        _insert(model).values(**values).on_conflict_do_nothing(index_elements=[key])
    ).returning(model)
    return db.session.scalars(statement).one_or_none()


def insert_many_ignoring_conflict(model: Any, rows: list[dict[str, Any]], key: str) -> list[int]:
    """The same for many rows in one statement; the ids of the rows that were new."""
    if not rows:
        return []
    statement = (
        _insert(model).values(rows).on_conflict_do_nothing(index_elements=[key]).returning(model.id)
    )
    return list(db.session.execute(statement).scalars())


@functools.cache
def _insert_returning_id(model: Any, key: str, dialect: str) -> ReturningInsert[Any]:
    # Built once: the webhook runs this for every message, and building the statement
    # costs more than sending it.
    statement = _insert(model, dialect).on_conflict_do_nothing(index_elements=[key])
    return statement.returning(model.id)


def insert_committed_ignoring_conflict(model: Any, values: dict[str, Any], key: str) -> int | None:
    """``insert_ignoring_conflict``, committed by itself, outside the session.

    One autocommitted statement is one round trip to the database; the session's
    transaction would add a BEGIN and a COMMIT. For the one write that the webhook makes.
    """
    engine = db.engine
    statement = _insert_returning_id(model, key, engine.dialect.name)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        return connection.execute(statement, values).scalar_one_or_none()


def hand_out_due(
    due_at: InstrumentedAttribute[datetime | None], now: datetime, limit: int, defer: timedelta
) -> list[int]:
    """The ids of rows whose ``due_at`` has come, oldest first, each pushed ``defer`` on and
    committed: a sweep hands a row to a job once, and the next sweeps leave it alone until
    the job has had its time (then, if the job was lost, it is due again).

    The push is a compare-and-set: a job that finished the row between the read and the
    write (``due_at`` cleared) keeps it finished, instead of having it handed out again
    every ``defer`` for ever."""
    model = due_at.class_
    ids = db.session.scalars(
        select(model.id).where(due_at.is_not(None), due_at <= now).order_by(due_at).limit(limit)
    ).all()
    if not ids:
        return []
    taken = db.session.scalars(
        update(model)
        .where(model.id.in_(ids), due_at.is_not(None), due_at <= now)
        .values({due_at.key: now + defer})
        .returning(model.id)
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    kept = set(taken)
    return [row_id for row_id in ids if row_id in kept]
