"""feedback-bot: feedback by SMS or WhatsApp, acknowledged always, answered in the end."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
from dotenv import load_dotenv
from flask import Flask
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter, Map

from . import config as settings
from .extensions import csrf, db, migrate
from .refs import MAX_ID


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app from the environment, or from ``test_config`` in tests.

    Under the ``flask`` command a ``ConfigError`` becomes click's own error, which click
    prints as one line ("Error: REDIS_URL ...") before exiting 1: the operator's mistake,
    not a traceback to read through. Every other exception keeps its traceback: that is a
    bug, and the traceback is how it is found. (gunicorn prints a ``ConfigError`` as one
    line by itself, and ``worker.py`` catches it.)
    """
    try:
        return build_app(test_config)
    except settings.ConfigError as exc:
        if click.get_current_context(silent=True) is None:
            raise
        raise click.ClickException(str(exc)) from exc


def build_app(test_config: Mapping[str, Any] | None) -> Flask:
    # FEEDBACK_INSTANCE_PATH moves generated secrets, SQLite and spool out of the checkout.
    instance_path = os.environ.get("FEEDBACK_INSTANCE_PATH") if test_config is None else None
    app = Flask(
        __name__,
        instance_relative_config=True,
        instance_path=str(Path(instance_path).resolve()) if instance_path else None,
    )
    # Every template reads members' words through it, as its reader may (``admin.reading``):
    # set before anything (Flask-Babel, a blueprint's filters) builds the environment.
    from .admin.reading import PanelEnvironment

    app.jinja_environment = PanelEnvironment
    app.config.update(settings.defaults())
    if test_config is None:
        load_dotenv(Path.cwd() / ".env")
        app.config.update(settings.from_environment(os.environ, Path(app.instance_path)))
    else:
        app.config.update(test_config)
    settings.validate(app.config)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = settings.engine_options(app.config)

    hops = int(app.config.get("PROXY_FIX_HOPS") or 0)
    if hops:
        # Behind a load balancer: the client's address (for the login rate limit) and the
        # scheme come from the proxy's headers. Signatures never depend on them.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    register_logging(app)
    register_extensions(app)
    register_subsystems(app)
    register_url_converters(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_commands(app)
    return app


class RowIdConverter(IntegerConverter):
    """``<int:...>`` in every route: a row id, so from 1 to ``MAX_ID``; larger is a 404.

    Ids are 32-bit in the database: a larger number fails the query on PostgreSQL and
    overflows on SQLite, a 500 instead of "no such item".
    """

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def register_url_converters(app: Flask) -> None:
    # Replacing ``int`` itself (before any blueprint adds its rules) bounds every id in
    # every route, those of blueprints written later included, with no route to change.
    app.url_map.converters["int"] = RowIdConverter


def register_error_handlers(app: Flask) -> None:
    from .errors import error_page, form_expired

    # A form left open too long: say so and keep what was typed, not a bare 400.
    app.register_error_handler(CSRFError, form_expired)
    # Every other error a person can meet (403, 404, 405, 500...) as a page of the panel,
    # with a way on. Blueprints that answer their own (the webhooks' plain text, the
    # simulator's JSON) keep doing so: their handlers come first for their views.
    app.register_error_handler(HTTPException, error_page)


def register_logging(app: Flask) -> None:
    from .logs import configure_logging

    configure_logging(app)


def register_extensions(app: Flask) -> None:
    from .dbutil import lower_every_letter_in_sqlite

    lower_every_letter_in_sqlite()
    db.init_app(app)
    migrate.init_app(
        app, db, directory=str(Path(__file__).parent / "migrations"), render_as_batch=True
    )
    csrf.init_app(app)

    from .auth import init_app as init_auth

    # Flask-Login (login view auth.login) and the login rate limit (in the app's Redis).
    init_auth(app)


def register_subsystems(app: Flask) -> None:
    from . import i18n, jobs, messaging, privacy, security

    security.init_app(app)
    i18n.init_app(app)
    privacy.init_app(app)
    messaging.init_app(app)
    jobs.init_app(app)


def register_commands(app: Flask) -> None:
    from . import demo, keys

    demo.init_app(app)
    keys.init_app(app)


def register_blueprints(app: Flask) -> None:
    from .admin import bp as admin_bp
    from .auth import bp as auth_bp
    from .health import bp as health_bp
    from .webhooks import bp as webhooks_bp

    app.register_blueprint(health_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(webhooks_bp, url_prefix="/webhooks/twilio")
    from .interpreters import bp as interpreters_bp
    from .media import bp as media_bp

    app.register_blueprint(interpreters_bp, url_prefix="/admin/translate")
    from .whatsapp import bp as whatsapp_bp

    app.register_blueprint(media_bp, url_prefix="/admin/media")

    app.register_blueprint(whatsapp_bp, url_prefix="/admin/whatsapp-templates")
    # Twilio signs its requests; it cannot send a CSRF token.
    csrf.exempt(webhooks_bp)

    from .dashboard import bp as dashboard_bp
    from .exports import bp as exports_bp
    from .public import bp as public_bp

    app.register_blueprint(dashboard_bp, url_prefix="/admin/dashboard")
    app.register_blueprint(exports_bp, url_prefix="/admin/export")
    app.register_blueprint(public_bp)

    if app.config["SIMULATOR_ENABLED"]:
        from .simulator import bp as simulator_bp

        app.register_blueprint(simulator_bp, url_prefix="/simulator")
