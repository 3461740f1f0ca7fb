"""What is waiting for each language."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import and_, func, select

from .. import loop
from ..extensions import db
from ..interpreting.catalogue_io import (
    SENT_COUNTS,
    Entry,
    entries,
    is_translated,
    plural_rule,
    saved_for,
    saved_overrides,
    shipped_catalogue,
    state_of,
    working_text,
)
from ..messaging.language import menu_options
from ..messaging.overrides import form_context
from ..messaging.segments import SmsCost, sms_cost
from ..messaging.templates import PLACEHOLDER
from ..models import (
    Contact,
    Decision,
    Disposition,
    FeedbackItem,
    InboundMessage,
    MessageTranslation,
    ReviewState,
)
from ..refs import TYPICAL_REF


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
    numbers: str  # of one plural form: the numbers it is for
    title: str  # its heading in the editor
    text: str  # what the interpreter works on: their draft, if they saved one
    state: str | None
    # Of the text as members get it: the placeholders filled in with ``values``.
    cost: SmsCost
    source_cost: SmsCost
    values: dict[str, str]


def _shipped_states(locale: str) -> dict[tuple[str, str], str | None]:
    """(context, msgid) -> the review state the shipped catalogue flags; each form of a
    plural entry has the entry's."""
    states: dict[tuple[str, str], str | None] = {}
    catalog = shipped_catalogue(locale)
    for m in catalog:
        if not m.id:
            continue
        state = state_of(set(m.flags))
        if m.pluralizable:
            for form in range(catalog.num_plurals):
                states[(form_context(form), str(m.id[0]))] = state
        else:
            states[(m.context or "", str(m.id))] = state
    return states


def member_values(entry: Entry, locale: str) -> dict[str, str]:
    """What the app puts in the placeholders of ``entry``, as near as the editor can tell:
    the organisation's name, a typical reference, the number of days (the first one its
    form is for, or the service's own), the language menu. Not the summary: staff write
    it later. Counted with these, a translation's segments are those members pay for;
    counted with "%(org)s" instead of a long name, one that fits would not."""
    present = set(PLACEHOLDER.findall(entry.msgid))
    values = {}
    if "org" in present:
        values["org"] = current_app.config["ORG_NAME"]
    if "ref" in present:
        values["ref"] = TYPICAL_REF
    if "days" in present:
        if entry.form is None:
            values["days"] = str(current_app.config["INTERIM_UPDATE_DAYS"])
        else:  # a form no message takes has no number to show (``Entry.sent``)
            values.update(
                ("days", str(number))
                for number in plural_rule(locale).samples(entry.form, SENT_COUNTS)[:1]
            )
    if "options" in present:
        # Only for the language menu: it reads the enabled languages (and asks Redis).
        values["options"] = menu_options()
    return values


def filled(text: str, values: dict[str, str]) -> str:
    """``text`` with the placeholders ``values`` has filled in; any other left as typed."""
    return PLACEHOLDER.sub(lambda found: values.get(found.group(1), found.group(0)), text)


def template_rows(locale: str) -> list[TemplateRow]:
    shipped = _shipped_states(locale)
    saved = saved_overrides(locale)
    rows = []
    for entry in entries(locale).values():
        key = (entry.context, entry.msgid)
        text = working_text(locale, key, saved)
        state = saved[key].state if key in saved else shipped.get(key)
        values = member_values(entry, locale)
        rows.append(
            TemplateRow(
                entry.kind,
                entry.context,
                entry.msgid,
                entry.note,
                entry.numbers,
                entry.title,
                text,
                state,
                sms_cost(filled(text, values)),
                sms_cost(filled(entry.msgid, values)),
                values,
            )
        )
    return rows


def completeness(languages: list[str]) -> dict[str, dict[str, int]]:
    """Per language: how many templates members get translated, and how many of those
    translations are reviewed (drafts count for neither: members do not get them). A
    message with plural forms counts once: translated when every form members get is,
    reviewed when every such form is (a form only for numbers never sent does not count)."""
    return {locale: _completeness(locale) for locale in languages}


def _completeness(locale: str) -> dict[str, int]:
    groups: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for entry in entries(locale).values():
        if not entry.sent:
            continue
        # The forms of a plural entry make one message.
        group = ("", entry.msgid) if entry.form is not None else (entry.context, entry.msgid)
        groups.setdefault(group, []).append((entry.context, entry.msgid))
    total = len(groups)
    if locale == "en":
        return {"total": total, "translated": total, "reviewed": total}
    shipped = _shipped_states(locale)
    live = {key: o for key, o in saved_overrides(locale).items() if o.state != ReviewState.DRAFT}

    def state(key: tuple[str, str]) -> str | None:
        mine = saved_for(key, live)
        return mine.state if mine else shipped.get(key)

    translated = reviewed = 0
    for keys in groups.values():
        if all(is_translated(locale, context, msgid) for context, msgid in keys):
            translated += 1
            reviewed += all(state(key) == ReviewState.REVIEWED for key in keys)
    return {"total": total, "translated": translated, "reviewed": reviewed}


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
