"""feedback-bot: feedback by SMS or WhatsApp, acknowledged always, answered in the end."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dotenv import load_dotenv
from flask import Flask

from . import config as settings
from .extensions import csrf, db, migrate


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app from the environment, or from ``test_config`` in tests."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(settings.defaults())
    if test_config is None:
        load_dotenv(Path.cwd() / ".env")
        app.config.update(settings.from_environment(os.environ, Path(app.instance_path)))
    else:
        app.config.update(test_config)
    settings.validate(app.config)

    register_logging(app)
    register_extensions(app)
    register_subsystems(app)
    register_blueprints(app)
    return app


def register_logging(app: Flask) -> None:
    from .logs import configure_logging

    configure_logging(app)


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(
        app, db, directory=str(Path(__file__).parent / "migrations"), render_as_batch=True
    )
    csrf.init_app(app)


def register_subsystems(app: Flask) -> None:
    from . import i18n, jobs, messaging, privacy

    i18n.init_app(app)
    privacy.init_app(app)
    messaging.init_app(app)
    jobs.init_app(app)


def register_blueprints(app: Flask) -> None:
    from .health import bp as health_bp
    from .webhooks import bp as webhooks_bp

    app.register_blueprint(health_bp)
    app.register_blueprint(webhooks_bp, url_prefix="/webhooks/twilio")
    # Twilio signs its requests; it cannot send a CSRF token.
    csrf.exempt(webhooks_bp)

    if app.config["SIMULATOR_ENABLED"]:
        from .simulator import bp as simulator_bp

        app.register_blueprint(simulator_bp, url_prefix="/simulator")
