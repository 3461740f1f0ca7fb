"""Exchange of translations as .po files, with Babel's own reader and writer.

Export: the shipped catalogue of a language with the interpreters' overrides applied (their
drafts too: the file is their work) and their review state as flags. Import: every entry
that differs from what is saved becomes an override. Exporting, importing that file and
exporting again gives the same bytes.

A message whose wording depends on a number (``Template.count``) is a plural entry with
one form per plural form of the language, as the catalogue's Plural-Forms header counts
them; interpreters edit and save each form on its own (``overrides.form_context``).
"""

from __future__ import annotations

import gettext
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from babel import Locale
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po, write_po
from sqlalchemy import select

from ..config import FEWEST_INTERIM_UPDATE_DAYS, TRANSLATIONS
from ..extensions import db
from ..messaging.overrides import form_context, form_of, translate
from ..messaging.templates import (
    ABOUT,
    COUNT_OF_MSGID,
    KEYWORD_CONTEXT,
    KEYWORD_MSGIDS,
    KEYWORD_PURPOSES,
    POLITE_MSGID,
    RATING_WORD_MSGIDS,
    TEMPLATES,
)
from ..models import MessageOverride, ReviewState
from .checks import translation_problems
from .keyword_mentions import MemberText

# The numbers a message's count takes (a number of days, INTERIM_UPDATE_DAYS or more), as
# far as the editor looks. A form of the language only for numbers below them (English's
# "1 day", Arabic's forms for 0 and 1) never reaches a member.
SENT_COUNTS = range(FEWEST_INTERIM_UPDATE_DAYS, 200)

STATE_FLAGS = {
    ReviewState.DRAFT: "draft",
    ReviewState.NEEDS_REVIEW: "needs-review",
    ReviewState.REVIEWED: "reviewed",
}


@dataclass(frozen=True)
class Entry:
    """A member-facing entry interpreters may change."""

    kind: str  # names it in the editor and its forms: "ack", "ack-1", "keywords: stop"
    context: str
    msgid: str
    note: str
    # The message it is (a form of), as the panel names it (``templates.ABOUT``).
    message: str  # "ack", "keywords: stop"
    title: str  # "Acknowledgement", "Words that mean STOP"
    sent_when: str
    # Of a plural entry: which form this is, and the numbers it is used for, in words.
    form: int | None = None
    numbers: str = ""
    form_title: str = ""  # "For 2, 3, 4, 22, 23, 24, 32, 33… days"
    # False for a form only for numbers a message never takes (``SENT_COUNTS``): the
    # catalogue needs it, members never read it.
    sent: bool = True

    @property
    def po_name(self) -> str:
        """What tells it apart in a .po file, besides its msgid (the English text)."""
        if self.form is not None:
            return f"msgstr[{self.form}]"
        return f'msgctxt "{self.context}"' if self.context else "msgstr"


def entries(locale: str) -> dict[str, Entry]:
    """Every entry interpreters may change in ``locale``, by kind, in the editor's order:
    a message that depends on a number once per plural form of the language."""
    found = []
    for template in TEMPLATES.values():
        about = ABOUT[template.kind]
        if template.count is None:
            found.append(
                Entry(
                    template.kind,
                    "",
                    template.msgid,
                    template.note,
                    template.kind,
                    about.title,
                    about.sent_when,
                )
            )
            continue
        rule = plural_rule(locale)
        found += [
            Entry(
                f"{template.kind}-{form}",
                form_context(form),
                template.msgid,
                template.note,
                template.kind,
                about.title,
                about.sent_when,
                form=form,
                numbers=rule.numbers(form, template.count),
                form_title=rule.title(form, template.count),
                sent=bool(rule.samples(form, SENT_COUNTS)),
            )
            for form in range(rule.forms)
        ]
    found += [
        _word_list(
            f"keywords: {action}",
            msgid,
            f"Words that mean {action.upper()}",
            f"A member sends one of these words alone to {KEYWORD_PURPOSES[action]}.",
        )
        for action, msgid in KEYWORD_MSGIDS.items()
    ]
    found.append(
        _word_list(
            "keywords: polite words",
            POLITE_MSGID,
            "Polite words around a keyword",
            'A member adds these to a keyword and still means only it ("Stop please").',
            "Separate the words with commas. Only words that add nothing: never one that "
            "could make a message mean more.",
        )
    )
    found += [
        _word_list(
            f"rating: {answer}",
            msgid,
            f'Words that answer "Did we listen?" with {answer}',
            f"A member sends these instead of {digit}; read only while the question waits "
            "for its answer.",
        )
        for digit, (answer, msgid) in enumerate(RATING_WORD_MSGIDS.items(), 1)
    ]
    return {entry.kind: entry for entry in found}


