"""A translation must keep exactly the placeholders of its source.

Babel's own python-format checker lets a translation drop a placeholder (it only refuses
unknown ones), and a dropped ``%(ref)s`` would send a member a message without their
reference, so the rule is checked here, naming each placeholder that is wrong.
"""

from __future__ import annotations

import re
from collections import Counter

PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|\{(\w+)\}")


def placeholders(text: str) -> Counter[str]:
    return Counter(match.group(0) for match in PLACEHOLDER.finditer(text))


def placeholder_problems(source: str, translation: str) -> list[str]:
    """What is wrong with ``translation``'s placeholders, in words; empty when all is well."""
    wanted, found = placeholders(source), placeholders(translation)
    problems = [
        f"The translation must keep {name}."
        for name in sorted(wanted)
        if found[name] < wanted[name]
    ]
    problems += [
        f"{name} is not in the original; remove it."
        for name in sorted(found)
        if found[name] > wanted[name]
    ]
    if not problems and "%(" in source:
        try:
            translation % {name: "" for name in re.findall(r"%\((\w+)\)", source)}
        except (ValueError, TypeError, KeyError):
            problems.append("A lone % sign breaks the message; write %% for a percent sign.")
    return problems
