"""Exchange of translations as .po files, with Babel's own reader and writer.

Export: the shipped catalogue of a language with the interpreters' overrides applied and
their review state as flags. Import: every entry that differs from what is in use becomes
an override. Exporting, importing that file and exporting again gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from io import BytesIO

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po
from sqlalchemy import select

from ..config import TRANSLATIONS
from ..extensions import db
from ..messaging.overrides import overrides, translate
from ..messaging.templates import KEYWORD_CONTEXT, KEYWORD_MSGIDS, TEMPLATES
from ..models import MessageOverride, ReviewState
from .checks import translation_problems

STATE_FLAGS = {
    ReviewState.DRAFT: "draft",
    ReviewState.NEEDS_REVIEW: "needs-review",
    ReviewState.REVIEWED: "reviewed",
}


def known_entries() -> set[tuple[str, str]]:
    """(context, msgid) of every member-facing entry interpreters may change."""
    entries = {("", template.msgid) for template in TEMPLATES.values()}
    entries |= {(KEYWORD_CONTEXT, msgid) for msgid in KEYWORD_MSGIDS.values()}
    return entries


def shipped_catalogue(locale: str) -> Catalog:
    path = TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def state_of(flags: set[str]) -> str | None:
    for state, flag in STATE_FLAGS.items():
        if flag in flags:
            return state
    return None


def override_states(locale: str) -> dict[tuple[str, str], str]:
    """(context, msgid) -> review state of each override in ``locale``."""
    rows = db.session.execute(
        select(MessageOverride.context, MessageOverride.msgid, MessageOverride.state).where(
            MessageOverride.locale == locale
        )
    ).all()
    return {(context, msgid): state for context, msgid, state in rows}


def export_po(locale: str) -> bytes:
    """The catalogue in use for ``locale``, overrides applied, review states as flags."""
    catalog = shipped_catalogue(locale)
    in_use = overrides()
    states = override_states(locale)
    for message in catalog:
        if not message.id:
            continue
        key = (message.context or "", str(message.id))
        override = in_use.get((locale, *key))
        if override is not None:
            message.string = override
        state = states.get(key)
        if state is not None:
            message.flags -= set(STATE_FLAGS.values())
            message.flags.add(STATE_FLAGS[state])
    buffer = BytesIO()
    write_po(buffer, catalog, width=0, omit_header=False)
    return buffer.getvalue()


@dataclass
class ImportedEntry:
    context: str
    msgid: str
    text: str
    state: str | None


@dataclass
class ImportReport:
    changes: list[ImportedEntry] = field(default_factory=list)
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)


def read_import(locale: str, data: bytes) -> ImportReport:
    """Compare an uploaded .po file with what is in use; nothing is saved here."""
    report = ImportReport()
    states = override_states(locale)
    shipped = {(m.context or "", str(m.id)): m for m in shipped_catalogue(locale) if m.id}
    try:
        catalog = read_po(BytesIO(data), locale=locale)
    except Exception as exc:  # Babel raises several kinds for a malformed file
        report.errors.append(f"This is not a readable .po file: {exc}")
        return report
    known = known_entries()
    for message in catalog:
        if not message.id:
            continue
        key = (message.context or "", str(message.id))
        text = str(message.string or "")
        if key not in known:
            continue  # entries the panel does not manage stay in the repository's hands
        if not text:
            continue
        problems = translation_problems(key[0], key[1], locale, text)
        if problems:
            report.errors.append(f"{key[1][:50]!r}: " + " ".join(problems))
            continue
        state = state_of(set(message.flags))
        current = states.get(key) or (state_of(set(shipped[key].flags)) if key in shipped else None)
        if text == translate(key[1], locale, key[0]) and state in (None, current):
            report.unchanged += 1
            continue
        report.changes.append(ImportedEntry(key[0], key[1], text, state))
    return report
