"""Exchange of translations as .po files, with Babel's own reader and writer.

Export: the shipped catalogue of a language with the interpreters' overrides applied (their
drafts too: the file is their work) and their review state as flags. Import: every entry
that differs from what is saved becomes an override. Exporting, importing that file and
exporting again gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from io import BytesIO

from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po
from sqlalchemy import select

from ..config import TRANSLATIONS
from ..extensions import db
from ..messaging.overrides import translate
from ..messaging.templates import KEYWORD_CONTEXT, KEYWORD_MSGIDS, TEMPLATES
from ..models import MessageOverride, ReviewState
from .checks import translation_problems

STATE_FLAGS = {
    ReviewState.DRAFT: "draft",
    ReviewState.NEEDS_REVIEW: "needs-review",
    ReviewState.REVIEWED: "reviewed",
}


@dataclass(frozen=True)
class Entry:
    """A member-facing entry interpreters may change."""

    kind: str  # names it in the editor and its forms: "ack", "keywords: stop"
    context: str
    msgid: str
    note: str


def entries() -> dict[str, Entry]:
    """Every entry interpreters may change, by kind, in the editor's order."""
    found = [Entry(t.kind, "", t.msgid, t.note) for t in TEMPLATES.values()]
    found += [
        Entry(f"keywords: {action}", KEYWORD_CONTEXT, msgid, "Words a member can send alone.")
        for action, msgid in KEYWORD_MSGIDS.items()
    ]
    return {entry.kind: entry for entry in found}


def known_entries() -> set[tuple[str, str]]:
    """(context, msgid) of every member-facing entry interpreters may change."""
    return {(entry.context, entry.msgid) for entry in entries().values()}


def shipped_catalogue(locale: str) -> Catalog:
    path = TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def state_of(flags: set[str]) -> str | None:
    for state, flag in STATE_FLAGS.items():
        if flag in flags:
            return state
    return None


@dataclass(frozen=True)
class Saved:
    text: str
    state: str


def saved_overrides(locale: str) -> dict[tuple[str, str], Saved]:
    """(context, msgid) -> what interpreters saved in ``locale``, drafts included."""
    rows = db.session.execute(
        select(
            MessageOverride.context,
            MessageOverride.msgid,
            MessageOverride.text,
            MessageOverride.state,
        ).where(MessageOverride.locale == locale)
    ).all()
    return {(context, msgid): Saved(text, state) for context, msgid, text, state in rows}


def working_text(locale: str, key: tuple[str, str], saved: dict[tuple[str, str], Saved]) -> str:
    """The text interpreters work on: theirs if they saved one (a draft members do not get
    yet included), else what members get."""
    return saved[key].text if key in saved else translate(key[1], locale, key[0])


def export_po(locale: str) -> bytes:
    """The catalogue of ``locale`` as interpreters left it, review states as flags."""
    catalog = shipped_catalogue(locale)
    saved = saved_overrides(locale)
    for message in catalog:
        override = saved.get((message.context or "", str(message.id))) if message.id else None
        if override is None:
            continue
        message.string = override.text
        # A person wrote it, so it is not gettext's guess ("fuzzy") whatever the file said.
        message.flags -= {*STATE_FLAGS.values(), "fuzzy"}
        message.flags.add(STATE_FLAGS[override.state])
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
    # msgids of entries flagged fuzzy: a tool's guess nobody has confirmed, left out.
    fuzzy: list[str] = field(default_factory=list)


def read_import(locale: str, data: bytes) -> ImportReport:
    """Compare an uploaded .po file with what is saved; nothing is saved here."""
    report = ImportReport()
    try:
        catalog = read_po(BytesIO(data))
    except Exception as exc:  # Babel raises several kinds for a malformed file
        report.errors.append(f"This is not a readable .po file: {exc}")
        return report
    wrong_language = _language_problem(catalog, locale)
    if wrong_language:
        report.errors.append(wrong_language)
        return report
    saved = saved_overrides(locale)
    shipped = {(m.context or "", str(m.id)): m for m in shipped_catalogue(locale) if m.id}
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
        if message.fuzzy:
            report.fuzzy.append(key[1])
            continue
        problems = translation_problems(key[0], key[1], locale, text)
        if problems:
            report.errors.append(f"{key[1][:50]!r}: " + " ".join(problems))
            continue
        state = state_of(set(message.flags))
        current: str | None = None
        if key in saved:
            current = saved[key].state
        elif key in shipped:
            current = state_of(set(shipped[key].flags))
        if text == working_text(locale, key, saved) and state in (None, current):
            report.unchanged += 1
            continue
        report.changes.append(ImportedEntry(key[0], key[1], text, state))
    return report


def _language_problem(catalog: Catalog, locale: str) -> str | None:
    """Why ``catalog`` (read from a file) cannot be imported into ``locale``, if it cannot:
    its Language header names another language, or none. Imported, a Polish file would
    send Welsh members Polish."""
    wanted = Locale.parse(locale)
    named = catalog.locale
    if named is None:  # no Language header, or one Babel does not know
        said = catalog.locale_identifier
        header = f"says it is in {said!r}" if said else "does not say which language it is in"
        return (
            f"This file {header}. Its Language header must say {locale} "
            f"({wanted.english_name}); nothing was imported."
        )
    if not _same_language(named, wanted):
        return (
            f"This file is in {named.english_name} ({named}), not {wanted.english_name} "
            f"({locale}); nothing was imported. Import it on the page of its own language."
        )
    return None


def _same_language(named: Locale, wanted: Locale) -> bool:
    """The same language, and no country or script that both name and that differ: a
    "pl_PL" file is Polish enough for "pl", a "pt_PT" one is not Brazilian Portuguese."""
    return named.language == wanted.language and all(
        mine is None or theirs is None or mine == theirs
        for mine, theirs in ((named.territory, wanted.territory), (named.script, wanted.script))
    )
