"""Configuration from the environment.

Three modes, chosen by ``FEEDBACK_ENV``:

* ``production`` (the default, so that a forgotten variable fails loudly rather than
  quietly running with development secrets): every secret and service URL must be set.
* ``development``: anything missing is generated into the instance folder (and the app
  says so), SQLite lives there too, and without Twilio credentials messages go to the
  console transport. Only the environment can ask for it, never a ``.env`` file: a
  checkout carries its ``.env`` wherever it is deployed.
* tests pass a mapping straight to ``create_app``.

A variable set to nothing, or to spaces only, counts as unset everywhere. Every value is
checked before the app is built, and a ``ConfigError`` names the variable to fix.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.fernet import Fernet
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

log = logging.getLogger(__name__)

SHIPPED_LOCALES = ("en", "cy", "pl", "ro", "ur", "ar", "bn", "so", "es", "uk")

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"

# The fewest days INTERIM_UPDATE_DAYS may be, and so the smallest number a message's count
# (``Template.count``: always a number of days) ever takes.
FEWEST_INTERIM_UPDATE_DAYS = 2

PRODUCTION_REQUIRED = (
    "SECRET_KEY",
    "FEEDBACK_ENCRYPTION_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "PUBLIC_BASE_URL",
    # Who is texting: HELP and STOP replies name it, and the development default
    # ("Feedback reads every message and replies") tells a member nothing.
    "ORG_NAME",
)

# Read as they are (stripped) when set.
PASSTHROUGH = (
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

# The check cannot tell a random key from a memorable one; it refuses the placeholders
# ("x", "secret", "changeme") that a hurried deployment leaves behind.
MIN_SECRET_KEY_LENGTH = 16
REDIS_SCHEMES = ("redis", "rediss", "unix")
E164 = r"\+[1-9]\d{5,14}"
WHATSAPP_ADDRESS = re.compile(rf"whatsapp:{E164}")
SMS_ADDRESS = re.compile(E164)
# Twilio's SIDs: two letters for the kind, then 32 hexadecimal digits.
ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
MESSAGING_SERVICE_SID = re.compile(r"MG[0-9a-fA-F]{32}")
# Path segments of the app's own routes: a PUBLIC_BASE_URL holding one is a webhook's
# address pasted in, and every URL built on it (signatures, callbacks) doubles that path.
OWN_ROUTES = ("webhooks", "admin", "healthz")
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


class ConfigError(RuntimeError):
    """The configuration cannot work; the message says what to set.

    A RuntimeError: gunicorn prints one of those, raised while the master loads the app, as
    a one-line "Error: ..." and exits 1, without a traceback.
    """


def setting(environ: Mapping[str, str], name: str) -> str | None:
    """``environ[name]`` stripped, or None when it is unset, empty or only spaces."""
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return None
    return raw.strip()


def env_bool(environ: Mapping[str, str], name: str, default: bool = False) -> bool:
    raw = setting(environ, name)
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be 1/true/yes/on or 0/false/no/off, got {raw!r}")


def env_int(
    environ: Mapping[str, str],
    name: str,
    default: int,
    minimum: int = 0,
    maximum: int | None = None,
) -> int:
    raw = setting(environ, name)
    if raw is None:
        return default
    try:
        number = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc
    if number < minimum or (maximum is not None and number > maximum):
        bounds = f"at least {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        raise ConfigError(f"{name} must be {bounds}, got {number}")
    return number


def env_float(environ: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    raw = setting(environ, name)
    if raw is None:
        return default
    try:
        number = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc
    if not number >= minimum:  # NaN too
        raise ConfigError(f"{name} must be a number of at least {minimum}, got {raw!r}")
    return number


def env_list(environ: Mapping[str, str], name: str) -> list[str]:
    raw = setting(environ, name)
    if raw is None:
        return []
    return [part.strip() for part in raw.split(",") if part.strip()]


def defaults() -> dict[str, Any]:
    """Settings that do not depend on the environment."""
    return {
        "SHIPPED_LOCALES": SHIPPED_LOCALES,
        "DEFAULT_LOCALE": "en",
        "STAFF_LOCALE": "en",
        "ORG_NAME": "Feedback",
        # A form's CSRF token lasts as long as the session it is bound to (the cookie is
        # SameSite=Lax). Flask-WTF's hour would throw away a long translation or decision
        # typed in a tab left open; signing out ends the session and the token with it.
        "WTF_CSRF_TIME_LIMIT": None,
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
        # With the backoff's 15-minute cap, 120 attempts are 14 to 28 hours of Twilio
        # failing (jitter) before a message is given up on and shown to staff as failed:
        # an acknowledgement is a promise, and an outage of an hour must not break it.
        "SEND_MAX_ATTEMPTS": 120,
        "SEND_BACKOFF_BASE_SECONDS": 2.0,
        "SEND_BACKOFF_MAX_SECONDS": 900.0,
        "SENDING_STUCK_SECONDS": 60,
        "DATABASE_CONNECT_TIMEOUT_SECONDS": 5,
        # A stored message still unprocessed after this long has lost its intake job.
        "INTAKE_STUCK_SECONDS": 5,
        # A decision's fan-out requested this long ago and not finished has lost its job.
        "FAN_OUT_STUCK_SECONDS": 60,
        # /healthz/work fails when a stored message has waited this long for its intake
        # job: it takes a second when workers run, and the sweeper replaces a lost job.
        "INTAKE_BACKLOG_ALERT_SECONDS": 120,
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
        # "Keep me signed in" signs a user in as well as the session does: a form another
        # site posts must not carry it either (Flask-Login sets no SameSite by default).
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
    }


def from_environment(
    environ: Mapping[str, str],
    instance_path: Path,
    *,
    dotenv_files: Iterable[Path] | None = None,
) -> dict[str, Any]:
    """Read settings from ``environ``; fail fast in production, fill gaps in development.

    ``dotenv_files`` are the ``.env`` files that may have been merged into ``environ``
    (by default those ``create_app`` and the ``flask`` command load).
    """
    mode = (setting(environ, "FEEDBACK_ENV") or "production").lower()
    if mode not in {"production", "development"}:
        raise ConfigError(f"FEEDBACK_ENV must be 'production' or 'development', got {mode!r}")
    if mode == "development":
        refuse_development_from_dotenv(
            default_dotenv_files() if dotenv_files is None else dotenv_files
        )

    config: dict[str, Any] = {"FEEDBACK_ENV": mode}
    for name in PASSTHROUGH:
        value = setting(environ, name)
        if value is not None:
            config[name] = value
    database_url = setting(environ, "DATABASE_URL")
    if database_url is not None:
        config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(database_url)

    config["ACK_COALESCE_SECONDS"] = env_int(environ, "ACK_COALESCE_SECONDS", 120)
    # At least 2: members read it as "within N days" (no message is written for one day),
    # and it is also how often somebody waiting for a decision hears "still working on it".
    config["INTERIM_UPDATE_DAYS"] = env_int(
        environ, "INTERIM_UPDATE_DAYS", 21, minimum=FEWEST_INTERIM_UPDATE_DAYS
    )
    config["TWILIO_TIMEOUT_SECONDS"] = env_float(environ, "TWILIO_TIMEOUT_SECONDS", 10.0, 0.1)
    config["SEND_MAX_ATTEMPTS"] = env_int(environ, "SEND_MAX_ATTEMPTS", 120, minimum=1)
    config["SWEEP_INTERVAL_SECONDS"] = env_int(environ, "SWEEP_INTERVAL_SECONDS", 30, 1)
    config["WORKER_PROCESSES"] = env_int(environ, "WORKER_PROCESSES", 1, 1)
    config["SENDING_STUCK_SECONDS"] = env_int(environ, "SENDING_STUCK_SECONDS", 60, 1)
    config["INTAKE_STUCK_SECONDS"] = env_int(environ, "INTAKE_STUCK_SECONDS", 5, 0)
    config["FAN_OUT_STUCK_SECONDS"] = env_int(environ, "FAN_OUT_STUCK_SECONDS", 60, 0)
    config["INTAKE_BACKLOG_ALERT_SECONDS"] = env_int(
        environ, "INTAKE_BACKLOG_ALERT_SECONDS", 120, 1
    )
    config["DATABASE_CONNECT_TIMEOUT_SECONDS"] = env_int(
        environ, "DATABASE_CONNECT_TIMEOUT_SECONDS", 5, 1
    )
    config["SEND_RATE_PER_SECOND"] = env_float(environ, "SEND_RATE_PER_SECOND", 10.0, 0.1)
    config["QUIET_HOURS_START"] = env_int(environ, "QUIET_HOURS_START", 21, 0, 23)
    config["QUIET_HOURS_END"] = env_int(environ, "QUIET_HOURS_END", 8, 0, 23)
    config["MEDIA_MAX_BYTES"] = env_int(environ, "MEDIA_MAX_BYTES", 16 * 1024 * 1024, 1)
    config["PRELOAD_LANGUAGE_MODELS"] = env_bool(environ, "PRELOAD_LANGUAGE_MODELS", False)
    config["PROXY_FIX_HOPS"] = env_int(environ, "PROXY_FIX_HOPS", 0)
    config["WHATSAPP_SMS_FALLBACK"] = env_bool(environ, "WHATSAPP_SMS_FALLBACK", True)
    config["TWILIO_INBOUND_NUMBERS"] = env_list(environ, "TWILIO_INBOUND_NUMBERS")
    simulator = env_bool(environ, "SIMULATOR_ENABLED", default=mode == "development")
    if simulator and mode != "development":
        raise ConfigError(
            "SIMULATOR_ENABLED: the phone simulator answers anyone, unauthenticated; "
            "it runs in development only"
        )
    config["SIMULATOR_ENABLED"] = simulator

    if mode == "production":
        check_production(environ, config)
        config["SESSION_COOKIE_SECURE"] = True
        config["REMEMBER_COOKIE_SECURE"] = True
        config["PREFERRED_URL_SCHEME"] = "https"
    else:
        if "REDIS_URL" not in config:
            raise ConfigError(
                "REDIS_URL is not set. In development, `python3 dev.py run` starts an "
                "embedded Redis, and `python3 dev.py flask ...` runs a flask command with it."
            )
        config.update(development_defaults(config, instance_path))
    return config


def check_production(environ: Mapping[str, str], config: Mapping[str, Any]) -> None:
    """What production needs beyond what every mode does (``validate``)."""
    missing = [name for name in PRODUCTION_REQUIRED if setting(environ, name) is None]
    has_twilio = "TWILIO_ACCOUNT_SID" in config and "TWILIO_AUTH_TOKEN" in config
    if not has_twilio:
        missing.append("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
    elif not any(
        name in config
        for name in ("TWILIO_SMS_FROM", "TWILIO_MESSAGING_SERVICE_SID", "TWILIO_WHATSAPP_FROM")
    ):
        missing.append("TWILIO_SMS_FROM, TWILIO_MESSAGING_SERVICE_SID or TWILIO_WHATSAPP_FROM")
    if missing:
        raise ConfigError(
            "feedback-bot will not start in production without: "
            + ", ".join(missing)
            + ". Set each in the environment of every web, worker and release process "
            "(README: Running in production)."
            + ("" if setting(environ, "FEEDBACK_ENV") else LOCAL_HINT)
        )
    if env_bool(environ, "FLASK_DEBUG"):
        raise ConfigError(
            "FLASK_DEBUG must be off in production: the debugger runs any code typed into "
            "its error page"
        )
    if len(config["SECRET_KEY"]) < MIN_SECRET_KEY_LENGTH:
        raise ConfigError(
            f"SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters (make one with: "
            "python -c 'import secrets; print(secrets.token_hex(32))')"
        )
    # A status callback and the send job storing its SID serialise on a PostgreSQL advisory
    # lock (delivery.lock_sid), which SQLite skips; and a file on one machine serves no
    # fleet of web and worker processes. The one exception is a stack whose Twilio is a
    # local fake (the test suite's production worker processes): it reaches nobody.
    database = _database_url(config["SQLALCHEMY_DATABASE_URI"])
    if database.get_backend_name() != "postgresql" and not _fake_twilio(config):
        raise ConfigError(
            "DATABASE_URL must be a PostgreSQL URL (postgresql://user:password@host/db) in "
            f"production, not {database.get_backend_name()}"
        )


# Only when FEEDBACK_ENV is not set at all: somebody who may have meant to try the app on
# their own machine. Never after FEEDBACK_ENV=production, which says this is a server: there
# development would serve the unauthenticated phone simulator and send cookies over HTTP.
LOCAL_HINT = (
    " (FEEDBACK_ENV is not set, so this is production. To try feedback-bot on your own "
    "machine instead, run python3 dev.py run; never on a server.)"
)


def _fake_twilio(config: Mapping[str, Any]) -> bool:
    base = config.get("TWILIO_API_BASE_URL")
    return bool(base) and urlsplit(str(base)).hostname in LOOPBACK_HOSTS


def default_dotenv_files() -> list[Path]:
    """The files ``create_app`` (``./.env``) and the ``flask`` command (the nearest
    ``.env`` and ``.flaskenv`` up from here) load into the environment."""
    from dotenv import find_dotenv

    found = {Path.cwd() / ".env"}
    for name in (".env", ".flaskenv"):
        path = find_dotenv(name, usecwd=True)
        if path:
            found.add(Path(path))
    return sorted(path for path in found if path.is_file())


def refuse_development_from_dotenv(files: Iterable[Path]) -> None:
    """Refuse development when a ``.env`` file asks for it.

    A ``.env`` file only fills what the environment leaves unset, so a deployment that does
    not set ``FEEDBACK_ENV`` (production is the default) would run in development, with
    the unauthenticated simulator, because of a file left in the checkout. Once loaded,
    the file's value cannot be told from the environment's, so the file must not hold it.
    """
    from dotenv import dotenv_values

    for path in files:
        value = dotenv_values(path).get("FEEDBACK_ENV")
        if value is not None and value.strip().lower() == "development":
            raise ConfigError(
                f"{path} sets FEEDBACK_ENV=development. Development must be chosen in the "
                "environment itself (python3 dev.py sets it for everything it starts), "
                "never in a file that a checkout carries into production: delete that line."
            )


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

    Every mode hides a statement's parameters from the text of a database error: they
    are a member's message and the hash of their number, and the error's text goes to
    the log with its traceback (logs never hold a message body; the logging filter masks
    what looks like a number, not words). The statement itself, which holds no member's
    data, still says what failed.
    """
    options = dict(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    options.setdefault("hide_parameters", True)
    if str(config.get("SQLALCHEMY_DATABASE_URI", "")).startswith("postgresql"):
        connect_args = dict(options.get("connect_args") or {})
        connect_args.setdefault("connect_timeout", config["DATABASE_CONNECT_TIMEOUT_SECONDS"])
        options["connect_args"] = connect_args
    return options


def validate(config: Mapping[str, Any]) -> None:
    """Checks that hold in every mode, tests included."""
    shipped = config["SHIPPED_LOCALES"]
    for name in ("DEFAULT_LOCALE", "STAFF_LOCALE"):
        if config[name] not in shipped:
            raise ConfigError(f"{name} must be one of {', '.join(shipped)}, got {config[name]!r}")
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
    _check_database_url(str(config["SQLALCHEMY_DATABASE_URI"]))
    _check_redis_url(config.get("REDIS_URL"))
    _check_web_url("PUBLIC_BASE_URL", config.get("PUBLIC_BASE_URL"), required=True)
    _check_web_url("TWILIO_API_BASE_URL", config.get("TWILIO_API_BASE_URL"), required=False)
    _check_twilio_ids(config)
    whatsapp = config.get("TWILIO_WHATSAPP_FROM")
    if whatsapp and not WHATSAPP_ADDRESS.fullmatch(str(whatsapp)):
        raise ConfigError(
            "TWILIO_WHATSAPP_FROM must be whatsapp: and the number in E.164 form, "
            "e.g. whatsapp:+447700900123"
        )
    _check_sms_from(config.get("TWILIO_SMS_FROM"))
    for name in ("QUIET_HOURS_START", "QUIET_HOURS_END"):
        if not 0 <= int(config[name]) <= 23:
            raise ConfigError(f"{name} must be an hour from 0 to 23, got {config[name]!r}")
    if config.get("FEEDBACK_ENV") == "production":
        _check_production_app(config)
        _check_public_base_url_for_production(str(config["PUBLIC_BASE_URL"]))


def cautions(config: Mapping[str, Any]) -> list[str]:
    """Settings that work but weaken a promise: said when a worker starts, not refused
    (the tests' short timings use some of them on purpose)."""
    found = []
    stuck, timeout = config["SENDING_STUCK_SECONDS"], config["TWILIO_TIMEOUT_SECONDS"]
    if stuck <= timeout:
        # ``sending_locks``: a row is released only when its worker's lock is gone, and a
        # database restart ends that lock while the worker may still wait on Twilio.
        found.append(
            f"SENDING_STUCK_SECONDS ({stuck}) is not above TWILIO_TIMEOUT_SECONDS "
            f"({timeout:g}): if the database restarts while a worker waits for Twilio, the "
            "sweeper can give its message to another worker, and the member gets it twice. "
            "Keep it well above (the defaults are 60 and 10)."
        )
    return found


def _check_twilio_ids(config: Mapping[str, Any]) -> None:
    """The SIDs' shape: a wrong one otherwise fails only at the first send, as 20003 or
    20404, retried for hours."""
    sid = config.get("TWILIO_ACCOUNT_SID")
    if sid and not ACCOUNT_SID.fullmatch(str(sid)):
        raise ConfigError(
            "TWILIO_ACCOUNT_SID must be AC followed by 32 hexadecimal digits (Twilio "
            "Console, Account Info), e.g. AC0123456789abcdef0123456789abcdef"
        )
    service = config.get("TWILIO_MESSAGING_SERVICE_SID")
    if service and not MESSAGING_SERVICE_SID.fullmatch(str(service)):
        raise ConfigError(
            "TWILIO_MESSAGING_SERVICE_SID must be MG followed by 32 hexadecimal digits, "
            f"got {service!r}"
        )


def _check_sms_from(number: Any) -> None:
    if not number:
        return
    text = str(number)
    if text.startswith("whatsapp:"):
        raise ConfigError(
            "TWILIO_SMS_FROM is an SMS number; put whatsapp: numbers in TWILIO_WHATSAPP_FROM"
        )
    if MESSAGING_SERVICE_SID.fullmatch(text):
        raise ConfigError(
            "TWILIO_SMS_FROM holds a Messaging Service SID; put it in "
            "TWILIO_MESSAGING_SERVICE_SID, and TWILIO_SMS_FROM the number in E.164 form "
            "(or leave it unset)"
        )
    if not SMS_ADDRESS.fullmatch(text):
        # Twilio takes E.164 only, and members' messages arrive addressed so: a national
        # form would neither send nor match our number on the way in.
        raise ConfigError(
            "TWILIO_SMS_FROM must be the number in E.164 form, + and the country code, "
            f"e.g. +447700900123; got {text!r}"
        )


def _check_public_base_url_for_production(url: str) -> None:
    """Twilio signs the https:// address it calls; an http:// base checks every signature
    against another URL, and the panel's cookies are sent over HTTPS only. A local stack
    (a fake Twilio on this machine, the test suite's) may use http:// on a loopback host."""
    parts = urlsplit(url)
    if parts.scheme != "https" and parts.hostname not in LOOPBACK_HOSTS:
        raise ConfigError(
            "PUBLIC_BASE_URL must start with https:// in production (Twilio signs the "
            f"https:// address it calls), e.g. https://{parts.hostname}; got {url!r}"
        )


def _check_production_app(config: Mapping[str, Any]) -> None:
    """Production, however the configuration was built: what would fail silently."""
    if not (
        str(config.get("TWILIO_ACCOUNT_SID") or "").strip()
        and str(config.get("TWILIO_AUTH_TOKEN") or "").strip()
    ):
        # The console transport would "deliver" every message to the log.
        raise ConfigError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN must be set in production")
    if config.get("SIMULATOR_ENABLED"):
        raise ConfigError("SIMULATOR_ENABLED: the phone simulator runs in development only")
    if config.get("DEBUG"):
        raise ConfigError(
            "FLASK_DEBUG must be off in production: the debugger runs any code typed into "
            "its error page"
        )


def _database_url(uri: str) -> URL:
    try:
        return make_url(uri)
    except ArgumentError as exc:
        raise ConfigError(
            "DATABASE_URL is not a database URL; expected postgresql://user:password@host/db"
        ) from exc


def _check_database_url(uri: str) -> None:
    url = _database_url(uri)
    backend, driver = url.get_backend_name(), url.get_driver_name()
    if backend == "postgresql" and driver != "psycopg":
        raise ConfigError(
            f"DATABASE_URL: the {driver} driver is not installed; write postgresql:// "
            "(feedback-bot uses psycopg 3)"
        )
    if backend not in {"postgresql", "sqlite"}:
        raise ConfigError(
            f"DATABASE_URL must be PostgreSQL (postgresql://...), or SQLite in development; "
            f"not {backend}"
        )


def _check_redis_url(url: Any) -> None:
    if not url:
        raise ConfigError("REDIS_URL is not set")
    parts = urlsplit(str(url))
    if parts.scheme not in REDIS_SCHEMES or not (parts.netloc or parts.path):
        scheme = str(url).split("://", 1)[0] if "://" in str(url) else ""
        found = f"it starts {scheme}://" if scheme else "it has no scheme"
        raise ConfigError(
            "REDIS_URL must start with redis://, rediss:// or unix:// "
            f"(e.g. redis://host:6379/0); {found}"
        )
    # The database number: the path of redis:// and rediss://, ?db= for all three. Whether
    # the server has that many databases (16 unless its ``databases`` says more) only the
    # server knows: a number beyond them fails at the first connection, and /healthz says so.
    numbers = parse_qs(parts.query).get("db", [])
    if parts.scheme != "unix" and parts.path.strip("/"):
        numbers.append(parts.path.strip("/"))
    for number in numbers:
        if not (number.isascii() and number.isdigit()):
            raise ConfigError(
                "REDIS_URL: the database must be a number from 0 (e.g. redis://host:6379/0), "
                f"got {number!r}"
            )


def _check_web_url(name: str, url: Any, *, required: bool) -> None:
    if not url:
        if required:
            raise ConfigError(f"{name} is not set")
        return
    parts = urlsplit(str(url))
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(
            f"{name} must be an http:// or https:// URL with a host, "
            f"e.g. https://feedback.example.org, got {url!r}"
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"{name} must not have a query or a fragment, got {url!r}")
    if name == "PUBLIC_BASE_URL" and any(
        segment in OWN_ROUTES for segment in parts.path.split("/")
    ):
        # A prefix path is fine: mounted under one (gunicorn's SCRIPT_NAME), the app's own
        # paths come after it, and ``public_url`` adds them to this URL as it is.
        raise ConfigError(
            "PUBLIC_BASE_URL must be the app's own address, scheme and host (and the prefix "
            f"it is mounted under, if any), e.g. https://{parts.netloc}, not a page's or a "
            f"webhook's; got {url!r}"
        )
