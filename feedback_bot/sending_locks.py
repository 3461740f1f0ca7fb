"""Which outbox rows a live worker is sending: a PostgreSQL advisory lock per row.

A row left in "sending" belongs either to a worker that died, whose attempt must be taken
up again, or to one that is only slow: starved of CPU, paused, waiting on Twilio. Age
alone cannot tell the two apart, and handing a slow worker's row to another worker sends
the message twice, as the fence (``outbox._fenced_update``) only keeps the slow one from
recording its result, not from sending.

So the sending worker holds a session-level advisory lock on the row, on a database
connection of its own, from before its claim until its attempt ends; PostgreSQL drops the
lock the moment that connection ends, whether the worker finished, raised or was killed,
and its TCP keepalives end it within a minute or so of the worker's machine vanishing.
The sweeper releases an old "sending" row only if it can take the row's lock itself.

A database restart ends the lock while the worker lives on, so the worker checks it still
holds the lock just before it calls Twilio. What is left is a worker whose lock is ended
during the call itself and whose row the sweeper then hands on before the call returns:
SENDING_STUCK_SECONDS, well above TWILIO_TIMEOUT_SECONDS, keeps that out.

SQLite (the embedded stack) has no such locks, and age alone decides there: safe with
its one worker process, whose sweeper runs between its jobs, never during one.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from sqlalchemy import Connection, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db

log = logging.getLogger(__name__)

# The first key of the advisory locks on outbox rows: a namespace of their own.
SENDING_LOCKS = 0x5E4D

# Taking the lock, in one round trip with the keepalives asked for on its connection: the
# server notices a client host that vanished (power lost, network cut) after about a
# minute, not after the kernel's two hours, and drops the lock.
TRY_LOCK = text(
    "SELECT pg_try_advisory_lock(:space, :row) FROM (SELECT"
    " set_config('tcp_keepalives_idle', '30', false),"
    " set_config('tcp_keepalives_interval', '10', false),"
    " set_config('tcp_keepalives_count', '3', false)) AS keepalives"
)


class LockLost(Exception):
    """The database ended the session that held a row's lock (a restart, an operator's
    pg_terminate_backend): another worker may be given the row, so do not send it."""


class SendingLock:
    """A held lock on one row; ``confirm`` before each call that would send."""

    def __init__(self, connection: Connection | None, row_id: int) -> None:
        self._connection = connection
        self.row_id = row_id

    def confirm(self) -> None:
        """Raise ``LockLost`` unless this process still holds the row's lock."""
        if self._connection is None:
            return
        try:
            held = self._connection.scalar(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND classid = :space AND objid = :row AND objsubid = 2"
                    " AND pid = pg_backend_pid() AND granted"
                ),
                {"space": SENDING_LOCKS, "row": self.row_id},
            )
        except SQLAlchemyError as exc:
            raise LockLost(f"the lock on outbound {self.row_id}: {type(exc).__name__}") from exc
        if not held:
            raise LockLost(f"the lock on outbound {self.row_id} is no longer held")


@contextlib.contextmanager
def sending(row_id: int) -> Iterator[SendingLock | None]:
    """Hold row ``row_id``'s lock for the block; yields None if another process holds it
    (another worker sending the row, or the sweeper looking at it)."""
    with _locked(row_id) as (taken, connection):
        yield SendingLock(connection, row_id) if taken else None


@contextlib.contextmanager
def unattended(row_id: int) -> Iterator[bool]:
    """True, with the row's lock held for the block, if no live worker is sending row
    ``row_id``; False if one is."""
    with _locked(row_id) as (taken, _):
        yield taken


@contextlib.contextmanager
def _locked(row_id: int) -> Iterator[tuple[bool, Connection | None]]:
    """Whether the lock was taken, and the connection holding it (None on SQLite, which
    has no locks: there the lock is always "taken")."""
    if db.engine.dialect.name != "postgresql":
        yield True, None
        return
    # Autocommit: the lock belongs to the session, and an open transaction held through a
    # call to Twilio would only keep the server from vacuuming.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if not connection.scalar(TRY_LOCK, {"space": SENDING_LOCKS, "row": row_id}):
            yield False, None
            return
        try:
            yield True, connection
        finally:
            _unlock(connection, row_id)


def _unlock(connection: Connection, row_id: int) -> None:
    """Let go of the lock; if that fails, close the connection, which lets go of it too:
    back in the pool still holding it, it would keep the row "sending" for good."""
    try:
        connection.execute(select(func.pg_advisory_unlock(SENDING_LOCKS, row_id)))
    except SQLAlchemyError as exc:
        log.warning("outbound %s: unlock failed (%s); closing its connection", row_id, exc)
        connection.invalidate()
