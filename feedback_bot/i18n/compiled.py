"""Compiled catalogues: every process makes sure the ``.mo`` files it reads are there.

Why here, and not only in a release or build step: the ``.mo`` files are built, not
committed (they are git-ignored), and a platform's release phase may run in a throwaway
container (Heroku's release dyno keeps no files), so catalogues compiled there reach no web
or worker process. Without its ``.mo`` a language renders in English, and nothing says so.
So building the app compiles every catalogue whose ``.mo`` is missing or older than its
``.po`` (a few seconds, once per deployment; otherwise only file times are compared), and
production refuses to start while a shipped language has no compiled catalogue (say, on a
read-only file system). Each ``.mo`` is written to a temporary file and renamed into place,
so processes starting together (gunicorn's workers) never read half a catalogue.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

log = logging.getLogger(__name__)

CATALOGUE = Path("LC_MESSAGES") / "messages.po"


def compiled_path(directory: Path, locale: str) -> Path:
    return directory / locale / CATALOGUE.with_suffix(".mo")


def is_stale(po: Path, mo: Path) -> bool:
    try:
        return mo.stat().st_mtime < po.stat().st_mtime
    except FileNotFoundError:
        return True


def compile_catalogue(po: Path, mo: Path) -> bool:
    """Compile ``po`` into ``mo`` as ``pybabel compile`` does; False if Babel would not."""
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=po.parent.parent.name)
    if catalog.fuzzy:
        log.error("%s is marked fuzzy as a whole: not compiled (as pybabel would not)", po)
        return False
    temporary = mo.with_name(f".{mo.name}.{secrets.token_hex(4)}.tmp")
    try:
        with temporary.open("wb") as handle:
            write_mo(handle, catalog)
        os.replace(temporary, mo)
    finally:
        temporary.unlink(missing_ok=True)
    return True


def ensure_compiled(directory: Path, required: Iterable[str]) -> list[str]:
    """Compile each catalogue under ``directory`` whose ``.mo`` is missing or stale.

    Returns those of the ``required`` locales that still have no ``.mo``.
    """
    for po in sorted(directory.glob(f"*/{CATALOGUE}")):
        mo = po.with_suffix(".mo")
        if not is_stale(po, mo):
            continue
        try:
            if compile_catalogue(po, mo):
                log.info("compiled %s", mo)
        except Exception:  # a bad catalogue must not stop the others: reported below
            log.exception("could not compile %s", po)
    return [locale for locale in required if not compiled_path(directory, locale).is_file()]
