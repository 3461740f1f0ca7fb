"""What the panel reads: the inbox and its filters, an item's timeline, decisions, audit.

The message search is its own function (``matching_item_ids``): it searches members'
words, and their translations, as the signed-in user may read them (``reading``).
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, func, select, union
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..forms import as_name, without_controls
from ..interpreting.written_in import untranslated_feedback
from ..models import (
    AuditEntry,
    Channel,
    Contact,
    Decision,
    FeedbackItem,
    InboundMessage,
    ItemStatus,
    MessageTranslation,
    OutboundMessage,
    Topic,
)
from ..refs import ALPHABET, MAX_ID, decode_ref
from .reading import may_read_numbers, readable

STATUSES = (
    ItemStatus.NEW,
    ItemStatus.TRIAGED,
    ItemStatus.LINKED,
    ItemStatus.TOLD,
    ItemStatus.REOPENED,
    ItemStatus.CLOSED,
)
# Statuses "mark triaged" moves on from: fresh feedback, and feedback a member reopened.
UNTRIAGED = (ItemStatus.NEW, ItemStatus.REOPENED)
MAX_SEARCH_TERMS = 8
# A reference as members and staff are shown one ("Ref K7Q2"): 4 to 7 characters of its
# alphabet, in any case. Never I, L, O or U, which the alphabet leaves out. ASCII only:
# otherwise the Kelvin sign would match K, and the long s S.
REF_SHAPE = re.compile(f"[{ALPHABET}]{{4,7}}", re.IGNORECASE | re.ASCII)
# A reference as read aloud and typed back: O for 0, I or L for 1. Only with a digit in it,
# which no word has: "7O2K" is 702K, and "lift" stays a word (see ``_ref_id``).
MISREAD_REF_SHAPE = re.compile(f"(?=.*[0-9])[{ALPHABET}OIL]{{4,7}}", re.IGNORECASE | re.ASCII)
# The word a reference follows in our messages ("Ref K7Q2"), in any case.
REF_LABEL = "ref"


@dataclass(frozen=True)
class InboxFilters:
    status: str = ""
    locale: str = ""
    channel: str = ""
    topic_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    q: str = ""
    # Items with a message in another language than the staff's and no translation of it
    # but a draft (``untranslated_item_ids``).
    needs_translation: bool = False

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> InboxFilters:
        """Read filters from a query string; anything malformed is ignored, not an error."""
        status = args.get("status", "")
        channel = args.get("channel", "")
        return cls(
            status=status if status in STATUSES else "",
            locale=_text(args.get("locale", ""), 16),
            channel=channel if channel in Channel.ALL else "",
            topic_id=_parse_id(args.get("topic", "")),
            date_from=_parse_date(args.get("from", "")),
            date_to=_parse_date(args.get("to", "")),
            q=_text(args.get("q", ""), 200),
            needs_translation=args.get("needs_translation") == "1",
        )

    @property
    def dates_reversed(self) -> bool:
        """From is after To: no feedback can match, which the inbox says."""
        return bool(self.date_from and self.date_to and self.date_from > self.date_to)

    def to_args(self) -> dict[str, str]:
        """The query-string form, without empty filters (for links that keep them)."""
        values = {
            "status": self.status,
            "locale": self.locale,
            "channel": self.channel,
            "topic": str(self.topic_id) if self.topic_id else "",
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
            "q": self.q,
            "needs_translation": "1" if self.needs_translation else "",
        }
        return {key: value for key, value in values.items() if value}


def _text(value: str, limit: int) -> str:
    # PostgreSQL refuses a NUL character in a query parameter (a 500); no stored text has one.
    return without_controls(value).strip()[:limit]


def _parse_id(value: str) -> int | None:
    """A row id, or None: ``"²".isdigit()`` is true but ``int("²")`` fails, and ids are
    32-bit in the database, so a larger number fails the query instead of matching nothing.
    """
    # The length check first: int() refuses strings of thousands of digits with ValueError.
    if len(value) > len(str(MAX_ID)) or not (value.isascii() and value.isdigit()):
        return None
    row_id = int(value)
    return row_id if 0 < row_id <= MAX_ID else None


def _parse_date(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def matching_item_ids(q: str) -> list[Any]:
    """One subquery of item ids per search word: items with every word somewhere in them,
    in a member's own words or in an interpreter's translation of them, or as its reference.

    A word is looked for in the text as the searcher reads it (``reading``). Someone who
    may not see contact details reads members' words with typed phone numbers blanked
    out, so for them a word found only inside one is not found: searching "0601", "+44"
    or "ext." lists no item on the strength of a number it would not show, and so cannot
    confirm that a message holds one, or which digits it has. Their search finds no more
    than they could by reading every message themselves (a reference, which is not a
    member's words, is found by anyone). Not "ignore words with digits in them": that
    still finds "+" and "ext.", and loses the bus route, the year and the flat number.
    """
    terms = [term for term in q.split() if term]
    # "Ref K7Q2", pasted or typed from a member's message: the label is no word to find.
    terms = [
        term
        for index, term in enumerate(terms)
        if not (
            term.strip(string.punctuation).casefold() == REF_LABEL
            and index + 1 < len(terms)
            and _ref_id(terms[index + 1]) is not None
        )
    ][:MAX_SEARCH_TERMS]
    return [_items_matching(term) for term in terms]


def _items_matching(term: str) -> Any:
    pattern = _like_pattern(term)
    in_text = select(InboundMessage.item_id).where(
        InboundMessage.item_id.is_not(None),
        InboundMessage.body.ilike(pattern, escape="\\"),
    )
    in_translation = (
        select(InboundMessage.item_id)
        .join(MessageTranslation, MessageTranslation.message_id == InboundMessage.id)
        .where(
            InboundMessage.item_id.is_not(None),
            MessageTranslation.text.ilike(pattern, escape="\\"),
        )
    )
    if not may_read_numbers():
        messages = select(InboundMessage.id, InboundMessage.body)
        in_text = in_text.where(
            InboundMessage.id.not_in(_found_only_in_numbers(messages, term, pattern))
        )
        translations = select(MessageTranslation.id, MessageTranslation.text).join(
            InboundMessage, MessageTranslation.message_id == InboundMessage.id
        )
        in_translation = in_translation.where(
            MessageTranslation.id.not_in(_found_only_in_numbers(translations, term, pattern))
        )
    queries = [in_text, in_translation]
    ref_id = _ref_id(term)
    if ref_id is not None:
        queries.append(select(FeedbackItem.id).where(FeedbackItem.id == ref_id))
    return union(*queries)


def _found_only_in_numbers(rows: Select[Any, Any], term: str, pattern: str) -> list[int]:
    """Of ``rows`` (id and members' words, from a query that reaches ``InboundMessage``),
    the ids of those that have ``term`` only inside a phone number the signed-in user may
    not read (``reading.readable``).

    Worked out in Python, as the numbers are (by phonenumbers, in the member's region),
    over the rows the database finds the term in; only those with a digit cost more than a
    glance (``privacy.redact_phone_numbers``). A row the database matched by its own idea
    of case, in which Python's ``casefold`` does not find the term at all, matched outside
    any number (a number is digits, punctuation and ASCII letters such as "ext."): it stays.
    """
    words = rows.selected_columns[1]
    found = db.session.execute(
        rows.add_columns(Contact.region)
        .join(FeedbackItem, FeedbackItem.id == InboundMessage.item_id)
        .outerjoin(Contact, Contact.id == FeedbackItem.contact_id)
        .where(words.ilike(pattern, escape="\\"))
    )
    wanted = term.casefold()
    return [
        row_id
        for row_id, text, region in found
        if wanted in text.casefold() and wanted not in readable(text, region).casefold()
    ]


def _ref_id(term: str) -> int | None:
    """The item id ``term`` is the reference of, if it is shaped like one (``REF_SHAPE``).

    Not ``decode_ref`` alone: it forgives O, I and L for 0 and 1 and drops anything else,
    which makes most short words a reference ("lift" reads as 11FT) and, once ids are that
    large, puts an unrelated item among the results. So it forgives them only in a term
    with a digit (``MISREAD_REF_SHAPE``). Punctuation around a reference pasted from a
    message ("K7Q2.") is not part of it.
    """
    candidate = term.strip(string.punctuation)
    if REF_SHAPE.fullmatch(candidate) or MISREAD_REF_SHAPE.fullmatch(candidate):
        return decode_ref(candidate)
    return None


def untranslated_item_ids() -> Select[Any]:
    """Items with a message the interpreters' queue lists (in a language not the staff's,
    or in one nobody recognised) and nobody has translated yet."""
    return untranslated_feedback(InboundMessage.item_id)


def inbox_query(filters: InboxFilters) -> Select[tuple[FeedbackItem]]:
    """Feedback items matching ``filters``, newest first."""
    query = select(FeedbackItem)
    if filters.status:
        query = query.where(FeedbackItem.status == filters.status)
    if filters.locale:
        query = query.where(FeedbackItem.locale == filters.locale)
    if filters.channel:
        query = query.where(FeedbackItem.channel == filters.channel)
    if filters.topic_id:
        query = query.where(FeedbackItem.topics.any(Topic.id == filters.topic_id))
    if filters.date_from:
        query = query.where(FeedbackItem.created_at >= _day_start(filters.date_from))
    # Nothing is later than the last day there is, and the day after it would overflow.
    if filters.date_to and filters.date_to < date.max:
        query = query.where(
            FeedbackItem.created_at < _day_start(filters.date_to + timedelta(days=1))
        )
    if filters.needs_translation:
        query = query.where(FeedbackItem.id.in_(untranslated_item_ids()))
    for ids in matching_item_ids(filters.q):
        query = query.where(FeedbackItem.id.in_(ids))
    return query.options(
        selectinload(FeedbackItem.topics),
        selectinload(FeedbackItem.contact),
        selectinload(FeedbackItem.messages),
        selectinload(FeedbackItem.decision),
    ).order_by(FeedbackItem.created_at.desc(), FeedbackItem.id.desc())


def item_locales() -> list[str]:
    """Languages feedback has arrived in, for the filter."""
    return list(db.session.scalars(select(FeedbackItem.locale).distinct().order_by("locale")))


def all_topics() -> list[Topic]:
    return list(db.session.scalars(select(Topic).order_by(Topic.name)))


def topic_named(name: str) -> Topic | None:
    """The topic called ``name``, whatever its case. Compared in Python: SQLite's lower()
    (and PostgreSQL's, under a C locale) leaves non-ASCII letters alone, so "Śmieci"
    would not find "śmieci", nor itself. A service has tens of topics, not thousands."""
    wanted = as_name(name).casefold()
    # A topic named before names were tidied (``as_name``) is found as it reads.
    return next((t for t in all_topics() if as_name(t.name).casefold() == wanted), None)


def all_decisions() -> list[Decision]:
    return list(db.session.scalars(select(Decision).order_by(Decision.created_at.desc())))


def items_by_ids(ids: list[int]) -> list[FeedbackItem]:
    if not ids:
        return []
    return list(
        db.session.scalars(
            select(FeedbackItem).where(FeedbackItem.id.in_(ids)).order_by(FeedbackItem.id)
        )
    )


def linked_counts() -> dict[int, int]:
    """Decision id -> how many items are linked to it."""
    rows = db.session.execute(
        select(FeedbackItem.decision_id, func.count(FeedbackItem.id))
        .where(FeedbackItem.decision_id.is_not(None))
        .group_by(FeedbackItem.decision_id)
    ).all()
    return {decision_id: count for decision_id, count in rows if decision_id is not None}


def linked_items(decision: Decision) -> list[FeedbackItem]:
    return list(
        db.session.scalars(
            select(FeedbackItem)
            .where(FeedbackItem.decision_id == decision.id)
            .options(selectinload(FeedbackItem.topics))
            .order_by(FeedbackItem.created_at.desc())
        )
    )


def audit_query(action: str = "") -> Select[tuple[AuditEntry]]:
    query = select(AuditEntry).options(selectinload(AuditEntry.user))
    if action:
        query = query.where(AuditEntry.action == action)
    return query.order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())


def audit_actions() -> list[str]:
    return list(db.session.scalars(select(AuditEntry.action).distinct().order_by("action")))


# ---------------------------------------------------------------------------- timeline


@dataclass
class TimelineEntry:
    """One thing that happened to an item; ``kind`` is inbound, outbound, audit or rating."""

    kind: str
    at: datetime
    order: int
    inbound: InboundMessage | None = None
    outbound: OutboundMessage | None = None
    audit: AuditEntry | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def item_timeline(item: FeedbackItem) -> list[TimelineEntry]:
    """Everything about ``item`` in time order: messages both ways, staff actions, rating."""
    entries: list[TimelineEntry] = []
    messages = db.session.scalars(
        select(InboundMessage)
        .where(InboundMessage.item_id == item.id)
        .options(selectinload(InboundMessage.media))
        .order_by(InboundMessage.id)
    )
    for message in messages:
        entries.append(TimelineEntry("inbound", message.received_at, 0, inbound=message))
    replies = db.session.scalars(
        select(OutboundMessage)
        .where(OutboundMessage.item_id == item.id)
        .order_by(OutboundMessage.id)
    )
    for reply in replies:
        entries.append(TimelineEntry("outbound", reply.created_at, 1, outbound=reply))
    actions = db.session.scalars(
        select(AuditEntry)
        .where(AuditEntry.target_type == "feedbackitem", AuditEntry.target_id == item.id)
        .options(selectinload(AuditEntry.user))
        .order_by(AuditEntry.id)
    )
    for entry in actions:
        entries.append(TimelineEntry("audit", entry.created_at, 2, audit=entry))
    if item.rating and item.rated_at:
        entries.append(TimelineEntry("rating", item.rated_at, 3, detail={"rating": item.rating}))
    entries.sort(key=lambda entry: (entry.at, entry.order))
    return entries
