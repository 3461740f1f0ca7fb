"""What is waiting for each language."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import and_, func, select

from .. import loop
from ..extensions import db
from ..interpreting.catalogue_io import known_entries, override_states, shipped_catalogue, state_of
from ..messaging.overrides import translate
from ..messaging.segments import SmsCost, sms_cost
from ..messaging.templates import KEYWORD_CONTEXT, KEYWORD_MSGIDS, TEMPLATES
from ..models import (
    Contact,
    Decision,
    Disposition,
    FeedbackItem,
    InboundMessage,
    MessageTranslation,
    ReviewState,
)


def feedback_queue(languages: list[str], limit: int = 100) -> list[InboundMessage]:
    """Members' messages in these languages with no translation into the staff language yet."""
    staff = current_app.config["STAFF_LOCALE"]
    wanted = [code for code in languages if code != staff]
    if not wanted:
        return []
    language = func.coalesce(InboundMessage.detected_locale, FeedbackItem.locale)
    translated = select(MessageTranslation.id).where(
        MessageTranslation.message_id == InboundMessage.id, MessageTranslation.locale == staff
    )
    return list(
        db.session.scalars(
            select(InboundMessage)
            .join(FeedbackItem, InboundMessage.item_id == FeedbackItem.id)
            .where(
                InboundMessage.disposition == Disposition.FEEDBACK,
                InboundMessage.erased_at.is_(None),
                language.in_(wanted),
                ~translated.exists(),
            )
            .order_by(InboundMessage.received_at)
            .limit(limit)
        )
    )


def summaries_waiting(languages: list[str]) -> list[tuple[Decision, str, int]]:
    """(decision, language, members waiting) for published decisions missing a summary."""
    waiting = []
    for decision in db.session.scalars(
        select(Decision).where(Decision.published_at.is_not(None)).order_by(Decision.id)
    ):
        for locale, count in loop.awaiting_translation(decision).items():
            if locale in languages:
                waiting.append((decision, locale, count))
    return waiting


@dataclass(frozen=True)
class TemplateRow:
    kind: str
    context: str
    msgid: str
    note: str
    text: str
    state: str | None
    cost: SmsCost
    source_cost: SmsCost


def template_rows(locale: str) -> list[TemplateRow]:
    shipped = {(m.context or "", str(m.id)): m for m in shipped_catalogue(locale) if m.id}
    states = override_states(locale)
    rows = []
    entries = [(t.kind, "", t.msgid, t.note) for t in TEMPLATES.values()]
    entries += [
        (f"keywords: {action}", KEYWORD_CONTEXT, msgid, "Words a member can send alone.")
        for action, msgid in KEYWORD_MSGIDS.items()
    ]
    for kind, context, msgid, note in entries:
        text = translate(msgid, locale, context)
        state = states.get((context, msgid))
        if state is None and (context, msgid) in shipped:
            state = state_of(set(shipped[(context, msgid)].flags))
        rows.append(
            TemplateRow(kind, context, msgid, note, text, state, sms_cost(text), sms_cost(msgid))
        )
    return rows


def completeness(languages: list[str]) -> dict[str, dict[str, int]]:
    """Per language: how many templates are translated, and how many reviewed."""
    total = len(known_entries())
    result = {}
    for locale in languages:
        rows = template_rows(locale) if locale != "en" else []
        states = Counter(row.state for row in rows)
        translated = sum(1 for row in rows if row.text != row.msgid)
        result[locale] = {
            "total": total,
            "translated": total if locale == "en" else translated,
            "reviewed": total if locale == "en" else states[ReviewState.REVIEWED],
        }
    return result


def languages_in_use_without_review() -> list[tuple[str, int]]:
    """Languages members write in whose templates nobody fluent has reviewed yet."""
    in_use = db.session.execute(
        select(Contact.locale, func.count())
        .where(and_(Contact.forgotten_at.is_(None)))
        .group_by(Contact.locale)
    ).all()
    report = []
    for locale, members in in_use:
        if locale == current_app.config["STAFF_LOCALE"] or locale == "en":
            continue
        if completeness([locale])[locale]["reviewed"] == 0:
            report.append((locale, members))
    return sorted(report, key=lambda pair: -pair[1])
