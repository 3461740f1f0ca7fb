"""Column types shared by the models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect
from sqlalchemy.types import TypeDecorator

# In a column's ``info``: it holds a member's own words, or a translation or transcript of
# them, in which they may have typed their phone number. The panel reads such a column
# only through ``admin.reading``, which decides what of it the signed-in user may see.
MEMBER_WORDS = "member_words"


class UTCDateTime(TypeDecorator[datetime]):
    """Always aware UTC in Python, whatever the database keeps.

    SQLite has no time zones and hands back naive datetimes; comparing those with the aware
    ones the app makes would raise, or worse, silently compare wrong.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
