"""GET /admin/export/items.csv and /admin/export/decisions.csv.

No contact details ever: no phone number, no pseudonym that could be joined back to one,
and phone numbers members typed into their own messages are blanked out. Every cell a
spreadsheet would read as a formula is defused, and every download is audited.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date, datetime

from flask import Response, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from .. import audit, clock, metrics
from ..auth.roles import roles_required
from ..extensions import db
from ..models import (
    Contact,
    Decision,
    Disposition,
    FeedbackItem,
    InboundMessage,
    Outcome,
    Role,
)
from ..privacy import redact_phone_numbers
from . import bp

# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets
# (tab and carriage return too, per OWASP's CSV injection guidance).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
MESSAGE_SEPARATOR = "\n"

ITEM_COLUMNS = (
    "ref",
    "created_at",
    "channel",
    "locale",
    "status",
    "topics",
    "decision_id",
    "rating",
    "acknowledged_at",
    "told_at",
    "messages",
)
DECISION_COLUMNS = (
    "id",
    "title",
    "outcome",
    "outcome_label",
    "reason",
    "summary",
    "translations",
    "responsible",
    "expected_date",
    "published_at",
    "revision",
    "created_at",
    "linked_items",
    "told_items",
    "rating_yes",
    "rating_partly",
    "rating_no",
)

Cell = str | int | None


def safe_cell(value: object) -> Cell:
    """A value as written to the CSV, never one a spreadsheet would run as a formula."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return value
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def csv_response(
    filename: str, columns: Sequence[str], rows: Iterable[Sequence[object]]
) -> Response:
    buffer = io.StringIO()
    # A byte-order mark, so that Excel reads Polish, Arabic, Bengali... as UTF-8.
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([safe_cell(value) for value in row])
    response = Response(buffer.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def item_rows(date_range: metrics.DateRange) -> list[list[object]]:
    acked = metrics.acknowledged_subquery()
    query = (
        select(FeedbackItem, acked.c.acknowledged_at, Contact.region)
        .outerjoin(acked, acked.c.item_id == FeedbackItem.id)
        .outerjoin(Contact, Contact.id == FeedbackItem.contact_id)
        .options(selectinload(FeedbackItem.topics))
        .order_by(FeedbackItem.created_at, FeedbackItem.id)
    )
    results = db.session.execute(date_range.apply(query)).all()
    texts = message_texts([item.id for item, _, _ in results])
    rows: list[list[object]] = []
    for item, acknowledged_at, region in results:
        bodies = [redact_phone_numbers(body, region) for body in texts.get(item.id, [])]
        rows.append(
            [
                item.ref,
                item.created_at,
                item.channel,
                item.locale,
                item.status,
                "; ".join(topic.name for topic in item.topics),
                item.decision_id,
                item.rating,
                metrics.as_utc(acknowledged_at),
                item.told_at,
                MESSAGE_SEPARATOR.join(bodies),
            ]
        )
    return rows


def message_texts(item_ids: Sequence[int]) -> dict[int, list[str]]:
    """The text of each item's feedback messages, in order (erased ones have none)."""
    texts: dict[int, list[str]] = {}
    chunk = 500  # stay well under any database's limit on bound parameters
    for start in range(0, len(item_ids), chunk):
        rows = db.session.execute(
            select(InboundMessage.item_id, InboundMessage.body)
            .where(
                InboundMessage.item_id.in_(item_ids[start : start + chunk]),
                InboundMessage.disposition == Disposition.FEEDBACK,
                InboundMessage.body.is_not(None),
            )
            .order_by(InboundMessage.item_id, InboundMessage.received_at, InboundMessage.id)
        ).all()
        for item_id, body in rows:
            if item_id is not None and body and body.strip():
                texts.setdefault(item_id, []).append(body)
    return texts


def decision_rows() -> list[list[object]]:
    decisions = db.session.scalars(
        select(Decision).options(selectinload(Decision.translations)).order_by(Decision.id)
    ).all()
    linked: Counter[int] = Counter()
    told: Counter[int] = Counter()
    ratings: dict[int, Counter[str]] = {}
    for decision_id, told_at, rating in db.session.execute(
        select(FeedbackItem.decision_id, FeedbackItem.told_at, FeedbackItem.rating).where(
            FeedbackItem.decision_id.is_not(None)
        )
    ):
        if decision_id is None:
            continue
        linked[decision_id] += 1
        if told_at is not None:
            told[decision_id] += 1
        if rating:
            ratings.setdefault(decision_id, Counter())[rating] += 1
    rows: list[list[object]] = []
    for d in decisions:
        counts = ratings.get(d.id, Counter())
        rows.append(
            [
                d.id,
                d.title,
                d.outcome,
                Outcome.LABELS.get(d.outcome, d.outcome),
                d.reason,
                d.summary,
                "; ".join(sorted(t.locale for t in d.translations if t.summary.strip())),
                d.responsible,
                d.expected_date,
                d.published_at,
                d.revision,
                d.created_at,
                linked[d.id],
                told[d.id],
                *(counts[value] for value in metrics.RATING_VALUES),
            ]
        )
    return rows


@bp.get("/items.csv")
@roles_required(Role.ADMIN, Role.STAFF)
def items_csv() -> ResponseReturnValue:
    date_range = metrics.DateRange.from_args(request.args)
    rows = item_rows(date_range)
    audit.record("export.items", rows=len(rows), **date_range.to_args())
    db.session.commit()
    stamp = clock.now().date().isoformat()
    return csv_response(f"feedback-items-{stamp}.csv", ITEM_COLUMNS, rows)


@bp.get("/decisions.csv")
@roles_required(Role.ADMIN, Role.STAFF)
def decisions_csv() -> ResponseReturnValue:
    rows = decision_rows()
    audit.record("export.decisions", rows=len(rows))
    db.session.commit()
    stamp = clock.now().date().isoformat()
    return csv_response(f"decisions-{stamp}.csv", DECISION_COLUMNS, rows)
