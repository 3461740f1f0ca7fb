"""How well the loop closes: the numbers behind the staff dashboard.

Plain SQLAlchemy reads, no request or template in sight, so the numbers can be tested
apart from the views. One query fetches a row of facts per feedback item (portable across
SQLite and PostgreSQL: only MIN, COALESCE, CASE and outer joins); medians and percentiles
are then computed in Python over those facts, which is fine at the scale of one
community's feedback and keeps both databases giving the same answer.

Every figure is broken down by the item's language and by channel, so that staff can see
who is heard less.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, case, func, select

from .extensions import db
from .models import Disposition, FeedbackItem, InboundMessage, MessageKind, OutboundMessage

# Every kind of acknowledgement intake can owe an item (text, voice note, photo, and the
# one answered inline by the webhook while the database was down).
ACK_KINDS = MessageKind.ACKNOWLEDGEMENTS
# The answers to "Did we listen?", as ``loop.record_rating`` stores them.
RATING_VALUES = ("yes", "partly", "no")
SECONDS_PER_DAY = 86_400.0


# --------------------------------------------------------------------------- filters


@dataclass(frozen=True)
class DateRange:
    """Items created from ``start`` to ``end``, both days included, in UTC. Open if None."""

    start: date | None = None
    end: date | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> DateRange:
        """Read ``from`` and ``to`` (YYYY-MM-DD); anything malformed is ignored."""
        start, end = _parse_day(args.get("from")), _parse_day(args.get("to"))
        if start and end and start > end:
            start, end = end, start
        return cls(start, end)

    @property
    def is_open(self) -> bool:
        return self.start is None and self.end is None

    def to_args(self) -> dict[str, str]:
        args = {}
        if self.start:
            args["from"] = self.start.isoformat()
        if self.end:
            args["to"] = self.end.isoformat()
        return args

    def apply(self, query: Select[Any]) -> Select[Any]:
        """Limit ``query`` (which selects from feedback_item) to items in the range."""
        if self.start is not None:
            query = query.where(
                FeedbackItem.created_at >= datetime.combine(self.start, time.min, tzinfo=UTC)
            )
        if self.end is not None and self.end < date.max:
            next_day = datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=UTC)
            query = query.where(FeedbackItem.created_at < next_day)
        return query


def _parse_day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None


# --------------------------------------------------------------------------- statistics


def median(values: Sequence[float]) -> float | None:
    """The middle value (the mean of the two middle ones for an even count); None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return (ordered[middle - 1] + ordered[middle]) / 2


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile: the smallest value at least ``pct``% of values do not exceed.

    Always a value that was actually observed: "95% of items were acknowledged within
    this time" is then literally true. None if there are no values.
    """
    if not values:
        return None
    if not 0 < pct <= 100:
        raise ValueError("pct must be in (0, 100]")
    ordered = sorted(values)
    rank = math.ceil(pct / 100 * len(ordered))
    return float(ordered[rank - 1])


def share(part: int, whole: int) -> float | None:
    """``part / whole`` as a fraction from 0 to 1; None when there is nothing to divide."""
    return part / whole if whole else None


# --------------------------------------------------------------------------- facts


@dataclass(frozen=True)
class ItemFacts:
    """What the dashboard needs to know about one feedback item. Nothing about the member."""

    item_id: int
    locale: str
    channel: str
    created_at: datetime
    first_inbound_at: datetime | None
    acknowledged_at: datetime | None
    decision_id: int | None
    told_at: datetime | None
    rating: str | None

    @property
    def ack_seconds(self) -> float | None:
        """From the item's first message to its acknowledgement being accepted by Twilio."""
        if self.acknowledged_at is None:
            return None
        start = self.first_inbound_at or self.created_at
        return max(0.0, (self.acknowledged_at - start).total_seconds())

    @property
    def days_to_told(self) -> float | None:
        """From the feedback to the member being told what happened next."""
        if self.told_at is None:
            return None
        return max(0.0, (self.told_at - self.created_at).total_seconds() / SECONDS_PER_DAY)


def first_inbound_subquery() -> Any:
    """When each item's first piece of feedback arrived."""
    return (
        select(
            InboundMessage.item_id.label("item_id"),
            func.min(InboundMessage.received_at).label("first_at"),
        )
        .where(
            InboundMessage.item_id.is_not(None),
            InboundMessage.disposition == Disposition.FEEDBACK,
        )
        .group_by(InboundMessage.item_id)
        .subquery("first_inbound")
    )


def acknowledged_subquery() -> Any:
    """When each item's acknowledgement was accepted by Twilio.

    An inline acknowledgement went out in the webhook's own reply and is never accepted
    through the API; it counts from when its row was written, with the message itself.
    """
    when = case(
        (
            OutboundMessage.kind == MessageKind.ACK_INLINE,
            func.coalesce(OutboundMessage.accepted_at, OutboundMessage.created_at),
        ),
        else_=OutboundMessage.accepted_at,
    )
    return (
        select(
            OutboundMessage.item_id.label("item_id"),
            func.min(when).label("acknowledged_at"),
        )
        .where(OutboundMessage.item_id.is_not(None), OutboundMessage.kind.in_(ACK_KINDS))
        .group_by(OutboundMessage.item_id)
        .subquery("acknowledged")
    )


