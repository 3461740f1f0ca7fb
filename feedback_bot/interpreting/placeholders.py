"""A translation must keep exactly the placeholders of its source.

Babel's own python-format checker lets a translation drop a placeholder (it only refuses
unknown ones), and a dropped ``%(ref)s`` would send a member a message without their
reference, so the rule is checked here, naming each placeholder that is wrong. Placeholders
are found with Babel's parser of Python's format, which knows that ``%%(ref)s`` is an
escaped percent sign followed by the text "(ref)s"; then the translation is rendered as
members would get it, to be sure each value really appears, once.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Set

from babel.messages.catalog import PYTHON_FORMAT

BRACES = re.compile(r"\{(\w+)\}")
LONE_PERCENT = "A lone % sign breaks the message; write %% for a percent sign."


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
    problems = [
        f"The translation must keep {name}."
        for name in sorted(wanted)
        if found[name] < wanted[name] and not (found[name] == 0 and name in may_drop)
    ]
    problems += [
        f"{name} is not in the original; remove it."
        for name in sorted(found)
        if found[name] > wanted[name]
    ]
    return problems or _rendering_problems(source, translation, optional)


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
