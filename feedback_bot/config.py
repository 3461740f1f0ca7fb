"""Configuration from the environment.

Three modes, chosen by ``FEEDBACK_ENV``:

* ``production`` (the default, so that a forgotten variable fails loudly rather than
  quietly running with development secrets): every secret and service URL must be set.
* ``development``: anything missing is generated into the instance folder (and the app
  says so), SQLite lives there too, and without Twilio credentials messages go to the
  console transport.
* tests pass a mapping straight to ``create_app``.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

log = logging.getLogger(__name__)

SHIPPED_LOCALES = ("en", "cy", "pl", "ro", "ur", "ar", "bn", "so", "es", "uk")

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"

PRODUCTION_REQUIRED = (
    "SECRET_KEY",
    "FEEDBACK_ENCRYPTION_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "PUBLIC_BASE_URL",
)


class ConfigError(RuntimeError):
    """The configuration cannot work; the message says what to set."""


def env_bool(value: str | None, default: bool = False) -> bool:
    if value is None or value.strip() == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"expected a boolean, got {value!r}")


def env_int(value: str | None, default: int, minimum: int = 0) -> int:
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise ConfigError(f"expected a whole number, got {value!r}") from exc
    if number < minimum:
        raise ConfigError(f"expected a number of at least {minimum}, got {number}")
    return number


def env_float(value: str | None, default: float, minimum: float = 0.0) -> float:
    if value is None or value.strip() == "":
        return default
    try:
        number = float(value)
    except ValueError as exc:
        raise ConfigError(f"expected a number, got {value!r}") from exc
    if number < minimum:
        raise ConfigError(f"expected a number of at least {minimum}, got {number}")
    return number


def env_list(value: str | None) -> list[str]:
    if not value:
        return []
    return [part.strip() for part in value.split(",") if part.strip()]


def defaults() -> dict[str, Any]:
    """Settings that do not depend on the environment."""
    return {
        "SHIPPED_LOCALES": SHIPPED_LOCALES,
        "DEFAULT_LOCALE": "en",
        "STAFF_LOCALE": "en",
        "ORG_NAME": "Feedback",
        "ACK_COALESCE_SECONDS": 120,
        "INTERIM_UPDATE_DAYS": 21,
        "RATING_REPLY_DAYS": 7,
        "QUIET_HOURS_START": 21,
        "QUIET_HOURS_END": 8,
        "SEND_RATE_PER_SECOND": 10.0,
        "BULK_QUEUE_NAME": "feedback-bulk",
        "WHATSAPP_SMS_FALLBACK": True,
        "PROXY_FIX_HOPS": 0,
        "PRELOAD_LANGUAGE_MODELS": False,
        "MEDIA_DIR": None,
        "MEDIA_MAX_BYTES": 16 * 1024 * 1024,
        "LANGUAGE_DETECTION_MIN_CONFIDENCE": 0.5,
        "LANGUAGE_MENU_REPLY_MINUTES": 60,
        "MAX_INBOUND_BODY_CHARS": 10_000,
        "MAX_NUM_MEDIA": 10,
        "WEBHOOK_MAX_CONTENT_LENGTH": 64 * 1024,
        "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
        "TWILIO_TIMEOUT_SECONDS": 10.0,
        "SEND_MAX_ATTEMPTS": 12,
        "SEND_BACKOFF_BASE_SECONDS": 2.0,
        "SEND_BACKOFF_MAX_SECONDS": 900.0,
        "SENDING_STUCK_SECONDS": 60,
        "DATABASE_CONNECT_TIMEOUT_SECONDS": 5,
        # A stored message still unprocessed after this long has lost its intake job.
        "INTAKE_STUCK_SECONDS": 5,
        # A decision's fan-out requested this long ago and not finished has lost its job.
        "FAN_OUT_STUCK_SECONDS": 60,
        "SWEEP_INTERVAL_SECONDS": 30,
        "SWEEP_BATCH_SIZE": 500,
        "QUEUE_NAME": "feedback",
        "SPOOL_DIR": None,
        "TWILIO_API_BASE_URL": None,
        "TWILIO_ACCOUNT_SID": None,
        "TWILIO_AUTH_TOKEN": None,
        "TWILIO_SMS_FROM": None,
        "TWILIO_MESSAGING_SERVICE_SID": None,
        "TWILIO_WHATSAPP_FROM": None,
        "TWILIO_INBOUND_NUMBERS": [],
        "SIMULATOR_ENABLED": False,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "BABEL_TRANSLATION_DIRECTORIES": str(TRANSLATIONS),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
    }


def from_environment(environ: Mapping[str, str], instance_path: Path) -> dict[str, Any]:
    """Read settings from ``environ``; fail fast in production, fill gaps in development."""
    mode = environ.get("FEEDBACK_ENV", "production").strip().lower()
    if mode not in {"production", "development"}:
        raise ConfigError(f"FEEDBACK_ENV must be 'production' or 'development', got {mode!r}")

    config: dict[str, Any] = {"FEEDBACK_ENV": mode}
    passthrough = (
        "SECRET_KEY",
        "FEEDBACK_ENCRYPTION_KEY",
        "REDIS_URL",
        "PUBLIC_BASE_URL",
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_SMS_FROM",
        "TWILIO_MESSAGING_SERVICE_SID",
        "TWILIO_WHATSAPP_FROM",
        "TWILIO_API_BASE_URL",
        "DEFAULT_LOCALE",
        "STAFF_LOCALE",
        "ORG_NAME",
        "SPOOL_DIR",
        "MEDIA_DIR",
    )
    for name in passthrough:
        if environ.get(name):
            config[name] = environ[name].strip()
    if environ.get("DATABASE_URL"):
        config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(environ["DATABASE_URL"])

    config["ACK_COALESCE_SECONDS"] = env_int(environ.get("ACK_COALESCE_SECONDS"), 120)
    config["INTERIM_UPDATE_DAYS"] = env_int(environ.get("INTERIM_UPDATE_DAYS"), 21, minimum=1)
    config["TWILIO_TIMEOUT_SECONDS"] = env_float(environ.get("TWILIO_TIMEOUT_SECONDS"), 10.0, 0.1)
    config["SEND_MAX_ATTEMPTS"] = env_int(environ.get("SEND_MAX_ATTEMPTS"), 12, minimum=1)
    config["SWEEP_INTERVAL_SECONDS"] = env_int(environ.get("SWEEP_INTERVAL_SECONDS"), 30, 1)
    config["SENDING_STUCK_SECONDS"] = env_int(environ.get("SENDING_STUCK_SECONDS"), 60, 1)
    config["INTAKE_STUCK_SECONDS"] = env_int(environ.get("INTAKE_STUCK_SECONDS"), 5, 0)
    config["FAN_OUT_STUCK_SECONDS"] = env_int(environ.get("FAN_OUT_STUCK_SECONDS"), 60, 0)
    config["DATABASE_CONNECT_TIMEOUT_SECONDS"] = env_int(
        environ.get("DATABASE_CONNECT_TIMEOUT_SECONDS"), 5, 1
    )
    config["SEND_RATE_PER_SECOND"] = env_float(environ.get("SEND_RATE_PER_SECOND"), 10.0, 0.1)
    config["QUIET_HOURS_START"] = env_int(environ.get("QUIET_HOURS_START"), 21)
    config["QUIET_HOURS_END"] = env_int(environ.get("QUIET_HOURS_END"), 8)
    config["MEDIA_MAX_BYTES"] = env_int(environ.get("MEDIA_MAX_BYTES"), 16 * 1024 * 1024, 1)
    config["PRELOAD_LANGUAGE_MODELS"] = env_bool(environ.get("PRELOAD_LANGUAGE_MODELS"), False)
    config["PROXY_FIX_HOPS"] = env_int(environ.get("PROXY_FIX_HOPS"), 0)
    config["WHATSAPP_SMS_FALLBACK"] = env_bool(environ.get("WHATSAPP_SMS_FALLBACK"), True)
    config["TWILIO_INBOUND_NUMBERS"] = env_list(environ.get("TWILIO_INBOUND_NUMBERS"))
    config["SIMULATOR_ENABLED"] = mode == "development" and env_bool(
        environ.get("SIMULATOR_ENABLED"), default=True
    )

    if mode == "production":
        missing = [name for name in PRODUCTION_REQUIRED if not environ.get(name)]
        has_twilio = environ.get("TWILIO_ACCOUNT_SID") and environ.get("TWILIO_AUTH_TOKEN")
        if not has_twilio:
            missing.append("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
        if has_twilio and not (
            environ.get("TWILIO_SMS_FROM")
            or environ.get("TWILIO_MESSAGING_SERVICE_SID")
            or environ.get("TWILIO_WHATSAPP_FROM")
        ):
            missing.append("TWILIO_SMS_FROM, TWILIO_MESSAGING_SERVICE_SID or TWILIO_WHATSAPP_FROM")
        if missing:
            raise ConfigError(
                "feedback-bot will not start in production without: "
                + ", ".join(missing)
                + ". Set FEEDBACK_ENV=development to run locally with generated defaults."
            )
        config["SESSION_COOKIE_SECURE"] = True
        config["REMEMBER_COOKIE_SECURE"] = True
        config["PREFERRED_URL_SCHEME"] = "https"
    else:
        config.update(development_defaults(config, instance_path))
    return config


def normalise_database_url(url: str) -> str:
    """Accept the URLs hosting providers hand out and use psycopg 3 for PostgreSQL."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def development_defaults(config: Mapping[str, Any], instance_path: Path) -> dict[str, Any]:
    """Generate what development needs into the instance folder, and say so."""
    instance_path.mkdir(parents=True, exist_ok=True)
    filled: dict[str, Any] = {}
    if "SECRET_KEY" not in config:
        filled["SECRET_KEY"] = _instance_secret(instance_path / "secret_key", secrets.token_hex(32))
    if "FEEDBACK_ENCRYPTION_KEY" not in config:
        filled["FEEDBACK_ENCRYPTION_KEY"] = _instance_secret(
            instance_path / "encryption_key", Fernet.generate_key().decode()
        )
    if "SQLALCHEMY_DATABASE_URI" not in config:
        filled["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{instance_path / 'feedback.sqlite3'}"
    if "PUBLIC_BASE_URL" not in config:
        filled["PUBLIC_BASE_URL"] = "http://127.0.0.1:5000"
    if "SPOOL_DIR" not in config:
        filled["SPOOL_DIR"] = str(instance_path / "spool")
    if not config.get("TWILIO_SMS_FROM") and not config.get("TWILIO_ACCOUNT_SID"):
        # Console transport: our "numbers" only need to look like numbers.
        filled["TWILIO_SMS_FROM"] = "+447700900000"
        filled["TWILIO_WHATSAPP_FROM"] = "whatsapp:+447700900001"
    return filled


def _instance_secret(path: Path, fresh: str) -> str:
    if path.exists():
        return path.read_text().strip()
    path.write_text(fresh)
    path.chmod(0o600)
    log.warning("Generated a development secret in %s; never use it in production.", path)
    return fresh


def engine_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """SQLAlchemy engine options for the configured database.

    PostgreSQL gets a connect timeout: an unreachable server would otherwise hold a
    webhook for minutes (the operating system's TCP timeout), past Twilio's 15 seconds,
    when the webhook should be answering inline and spooling the message instead.
    """
    options = dict(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    if str(config.get("SQLALCHEMY_DATABASE_URI", "")).startswith("postgresql"):
        connect_args = dict(options.get("connect_args") or {})
        connect_args.setdefault("connect_timeout", config["DATABASE_CONNECT_TIMEOUT_SECONDS"])
        options["connect_args"] = connect_args
    return options


def validate(config: Mapping[str, Any]) -> None:
    """Checks that hold in every mode, tests included."""
    shipped = config["SHIPPED_LOCALES"]
    if config["DEFAULT_LOCALE"] not in shipped:
        raise ConfigError(f"DEFAULT_LOCALE must be one of {', '.join(shipped)}")
    try:
        for key in str(config["FEEDBACK_ENCRYPTION_KEY"]).split(","):
            Fernet(key.strip().encode())
    except (ValueError, KeyError) as exc:
        raise ConfigError(
            "FEEDBACK_ENCRYPTION_KEY must be one or more comma-separated Fernet keys "
            "(make one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())')"
        ) from exc
    if not config.get("SQLALCHEMY_DATABASE_URI"):
        raise ConfigError("DATABASE_URL is not set")
