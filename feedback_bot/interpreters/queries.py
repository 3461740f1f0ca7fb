"""What is waiting for each language."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import and_, func, select

from .. import loop
from ..extensions import db
from ..interpreting.catalogue_io import (
    entries,
    known_entries,
    saved_overrides,
    shipped_catalogue,
    state_of,
    working_text,
)
from ..messaging.overrides import translate
from ..messaging.segments import SmsCost, sms_cost
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
    text: str  # what the interpreter works on: their draft, if they saved one
    state: str | None
    cost: SmsCost
    source_cost: SmsCost


def _shipped_states(locale: str) -> dict[tuple[str, str], str | None]:
    """(context, msgid) -> the review state the shipped catalogue flags."""
    return {
        (m.context or "", str(m.id)): state_of(set(m.flags))
        for m in shipped_catalogue(locale)
        if m.id
    }


def template_rows(locale: str) -> list[TemplateRow]:
    shipped = _shipped_states(locale)
    saved = saved_overrides(locale)
    rows = []
    for entry in entries().values():
        key = (entry.context, entry.msgid)
        text = working_text(locale, key, saved)
        state = saved[key].state if key in saved else shipped.get(key)
        rows.append(
            TemplateRow(
                entry.kind,
                entry.context,
                entry.msgid,
                entry.note,
                text,
                state,
                sms_cost(text),
                sms_cost(entry.msgid),
            )
        )
    return rows


def completeness(languages: list[str]) -> dict[str, dict[str, int]]:
    """Per language: how many templates members get translated, and how many of those
    translations are reviewed (drafts count for neither: members do not get them)."""
    total = len(known_entries())
    result = {}
    for locale in languages:
        if locale == "en":
            result[locale] = {"total": total, "translated": total, "reviewed": total}
            continue
        shipped = _shipped_states(locale)
        saved = saved_overrides(locale)
        live = {key: o for key, o in saved.items() if o.state != ReviewState.DRAFT}
        translated = reviewed = 0
        for context, msgid in known_entries():
            key = (context, msgid)
            if translate(msgid, locale, context) == msgid:
                continue
            translated += 1
            state = live[key].state if key in live else shipped.get(key)
            reviewed += state == ReviewState.REVIEWED
        result[locale] = {"total": total, "translated": translated, "reviewed": reviewed}
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