def _word_list(
    kind: str,
    msgid: str,
    title: str,
    sent_when: str,
    note: str = "Separate the words with commas. The English words always work too.",
) -> Entry:
    """The entry of a list of words members send (keywords, polite words, answers)."""
    return Entry(kind, KEYWORD_CONTEXT, msgid, note, message=kind, title=title, sent_when=sent_when)


def known_entries(locale: str) -> set[tuple[str, str]]:
    """(context, msgid) of every member-facing entry interpreters may change in ``locale``."""
    return {(entry.context, entry.msgid) for entry in entries(locale).values()}


def is_translated(locale: str, context: str, msgid: str) -> bool:
    """Whether members in ``locale`` get this entry in their language: of a plural entry,
    every form of it."""
    form = form_of(context)
    if form is None:
        return translate(msgid, locale, context) != msgid
    # Every number of a form gets the same text: one is enough (each asks Redis whether
    # the overrides changed). A form no member gets needs no translation.
    numbers = plural_rule(locale).samples(form, SENT_COUNTS)[:1]
    return all(translate(msgid, locale, count=number) != msgid for number in numbers)


def member_texts(locale: str) -> list[MemberText]:
    """Every message as members in ``locale`` get it now (an interpreter's draft is not
    sent), each form of a message with forms, named as the editor names it."""
    found = []
    for entry in entries(locale).values():
        if entry.context == KEYWORD_CONTEXT:
            continue
        if entry.form is None:
            found.append(MemberText(entry.title, translate(entry.msgid, locale)))
            continue
        # A form no message takes is still in the catalogue, and may be one day.
        rule = plural_rule(locale)
        numbers = rule.samples(entry.form, SENT_COUNTS) or rule.samples(entry.form)
        if numbers:
            text = translate(entry.msgid, locale, count=numbers[0])
            found.append(MemberText(f"{entry.title} ({entry.form_title})", text))
    return found


@dataclass(frozen=True)
class PluralRule:
    """A language's plural forms, as its catalogue's Plural-Forms header gives them."""

    forms: int
    choose: Callable[[int], int]

    def samples(self, form: int, numbers: range = range(200)) -> list[int]:
        return [number for number in numbers if self.choose(number) == form]

    def title(self, form: int, name: str) -> str:
        """Which numbers ``form`` is for, as a heading: "For 2, 3, 4, 22, 23, 24, 32, 33…
        days"; of a form no message takes, the numbers it would be for ("For 1 day")."""
        numbers = self.samples(form, SENT_COUNTS) or self.samples(form)
        if not numbers:
            return f"For no number of {name} from 0 to 199"
        # The count is named in the plural ("days"): one of them is "1 day".
        unit = name.removesuffix("s") if numbers == [1] else name
        return f"For {listed(numbers).removesuffix('.')} {unit}"

    def numbers(self, form: int, name: str) -> str:
        """Which numbers ``form`` is for, in words for an interpreter."""
        sent = self.samples(form, SENT_COUNTS)
        if sent:
            return f"Used when {name} is {listed(sent)}"
        samples = self.samples(form)
        if samples:
            return (
                f"Never sent: this form is for {name} = {listed(samples)} "
                f"Here {name} is always {SENT_COUNTS.start} or more."
            )
        return f"Not used for any {name} from 0 to 199."


def listed(numbers: list[int]) -> str:
    """The first few of ``numbers``, for a sentence: "3, 4, 5…" or "1."."""
    shown = ", ".join(str(number) for number in numbers[:8])
    return shown + ("…" if len(numbers) > 8 else ".")


def plural_rule(locale: str) -> PluralRule:
    path = _catalogue_path(locale)
    return _plural_rule(path, path.stat().st_mtime_ns)


@lru_cache(maxsize=64)
def _plural_rule(path: Path, _mtime: int) -> PluralRule:
    # Read once per version of the file: the editor asks for every plural entry.
    with path.open("rb") as handle:
        catalog = read_po(handle)
    return PluralRule(catalog.num_plurals, gettext.c2py(catalog.plural_expr))


