"""Every process compiles the catalogues it reads, and production refuses to run without.

The ``.mo`` files are git-ignored build products; a release phase that compiles them in a
throwaway container (as Heroku's does) leaves the web and worker processes without, and
every language would silently render in English.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from babel.support import Translations

from feedback_bot.config import SHIPPED_LOCALES, TRANSLATIONS, ConfigError

ACK = (
    "Thank you, we got your message. A person will read it. We will tell you what happens "
    "next within %(days)s days. Ref %(ref)s. Reply STOP to stop."
)


def catalogues(tmp_path: Path, locales: tuple[str, ...] = SHIPPED_LOCALES) -> Path:
    """A copy of the shipped ``.po`` files, as a fresh clone has them: no ``.mo``."""
    directory = tmp_path / "translations"
    for locale in locales:
        target = directory / locale / "LC_MESSAGES"
        target.mkdir(parents=True)
        shutil.copy(TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po", target)
    return directory


def ensure_compiled(directory: Path, required: tuple[str, ...]) -> list[str]:
    from feedback_bot.i18n.compiled import ensure_compiled

    return ensure_compiled(directory, required)


def welsh_ack(directory: Path) -> str:
    translations = Translations.load(str(directory), ["cy"])
    return str(translations.ungettext(ACK, ACK, 21))  # an entry with a form per number


def test_missing_catalogues_are_compiled(tmp_path):
    directory = catalogues(tmp_path)
    assert ensure_compiled(directory, SHIPPED_LOCALES) == []
    for locale in SHIPPED_LOCALES:
        assert (directory / locale / "LC_MESSAGES" / "messages.mo").is_file()
    assert welsh_ack(directory).startswith("Diolch")
    assert not list(directory.rglob("*.tmp"))


def test_a_catalogue_older_than_its_po_is_compiled_again(tmp_path):
    directory = catalogues(tmp_path, ("cy",))
    ensure_compiled(directory, ("cy",))
    po = directory / "cy" / "LC_MESSAGES" / "messages.po"
    mo = po.with_suffix(".mo")
    thanks = '] "Diolch am eich neges.'  # msgstr[N] "...
    po.write_text(po.read_text().replace(thanks, '] "Diolch yn fawr am eich neges.'))
    old = po.stat().st_mtime - 60
    os.utime(mo, (old, old))
    ensure_compiled(directory, ("cy",))
    assert welsh_ack(directory).startswith("Diolch yn fawr")


def test_a_current_catalogue_is_left_alone(tmp_path):
    directory = catalogues(tmp_path, ("cy",))
    ensure_compiled(directory, ("cy",))
    mo = directory / "cy" / "LC_MESSAGES" / "messages.mo"
    mo.write_bytes(mo.read_bytes())  # newer than its .po
    before = mo.stat().st_mtime_ns
    ensure_compiled(directory, ("cy",))
    assert mo.stat().st_mtime_ns == before


def test_building_the_app_compiles_the_catalogues(make_app, tmp_path):
    directory = catalogues(tmp_path)
    make_app(BABEL_TRANSLATION_DIRECTORIES=str(directory))
    assert welsh_ack(directory).startswith("Diolch")


def test_production_refuses_a_language_without_a_compiled_catalogue(make_app, tmp_path):
    directory = catalogues(tmp_path, ("en", "cy"))  # the other shipped languages are missing
    with pytest.raises(ConfigError) as caught:
        make_app(FEEDBACK_ENV="production", BABEL_TRANSLATION_DIRECTORIES=str(directory))
    message = str(caught.value)
    assert "ar" in message and "uk" in message
    assert "English" in message


def test_outside_production_a_missing_catalogue_is_only_a_warning(make_app, tmp_path, caplog):
    directory = catalogues(tmp_path, ("en", "cy"))
    make_app(BABEL_TRANSLATION_DIRECTORIES=str(directory))
    assert "no compiled catalogue (.mo) for ar" in caplog.text
