"""A translation must keep exactly the placeholders of its source.

Babel's own python-format checker lets a translation drop a placeholder (it only refuses
unknown ones), and a dropped ``%(ref)s`` would send a member a message without their
reference, so the rule is checked here, naming each placeholder that is wrong. Placeholders
are found with Babel's parser of Python's format, which knows that ``%%(ref)s`` is an
escaped percent sign followed by the text "(ref)s"; then the translation is rendered as
members would get it, to be sure each value really appears, once.

What the parser finds is not what the interpreter meant: "%(days) dni" (the s forgotten)
parses as the placeholder "%(days) d" followed by "ni". So a mistyped placeholder is looked
for first, loosely (``ATTEMPT``), and the interpreter is told, in words, what to change to
write it as the original does.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Set
from dataclasses import dataclass

from babel.messages.catalog import PYTHON_FORMAT

from ..messaging.templates import PLACEHOLDER_MEANINGS

BRACES = re.compile(r"\{(\w+)\}")
LONE_PERCENT = "A lone % sign breaks the message; write %% for a percent sign."

# A bracketed word written as a placeholder: a % (or several) before it, spaced or not, and
# whatever follows the bracket. The brackets may be full-width ones ("（days）"), as some
# keyboards give.
ATTEMPT = re.compile(
    r"(?:(?P<percent>%+)(?P<space>[ \t]*))?(?P<open>[(（])[ \t]*(?P<name>[^\W\d]\w*)[ \t]*"
    r"(?P<close>[)）]?)(?=(?P<after>[ \t]*\S?))"
)
# A placeholder's name after a % with no brackets: "%days".
BARE = re.compile(r"(?<!%)%(?P<name>[^\W\d]\w*)")


def placeholders(text: str) -> Counter[str]:
    """Each named placeholder in ``text`` ("%(ref)s", "{ref}"), with how often it occurs."""
    found = Counter(match.group(0) for match in PYTHON_FORMAT.finditer(text) if match.group(1))
    found.update(match.group(0) for match in BRACES.finditer(text))
    return found


def placeholder_problems(
    source: str, translation: str, optional: Set[str] = frozenset()
) -> list[str]:
    """What is wrong with ``translation``'s placeholders, in words; empty when all is well.
    The values named in ``optional`` may be left out, never added."""
    wanted, found = placeholders(source), placeholders(translation)
    may_drop = {f"%({name})s" for name in optional}
    mistakes = _mistyped(source, translation, wanted, found)
    problems = [mistake.problem for mistake in mistakes]
    meant = {mistake.meant for mistake in mistakes}
    problems += [
        _missing(name)
        for name in sorted(wanted)
        if found[name] < wanted[name]
        and not (found[name] == 0 and name in may_drop)
        and name not in meant
    ]
    explained = [mistake.span for mistake in mistakes]
    for name in sorted(found):
        if found[name] <= wanted[name]:
            continue
        if wanted[name]:
            problems.append(_too_many(name, wanted[name], found[name]))
        elif not _all_explained(name, translation, explained):
            problems.append(f"{name} is not in the original; remove it.")
    return problems or _rendering_problems(source, translation, optional)


def _missing(name: str) -> str:
    word = re.search(r"\w+", name)
    meaning = PLACEHOLDER_MEANINGS.get(word.group(0)) if word else None
    what = f", which puts in {meaning}" if meaning else ""
    return f"The translation must keep {name}{what}: write it exactly like that."


def _too_many(name: str, wanted: int, found: int) -> str:
    if wanted == 1:
        return f"{name} is in the original once; remove the extra one."
    return f"{name} is in the original {wanted} times, not {found}; remove the extra ones."


def _all_explained(name: str, text: str, spans: list[tuple[int, int]]) -> bool:
    """Whether every occurrence of placeholder ``name`` in ``text`` is part of a mistake
    already explained."""
    return all(
        any(start <= match.start() < end for start, end in spans)
        for match in re.finditer(re.escape(name), text)
    )


@dataclass(frozen=True)
class _Mistake:
    meant: str  # the placeholder as the original writes it, or "" if unknown
    span: tuple[int, int]
    problem: str


def _mistyped(
    source: str, translation: str, wanted: Counter[str], found: Counter[str]
) -> list[_Mistake]:
    """Placeholders written almost as the original writes them, each with what to change."""
    names = [name[2:-2] for name in wanted if name.startswith("%(")]
    by_folded = {name.casefold(): name for name in names}
    # The original's placeholders the translation lacks: what an unknown name may stand for.
    missing = [name for name in names if found[f"%({name})s"] < wanted[f"%({name})s"]]
    attempts = list(ATTEMPT.finditer(translation))
    # A name not the original's stands for the one missing placeholder only when it is the
    # one such name: of two, which would it be?
    unknown = [
        match
        for match in attempts
        if match.group("name").casefold() not in by_folded
        and len(match.group("percent") or "") % 2 == 1
        and not match.group("space")
    ]
    mistakes = []
    for match in attempts:
        mistake = _attempt(match, by_folded, missing, guess=len(unknown) == 1)
        if mistake is not None:
            mistakes.append(mistake)
    for match in BARE.finditer(translation):
        typed = match.group("name")
        meant = next((name for name in names if typed.casefold().startswith(name.casefold())), None)
        if meant is not None:
            mistakes.append(
                _Mistake(
                    f"%({meant})s",
                    match.span(),
                    f"Write %({meant})s exactly: the brackets around {meant} are missing "
                    f"(you wrote “{match.group(0)}”).",
                )
            )
    for match in BRACES.finditer(translation):
        meant = by_folded.get(match.group(1).casefold())
        if meant is not None and match.group(0) not in wanted:
            mistakes.append(
                _Mistake(
                    f"%({meant})s",
                    match.span(),
                    f"Write %({meant})s exactly: this message writes it with % and round "
                    f"brackets, not curly ones (you wrote “{match.group(0)}”).",
                )
            )
    return mistakes


def _attempt(
    match: re.Match[str], by_folded: dict[str, str], missing: list[str], guess: bool
) -> _Mistake | None:
    """What is wrong with a bracketed word that looks meant as a placeholder; None if it is
    one written right, or only words in brackets ("100% (about)", "(dni)")."""
    percent, space = match.group("percent") or "", match.group("space") or ""
    typed, close, after = match.group("name"), match.group("close"), match.group("after")
    meant = by_folded.get(typed.casefold())
    one_percent = len(percent) % 2 == 1  # "%%" is a percent sign; "%%%" one, then a %
    if not (
        (one_percent and not space)
        or (percent and meant)
        or (meant and close and after.strip() in ("s", "S"))
    ):
        return None
    # What they wrote, to show them: the s too, if there is one; not the next word.
    end = match.end() + len(after) if after.strip() in ("s", "S") else match.end()
    span = (match.start(), end)
    wrote = match.string[span[0] : span[1]]
    if meant is None:
        guessed = guess and len(missing) == 1
        meant_for = f"%({missing[0]})s" if guessed else ""
        return _Mistake(meant_for, span, _unknown_name(wrote, missing, guessed))
    faults = []
    if not percent:
        faults.append("the % before the bracket is missing")
    elif not one_percent:
        faults.append("write one % before the bracket: %% makes a percent sign")
    if space:
        faults.append("take out the space between % and the bracket")
    if match.group("open") != "(" or (close and close != ")"):
        faults.append("use plain round brackets ( ), as in the original")
    if not close:
        faults.append("the closing bracket ) is missing")
    inside = match.string[match.end("open") : match.start("close") if close else match.end("name")]
    if inside != typed:
        faults.append("take out the spaces inside the brackets")
    if typed != meant:
        faults.append(f"write {meant} inside the brackets as the original does")
    if after.strip() == "S":
        faults.append("the s after the bracket must be a small s")
    elif after.strip() == "s" and after != "s":
        faults.append("take out the space between the bracket and the s")
    elif after.strip() != "s":
        faults.append("the s after the bracket is missing")
    if not faults:
        return None
    return _Mistake(
        f"%({meant})s",
        span,
        f"Write %({meant})s exactly: {'; '.join(faults)} (you wrote “{wrote}”).",
    )


def _unknown_name(wrote: str, missing: list[str], guessed: bool) -> str:
    """A placeholder whose name is not the original's: translated, or made up; ``guessed``
    when it can only stand for the one placeholder missing."""
    if guessed:
        return (
            f"Write %({missing[0]})s exactly: the word in brackets stays {missing[0]}, as in "
            f"the original, even in your language (you wrote “{wrote}”)."
        )
    if not missing:
        return f"{wrote} is not in the original; remove it."
    listed = ", ".join(f"%({name})s" for name in missing)
    return (
        f"{wrote} is not in the original: the word in brackets stays as the original writes "
        f"it, in English. This message still needs {listed}."
    )


def _rendering_problems(source: str, translation: str, optional: Set[str]) -> list[str]:
    """Render both as a member's message is rendered (``%`` with the values, when the source
    has any) with a marker for each value: every marker must come out as often as from the
    source, and rendering must not fail."""
    names = {match.group(1) for match in PYTHON_FORMAT.finditer(source) if match.group(1)}
    if not names:
        return []  # rendered as it is, with no % formatting
    markers = {name: f"\ue000{name}\ue001" for name in names}
    try:
        rendered = translation % markers
    except (ValueError, TypeError, KeyError):
        return [LONE_PERCENT]
    expected = source % markers
    return [
        f"The translation must keep %({name})s, exactly as written here."
        for name, marker in sorted(markers.items())
        if rendered.count(marker) != expected.count(marker)
        and not (rendered.count(marker) == 0 and name in optional)
    ]