def _catalogue_path(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"


def shipped_catalogue(locale: str) -> Catalog:
    with _catalogue_path(locale).open("rb") as handle:
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
    mine = saved_for(key, saved)
    if mine is not None:
        return mine.text
    context, msgid = key
    form = form_of(context)
    if form is None:
        return translate(msgid, locale, context)
    # The catalogue's form, English where it has none (as ``overrides.translate``).
    return _shipped_forms(locale).get((msgid, form)) or msgid


def saved_for(key: tuple[str, str], saved: dict[tuple[str, str], Saved]) -> Saved | None:
    """What interpreters saved for ``key``; for a plural form without its own, what they
    saved for the whole message before it had forms (as ``overrides.translate`` reads)."""
    if key in saved:
        return saved[key]
    return saved.get(("", key[1])) if form_of(key[0]) is not None else None


def _shipped_forms(locale: str) -> dict[tuple[str, int], str]:
    """(msgid, form) -> the shipped catalogue's text of each form of its plural entries."""
    path = _catalogue_path(locale)
    return _read_forms(path, path.stat().st_mtime_ns)


@lru_cache(maxsize=64)
def _read_forms(path: Path, _mtime: int) -> dict[tuple[str, int], str]:
    # Read once per version of the file: the editor asks for every form of every entry.
    with path.open("rb") as handle:
        catalog = read_po(handle)
    return {
        (str(message.id[0]), form): text
        for message in catalog
        if message.pluralizable
        for form, text in enumerate(_forms(message))
    }


def _forms(message: Message) -> list[str]:
    """The texts of a plural entry's forms."""
    texts = message.string if isinstance(message.string, tuple | list) else [message.string]
    return [str(text or "") for text in texts]


def export_po(locale: str) -> bytes:
    """The catalogue of ``locale`` as interpreters left it, review states as flags."""
    catalog = shipped_catalogue(locale)
    saved = saved_overrides(locale)
    for message in catalog:
        if not message.id:
            continue
        if message.pluralizable:
            _export_forms(locale, message, saved, catalog.num_plurals)
            continue
        override = saved.get((message.context or "", str(message.id)))
        if override is not None:
            message.string = override.text
            _mark(message, override.state)
    buffer = BytesIO()
    write_po(buffer, catalog, width=0, omit_header=False)
    return buffer.getvalue()


def _export_forms(
    locale: str, message: Message, saved: dict[tuple[str, str], Saved], forms: int
) -> None:
    msgid = str(message.id[0])
    keys = [(form_context(form), msgid) for form in range(forms)]
    mine = [saved_for(key, saved) for key in keys]
    if not any(mine):
        return
    message.string = tuple(working_text(locale, key, saved) for key in keys)
    shipped = state_of(set(message.flags))
    states = [form.state if form else shipped for form in mine]
    # The file has one flag for all the forms: the least reviewed of them.
    known = [state for state in states if state is not None]
    _mark(message, min(known, key=list(STATE_FLAGS).index))


def _behind(state: str, other: str | None) -> bool:
    """Whether ``state`` is less reviewed than ``other``."""
    order = list(STATE_FLAGS)
    return other is not None and order.index(state) < order.index(other)


def _mark(message: Message, state: str) -> None:
    # A person wrote it, so it is not gettext's guess ("fuzzy") whatever the file said.
    message.flags -= {*STATE_FLAGS.values(), "fuzzy"}
    message.flags.add(STATE_FLAGS[state])


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
    shipped = {_key(m): m for m in shipped_catalogue(locale) if m.id}
    known = known_entries(locale)
    for message in catalog:
        if not message.id:
            continue
        msgid = _key(message)[1]
        if message.pluralizable:
            texts = _forms(message)
            keys = [(form_context(form), msgid) for form in range(len(texts))]
        elif msgid in COUNT_OF_MSGID and not message.context:
            # A file from before the message had forms: its text was for every number.
            forms = plural_rule(locale).forms
            texts = [str(message.string or "")] * forms
            keys = [(form_context(form), msgid) for form in range(forms)]
        else:
            texts, keys = [str(message.string or "")], [_key(message)]
        in_shipped = shipped.get(_key(message))
        shipped_state = state_of(set(in_shipped.flags)) if in_shipped else None
        for key, text in zip(keys, texts, strict=True):
            if key not in known:
                continue  # entries the panel does not manage stay in the repository's hands
            if not text:
                continue
            if message.fuzzy:
                if msgid not in report.fuzzy:
                    report.fuzzy.append(msgid)
                continue
            problems = translation_problems(key[0], key[1], locale, text)
            if problems:
                report.errors.append(f"{_name(key)}: " + " ".join(problems))
                continue
            state = state_of(set(message.flags))
            current = saved[key].state if key in saved else shipped_state
            # The one flag of a plural entry is its least reviewed form's (``export_po``):
            # it says nothing against a form that is further along.
            behind = len(keys) > 1 and state is not None and _behind(state, current)
            if text == working_text(locale, key, saved) and (state in (None, current) or behind):
                report.unchanged += 1
                continue
            report.changes.append(ImportedEntry(key[0], key[1], text, state))
    return report


def _key(message: Message) -> tuple[str, str]:
    """(context, msgid) of a catalogue entry; of a plural one, its singular msgid."""
    msgid = message.id[0] if isinstance(message.id, tuple | list) else message.id
    return message.context or "", str(msgid)


def _name(key: tuple[str, str]) -> str:
    """An entry as an error message names it: the start of its English text, and which
    plural form."""
    form = form_of(key[0])
    return f"{key[1][:50]!r}" + (f" (form {form})" if form is not None else "")


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
