"""Translations: locale selection for web pages and the ``flask translate`` commands."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, request, session

from ..config import ConfigError
from ..extensions import babel
from .cli import translate_cli
from .compiled import ensure_compiled


def select_locale() -> str | None:
    from ..languages import enabled_locales

    shipped = enabled_locales()
    chosen = session.get("locale")
    if chosen in shipped:
        return str(chosen)
    return request.accept_languages.best_match(shipped)


def check_catalogues(app: Flask) -> None:
    """Compile what is missing or stale; production refuses a language left uncompiled
    (it would be answered in English). See ``compiled`` for why this runs at start."""
    directories = [
        Path(entry) for entry in str(app.config["BABEL_TRANSLATION_DIRECTORIES"]).split(";")
    ]
    missing = set(app.config["SHIPPED_LOCALES"])
    for directory in directories:
        missing &= set(ensure_compiled(directory, sorted(missing)))
    if not missing:
        return
    problem = (
        f"no compiled catalogue (.mo) for {', '.join(sorted(missing))} under "
        f"{', '.join(map(str, directories))}, and it could not be compiled (see the log above)"
    )
    if app.config.get("FEEDBACK_ENV") == "production":
        raise ConfigError(problem + "; these languages would be answered in English")
    app.logger.warning("%s: those languages will show in English", problem)


def init_app(app: Flask) -> None:
    check_catalogues(app)
    babel.init_app(
        app,
        default_locale=app.config["DEFAULT_LOCALE"],
        locale_selector=select_locale,
    )
    app.cli.add_command(translate_cli)