def item_facts(date_range: DateRange | None = None) -> list[ItemFacts]:
    """One row of facts per feedback item created in ``date_range``, oldest first."""
    first = first_inbound_subquery()
    acked = acknowledged_subquery()
    query = (
        select(
            FeedbackItem.id,
            FeedbackItem.locale,
            FeedbackItem.channel,
            FeedbackItem.created_at,
            first.c.first_at,
            acked.c.acknowledged_at,
            FeedbackItem.decision_id,
            FeedbackItem.told_at,
            FeedbackItem.rating,
        )
        .outerjoin(first, first.c.item_id == FeedbackItem.id)
        .outerjoin(acked, acked.c.item_id == FeedbackItem.id)
        .order_by(FeedbackItem.created_at, FeedbackItem.id)
    )
    query = (date_range or DateRange()).apply(query)
    return [
        ItemFacts(
            item_id=row[0],
            locale=row[1],
            channel=row[2],
            created_at=row[3],
            first_inbound_at=as_utc(row[4]),
            acknowledged_at=as_utc(row[5]),
            decision_id=row[6],
            told_at=row[7],
            rating=row[8],
        )
        for row in db.session.execute(query)
    ]


def as_utc(value: Any) -> datetime | None:
    """Aggregates over UTCDateTime columns come back typed, but be sure: aware UTC."""
    if value is None:
        return None
    if isinstance(value, str):  # SQLite, should an aggregate ever lose its type
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --------------------------------------------------------------------------- summaries


@dataclass(frozen=True)
class GroupHealth:
    """Loop health of one group of items: all of them, one language, or one channel."""

    key: str
    items: int
    acknowledged: int
    with_decision: int
    told: int
    ack_seconds: tuple[float, ...] = ()
    days_to_told: tuple[float, ...] = ()
    ratings: dict[str, int] = field(default_factory=dict)

    @property
    def ack_share(self) -> float | None:
        return share(self.acknowledged, self.items)

    @property
    def decision_share(self) -> float | None:
        return share(self.with_decision, self.items)

    @property
    def told_share(self) -> float | None:
        return share(self.told, self.items)

    @property
    def ack_median_seconds(self) -> float | None:
        return median(self.ack_seconds)

    @property
    def ack_p95_seconds(self) -> float | None:
        return percentile(self.ack_seconds, 95)

    @property
    def told_median_days(self) -> float | None:
        return median(self.days_to_told)

    @property
    def rated(self) -> int:
        return sum(self.ratings.values())


def summarise(key: str, facts: Iterable[ItemFacts]) -> GroupHealth:
    rows = list(facts)
    ack = sorted(s for s in (f.ack_seconds for f in rows) if s is not None)
    told = sorted(d for d in (f.days_to_told for f in rows) if d is not None)
    ratings = dict.fromkeys(RATING_VALUES, 0)
    for fact in rows:
        if fact.rating in ratings:
            ratings[fact.rating] += 1
    return GroupHealth(
        key=key,
        items=len(rows),
        acknowledged=len(ack),
        with_decision=sum(1 for f in rows if f.decision_id is not None),
        told=len(told),
        ack_seconds=tuple(ack),
        days_to_told=tuple(told),
        ratings=ratings,
    )


def breakdown(facts: Sequence[ItemFacts], by: Callable[[ItemFacts], str]) -> list[GroupHealth]:
    """One ``GroupHealth`` per value of ``by``, largest group first (then by key)."""
    groups: dict[str, list[ItemFacts]] = {}
    for fact in facts:
        groups.setdefault(by(fact), []).append(fact)
    summaries = [summarise(key, rows) for key, rows in groups.items()]
    return sorted(summaries, key=lambda g: (-g.items, g.key))


@dataclass(frozen=True)
class LoopHealth:
    overall: GroupHealth
    by_locale: list[GroupHealth]
    by_channel: list[GroupHealth]
    date_range: DateRange

    def locale(self, key: str) -> GroupHealth | None:
        return next((g for g in self.by_locale if g.key == key), None)

    def channel(self, key: str) -> GroupHealth | None:
        return next((g for g in self.by_channel if g.key == key), None)


def loop_health(date_range: DateRange | None = None) -> LoopHealth:
    """Everything the dashboard shows, for items created in ``date_range``."""
    date_range = date_range or DateRange()
    facts = item_facts(date_range)
    return LoopHealth(
        overall=summarise("all", facts),
        by_locale=breakdown(facts, lambda f: f.locale),
        by_channel=breakdown(facts, lambda f: f.channel),
        date_range=date_range,
    )
