"""``flask translate extract|update|compile|init``: Babel's own commands, run in-process.

Babel is called through its Python API with an argument list: no shell string is ever
built, so no locale name or path can inject a command.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import click
from babel.messages.frontend import CommandLineInterface

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "translations"
TEMPLATE = TRANSLATIONS / "messages.pot"
# NP_ marks a message with a context (the keywords members can send); NN_ one whose
# wording depends on a number, extracted as a plural entry (``messaging.templates.NN_``).
KEYWORD_SPECS = ("-k", "NP_:1c,2", "-k", "NN_:1,1")


def pybabel(*args: str) -> None:
    # From the project root, so that the catalogues name files by their relative path.
    with contextlib.chdir(ROOT):
        CommandLineInterface().run(["pybabel", "-q", *args])


@click.group("translate", help="Manage the translation catalogues under translations/.")
def translate_cli() -> None:
    pass


@translate_cli.command("extract")
def extract() -> None:
    """Collect every translatable string into translations/messages.pot."""
    pybabel(
        "extract",
        "-F",
        str(ROOT / "babel.cfg"),
        *KEYWORD_SPECS,
        "--no-wrap",
        "--sort-by-file",
        "--project",
        "feedback-bot",
        "--add-comments",
        "TRANSLATORS:",
        "-o",
        str(TEMPLATE.relative_to(ROOT)),
        ".",
    )
    click.echo(f"Wrote {TEMPLATE.relative_to(ROOT)}")


@translate_cli.command("update")
def update() -> None:
    """Extract, then merge new strings into every catalogue."""
    extract.callback()  # type: ignore[misc]
    pybabel("update", "--no-wrap", "-i", str(TEMPLATE), "-d", str(TRANSLATIONS))


@translate_cli.command("compile")
def compile_() -> None:
    """Build the .mo files the app reads."""
    compile_catalogues()


@translate_cli.command("init")
@click.argument("locale")
def init(locale: str) -> None:
    """Start a catalogue for LOCALE (for example 'fr' or 'pt_BR')."""
    from babel import Locale, UnknownLocaleError

    try:
        Locale.parse(locale)
    except (ValueError, UnknownLocaleError) as exc:
        raise click.BadParameter(f"{locale!r} is not a locale Babel knows") from exc
    if not TEMPLATE.exists():
        extract.callback()  # type: ignore[misc]
    pybabel("init", "--no-wrap", "-i", str(TEMPLATE), "-d", str(TRANSLATIONS), "-l", locale)


def compile_catalogues() -> None:
    pybabel("compile", "-d", str(TRANSLATIONS))
