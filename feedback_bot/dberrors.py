"""Which database errors mean "the database cannot take this now", and which mean "this
data is wrong".

The webhook must never lose a message Twilio has handed us (Twilio does not deliver it
again after a 500), and the spool's drain must not set a message aside as a dead letter
for a fault that is not the message's. Both ask the same question of an exception, here.

A database that is down or unreachable (OperationalError, InterfaceError), a pool with
every connection busy, are plainly not the message's fault. Nor is a database that is up
but not ready for us: a web process started before ``flask db upgrade`` meets a missing
table, a role without its grants meets a missing permission, a replica after a failover
refuses writes. PostgreSQL reports those as ProgrammingError or InternalError (SQLite as
OperationalError): the same message is stored once the operator has fixed the database.
So is a syntax error in our own SQL, which only a deploy mends: it fails every message
alike, and every message waits for the fix rather than being refused.

Only an error about the values themselves proves that the message is what is wrong: a
DataError (a value the column cannot hold) or an IntegrityError (a constraint the row
breaks; the one the webhook expects, a MessageSid stored before, is absorbed by its ON
CONFLICT DO NOTHING and never raised). The same values fail the same way on every try.
"""

from __future__ import annotations

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

# What the data itself is refused for: the message's fault, not the database's.
DATA_REFUSED = (DataError, IntegrityError)


def database_unusable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot store anything now (down, unreachable,
    busy, not migrated, not permitted), as opposed to refusing this data or a bug in
    Python code. The webhook spools on it, the drain waits on it."""
    if isinstance(exc, PoolTimeoutError):
        return True
    return isinstance(exc, DBAPIError) and not isinstance(exc, DATA_REFUSED)
