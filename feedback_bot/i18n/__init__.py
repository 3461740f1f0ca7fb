"""Translations: locale selection for web pages and the ``flask translate`` commands."""

from __future__ import annotations

from flask import Flask, request, session

from ..extensions import babel
from .cli import translate_cli


def select_locale() -> str | None:
    from ..languages import enabled_locales

    shipped = enabled_locales()
    chosen = session.get("locale")
    if chosen in shipped:
        return str(chosen)
    return request.accept_languages.best_match(shipped)


def init_app(app: Flask) -> None:
    babel.init_app(
        app,
        default_locale=app.config["DEFAULT_LOCALE"],
        locale_selector=select_locale,
    )
    app.cli.add_command(translate_cli)
