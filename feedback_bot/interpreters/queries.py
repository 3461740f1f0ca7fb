"""What is waiting for each language."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import selectinload

from .. import loop
from ..extensions import db
from ..interpreting import untranslated
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
from ..interpreting.written_in import feedback, language_column
from ..messaging.language import UNRECOGNISED, menu_options
from ..messaging.overrides import form_context
from ..messaging.segments import SmsCost, sms_cost
from ..messaging.templates import KEYWORD_CONTEXT, PLACEHOLDER
from ..models import (
    Contact,
    Decision,
    DecisionTranslation,
    FeedbackItem,
    InboundMessage,
    MessageTranslation,
    ReviewState,
)
from ..refs import TYPICAL_REF


def _feedback_in(languages: list[str]) -> Select[tuple[InboundMessage]]:
    """Members' feedback in one of ``languages`` other than the staff language, or in one
    nobody recognised, which any interpreter may know (``written_in``); with its
    translations at hand."""
    language = language_column()
    return (
        feedback(InboundMessage)
        .where(or_(language.in_(languages), language == UNRECOGNISED))
        .options(selectinload(InboundMessage.translations))
    )


def feedback_queue(languages: list[str], limit: int = 100) -> list[InboundMessage]:
    """Members' messages in these languages that nobody has finished translating into the
    staff language: none yet, or a draft to finish (``untranslated.needs_translation``:
    staff's "Needs translation" lists the same). Oldest first."""
    staff = current_app.config["STAFF_LOCALE"]
    return list(
        db.session.scalars(
            _feedback_in(languages)
            .where(untranslated.needs_translation(staff))
            .order_by(InboundMessage.received_at, InboundMessage.id)
            .limit(limit)
        )
    )


def translations_to_review(languages: list[str], limit: int = 100) -> list[InboundMessage]:
    """Members' messages in these languages whose translation into the staff language is
    marked "Needs review": staff read it already; someone fluent should check it. Those
    translated longest ago first."""
    staff = current_app.config["STAFF_LOCALE"]
    return list(
        db.session.scalars(
            _feedback_in(languages)
            .join(MessageTranslation, MessageTranslation.message_id == InboundMessage.id)
            .where(
                MessageTranslation.locale == staff,
                MessageTranslation.state == ReviewState.NEEDS_REVIEW,
            )
            .order_by(MessageTranslation.updated_at, InboundMessage.id)
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class SummaryToTranslate:
    """A decision's summary, as it stands, not yet translated into one language."""

    decision: Decision
    locale: str
    # What is there instead: a draft, one outdated since staff changed the summary, or None.
    translation: DecisionTranslation | None
    # Members waiting for it now (a published decision) or from the moment it is published
    # (a draft linked to their feedback), each once however many items they have.
    members: int

    @property
    def state(self) -> str | None:
        return self.translation.state if self.translation else None

    @property
    def urgency(self) -> tuple[int, int, int]:
        """Its place in the list (``summaries_to_translate``), most urgent first."""
        if self.members:
            tier = 0 if self.decision.published else 1
        else:
            tier = 2 if self.decision.published else 3
        return (tier, -self.members, self.decision.id)


def summaries_to_translate(languages: list[str]) -> list[SummaryToTranslate]:
    """Decision summaries, published or drafts, with no current translation (none, only a
    draft, or one outdated since staff changed the summary) into these languages, most
    urgent first:

    1. published, with members waiting now: the most first;
    2. drafts linked to members of the language, who wait from the moment it is published:
       translated now, the summary goes to them with everyone else's;
    3. published, with an outdated or draft translation nobody waits for now: members
       linked later wait for it, and so do those told if staff send an update;
    4. drafts nobody of the language is linked to yet, so the summary is ready if they are.

    Oldest decision first within each. A published decision with no translation at all
    into a language nobody waits for is left out: no member of it is linked (they would be
    waiting, or have been told, which needed a translation), and every old decision in
    every language would bury the work members wait for. It is in the list for the public
    page instead (``public_texts_to_translate``). Nor a decision with no summary yet.
    """
    staff = current_app.config["STAFF_LOCALE"]
    wanted = [code for code in languages if code != staff]
    if not wanted:
        return []
    decisions = [
        decision
        for decision in db.session.scalars(
            select(Decision).options(selectinload(Decision.translations)).order_by(Decision.id)
        )
        if decision.summary.strip()
    ]
    linked = _members_linked([d.id for d in decisions if not d.published], wanted)
    work = []
    for decision in decisions:
        missing = [code for code in wanted if decision.summary_in(code, staff) is None]
        if not missing:
            continue
        if decision.published:
            members = loop.awaiting_translation(decision)
        else:
            members = linked.get(decision.id, {})
        for code in missing:
            translation = next((t for t in decision.translations if t.locale == code), None)
            count = members.get(code, 0)
            if decision.published and not count and translation is None:
                continue
            work.append(SummaryToTranslate(decision, code, translation, count))
    return sorted(work, key=lambda row: row.urgency)


@dataclass(frozen=True)
class PublicTextToTranslate:
    """A published decision whose summary, title or reason the public page shows in the
    staff language on its page in ``locale``."""

    decision: Decision
    locale: str
    missing: tuple[str, ...]  # of "summary", "title", "why"


def public_texts_to_translate(
    languages: list[str], listed: Iterable[SummaryToTranslate] = ()
) -> list[PublicTextToTranslate]:
    """Published decisions, newest first, that the public page shows in part or whole in
    the staff language on its page in one of these languages: their summary, title or
    reason (when it has one) is not translated into it, or not as it stands. Nobody is
    texted these; a page in the reader's language is what they are for.

    Not those ``listed`` (``summaries_to_translate``'s rows): their summary is work members
    wait for, or was started, and its page asks for all three. So what is here is mostly a
    decision no member of the language was linked to, whose summary nobody needed until
    now, and the title and reason of one whose summary is translated."""
    staff = current_app.config["STAFF_LOCALE"]
    wanted = [code for code in languages if code != staff]
    if not wanted:
        return []
    elsewhere = {(row.decision.id, row.locale) for row in listed}
    work = []
    for decision in db.session.scalars(
        select(Decision)
        .where(Decision.published_at.is_not(None))
        .options(selectinload(Decision.translations))
        .order_by(Decision.published_at.desc(), Decision.id.desc())
    ):
        for code in wanted:
            if (decision.id, code) in elsewhere:
                continue
            missing = []
            if decision.summary.strip() and decision.summary_in(code, staff) is None:
                missing.append("summary")
            if decision.title_in(code, staff) is None:
                missing.append("title")
            if decision.reason and decision.reason_in(code, staff) is None:
                missing.append("why")
            if missing:
                work.append(PublicTextToTranslate(decision, code, tuple(missing)))
    return work


def _members_linked(decision_ids: list[int], languages: list[str]) -> dict[int, dict[str, int]]:
    """Decision id -> language -> members of it with feedback linked to the decision whom
    publishing would text: not those who opted out or asked to be forgotten."""
    if not decision_ids:
        return {}
    rows = db.session.execute(
        select(FeedbackItem.decision_id, Contact.locale, func.count(func.distinct(Contact.id)))
        .join(Contact, FeedbackItem.contact_id == Contact.id)
        .where(
            FeedbackItem.decision_id.in_(decision_ids),
            Contact.locale.in_(languages),
            Contact.forgotten_at.is_(None),
            Contact.opted_out_at.is_(None),
        )
        .group_by(FeedbackItem.decision_id, Contact.locale)
    ).all()
    linked: dict[int, dict[str, int]] = {}
    for decision_id, locale, count in rows:
        if decision_id is not None:
            linked.setdefault(decision_id, {})[locale] = count
    return linked


@dataclass(frozen=True)
class TemplateRow:
    """One box of the editor: a message, or one plural form of it."""

    entry: Entry
    text: str  # what the interpreter works on: their draft, if they saved one
    state: str | None
    # Of the text as members get it: the placeholders filled in with ``values``.
    cost: SmsCost
    source_cost: SmsCost
    values: dict[str, str]

    @property
    def kind(self) -> str:
        return self.entry.kind

    @property
    def anchor(self) -> str:
        """Its id in the page: "template-ack-1", "template-keywords-stop",
        "template-keywords-polite-words"."""
        return "template-" + "-".join(self.kind.replace(":", " ").split())

    @property
    def is_keywords(self) -> bool:
        return self.entry.context == KEYWORD_CONTEXT


@dataclass(frozen=True)
class TemplateMessage:
    """A message as the editor shows it: with one box, or one per plural form (those
    members get first, then those only for numbers no message takes)."""

    entry: Entry  # its first form's, for what all its forms share
    rows: list[TemplateRow]

    @property
    def anchor(self) -> str:
        return "message-" + self.entry.message.replace(": ", "-")

    @property
    def has_forms(self) -> bool:
        return self.entry.form is not None

    @property
    def is_keywords(self) -> bool:
        return self.entry.context == KEYWORD_CONTEXT


@dataclass(frozen=True)
class EditorCounts:
    """What the editor holds, as the workspace counts it and as the page lays it out."""

    texts: int  # what the workspace's "translated" counts: messages and keyword lists
    keyword_lists: int
    with_forms: int  # messages that name a number, with a box per plural form
    forms: int  # plural forms of the language
    boxes: int
    never_sent: int  # boxes for forms only of numbers no message takes


def editor_counts(messages: list[TemplateMessage], locale: str) -> EditorCounts:
    rows = [row for message in messages for row in message.rows]
    return EditorCounts(
        texts=sum(any(row.entry.sent for row in message.rows) for message in messages),
        keyword_lists=sum(message.is_keywords for message in messages),
        with_forms=sum(message.has_forms for message in messages),
        forms=plural_rule(locale).forms,
        boxes=len(rows),
        never_sent=sum(not row.entry.sent for row in rows),
    )


def _form_order(locale: str) -> Callable[[TemplateRow], tuple[bool, int]]:
    """Forms members get first, each by the smallest number it is for (Arabic's form for
    11-99 before its form for 100-102), then those for numbers no message takes."""
    rule = plural_rule(locale)

    def order(row: TemplateRow) -> tuple[bool, int]:
        form = row.entry.form
        if form is None:
            return (False, 0)
        numbers = rule.samples(form, SENT_COUNTS) or rule.samples(form)
        return (not row.entry.sent, numbers[0] if numbers else len(SENT_COUNTS))

    return order


def template_messages(locale: str) -> list[TemplateMessage]:
    """The editor's rows, grouped by the message they are (forms of)."""
    grouped: dict[str, list[TemplateRow]] = {}
    for row in template_rows(locale):
        grouped.setdefault(row.entry.message, []).append(row)
    order = _form_order(locale)
    return [TemplateMessage(rows[0].entry, sorted(rows, key=order)) for rows in grouped.values()]


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
    form is for, or the service's own), the language menu. The summary as nothing: staff
    write it later. Counted with these, a translation's segments are those members pay for;
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
    if "summary" in present:
        # Nothing: the page says the summary comes on top of the count. Left as typed, its
        # eleven characters would be counted as if members read them.
        values["summary"] = ""
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
                entry,
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
