"""Configuration read from the environment: what production refuses, and what it says.

Each case builds the settings as ``create_app`` does (``defaults``, ``from_environment``,
``validate``) from a plain mapping, in an empty folder: no process environment or ``.env``
file is involved unless a test brings one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from feedback_bot import create_app
from feedback_bot.config import ConfigError, cautions, defaults, from_environment, validate

PRODUCTION = {
    "FEEDBACK_ENV": "production",
    "SECRET_KEY": "a-long-enough-production-secret",
    "FEEDBACK_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    "DATABASE_URL": "postgresql://feedback:pw@db.example.org/feedback",
    "REDIS_URL": "redis://redis.example.org:6379/0",
    "PUBLIC_BASE_URL": "https://feedback.example.org",
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_AUTH_TOKEN": "0123456789abcdef0123456789abcdef",
    "TWILIO_SMS_FROM": "+447700900123",
    "TWILIO_WHATSAPP_FROM": "whatsapp:+447700900124",
    "ORG_NAME": "Riverside Council",
}

ROOT = Path(__file__).resolve().parents[1]

DEVELOPMENT = {"FEEDBACK_ENV": "development", "REDIS_URL": "unix:///tmp/redis.sock"}


@pytest.fixture(autouse=True)
def empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where .env files are looked for: only the ones a test writes."""
    monkeypatch.chdir(tmp_path)


def load(environ: dict[str, str], tmp_path: Path) -> Any:
    config = defaults()
    config.update(from_environment(environ, tmp_path / "instance"))
    validate(config)
    return config


def refused(environ: dict[str, str], tmp_path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load(environ, tmp_path)
    return str(caught.value)


def test_the_complete_production_configuration_loads(tmp_path):
    config = load(PRODUCTION, tmp_path)
    assert config["FEEDBACK_ENV"] == "production"
    assert config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")
    assert config["SIMULATOR_ENABLED"] is False


@pytest.mark.parametrize(
    "name",
    [
        "SECRET_KEY",
        "FEEDBACK_ENCRYPTION_KEY",
        "DATABASE_URL",
        "REDIS_URL",
        "PUBLIC_BASE_URL",
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "ORG_NAME",
    ],
)
@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_a_blank_production_setting_counts_as_missing(tmp_path, name, blank):
    message = refused({**PRODUCTION, name: blank}, tmp_path)
    assert "will not start in production without" in message
    assert name in message


def test_blank_sender_numbers_count_as_missing(tmp_path):
    blank = {
        "TWILIO_SMS_FROM": " ",
        "TWILIO_WHATSAPP_FROM": " ",
        "TWILIO_MESSAGING_SERVICE_SID": " ",
    }
    assert "TWILIO_SMS_FROM" in refused({**PRODUCTION, **blank}, tmp_path)


def test_production_never_falls_back_to_the_console_transport(make_app):
    with pytest.raises(ConfigError, match="TWILIO_ACCOUNT_SID"):
        make_app(FEEDBACK_ENV="production", TWILIO_AUTH_TOKEN="   ")


@pytest.mark.parametrize(
    "url", ["sqlite:////srv/feedback.sqlite3", "sqlite://", "postgres-but-not://x"]
)
def test_production_requires_postgresql(tmp_path, url):
    message = refused({**PRODUCTION, "DATABASE_URL": url}, tmp_path)
    assert "DATABASE_URL" in message


def test_production_on_sqlite_is_allowed_only_against_a_local_fake_twilio(tmp_path):
    # The test suite's production worker processes: nothing they send reaches anyone.
    fake = {
        "DATABASE_URL": "sqlite:////tmp/x.sqlite3",
        "TWILIO_API_BASE_URL": "http://127.0.0.1:8765",
    }
    assert load({**PRODUCTION, **fake}, tmp_path)["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
    remote = {**fake, "TWILIO_API_BASE_URL": "https://api.twilio.com"}
    assert "PostgreSQL" in refused({**PRODUCTION, **remote}, tmp_path)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("nonsense", "not a database URL"),
        ("mysql://user:pw@db/feedback", "mysql"),
        ("postgresql+psycopg2://user:pw@db/feedback", "psycopg"),
    ],
)
def test_a_bad_database_url_is_named(tmp_path, url, says):
    for environ in (PRODUCTION, DEVELOPMENT):
        message = refused({**environ, "DATABASE_URL": url}, tmp_path)
        assert "DATABASE_URL" in message
        assert says in message
        assert "pw" not in message  # never the password


@pytest.mark.parametrize("url", ["nonsense", "http://redis.example.org", "localhost:6379"])
def test_a_bad_redis_url_is_named(tmp_path, url):
    message = refused({**PRODUCTION, "REDIS_URL": url}, tmp_path)
    assert "REDIS_URL" in message
    assert "redis://" in message


@pytest.mark.parametrize(
    "url", ["redis://:pw@r.example.org:6379/0", "rediss://r:6380", "unix:///run/redis.sock"]
)
def test_redis_urls_of_every_kind_are_accepted(tmp_path, url):
    assert load({**PRODUCTION, "REDIS_URL": url}, tmp_path)["REDIS_URL"] == url


@pytest.mark.parametrize(
    "url",
    [
        "fb.example.org",
        "feedback.example.org/bot",
        "ftp://fb.example.org",
        "https://",
        "https://fb.example.org/?a=1",
    ],
)
def test_public_base_url_must_be_a_web_address(tmp_path, url):
    message = refused({**PRODUCTION, "PUBLIC_BASE_URL": url}, tmp_path)
    assert "PUBLIC_BASE_URL" in message


def test_public_base_url_may_have_a_path(tmp_path):
    url = "https://example.org/feedback"
    assert load({**PRODUCTION, "PUBLIC_BASE_URL": url}, tmp_path)["PUBLIC_BASE_URL"] == url


@pytest.mark.parametrize("name", ["STAFF_LOCALE", "DEFAULT_LOCALE"])
def test_locales_must_be_shipped(tmp_path, name):
    message = refused({**PRODUCTION, name: "xx"}, tmp_path)
    assert name in message
    assert "'xx'" in message
    assert load({**PRODUCTION, name: "cy"}, tmp_path)[name] == "cy"


@pytest.mark.parametrize("name", ["QUIET_HOURS_START", "QUIET_HOURS_END"])
@pytest.mark.parametrize("value", ["24", "99", "-1", "nine"])
def test_quiet_hours_must_be_hours(tmp_path, name, value):
    assert name in refused({**PRODUCTION, name: value}, tmp_path)


def test_quiet_hours_take_every_hour_of_the_day(tmp_path):
    config = load({**PRODUCTION, "QUIET_HOURS_START": "0", "QUIET_HOURS_END": "23"}, tmp_path)
    assert (config["QUIET_HOURS_START"], config["QUIET_HOURS_END"]) == (0, 23)


@pytest.mark.parametrize("value", ["+447700900124", "whatsapp:447700900124", "whatsapp:"])
def test_the_whatsapp_number_needs_its_prefix(tmp_path, value):
    assert "TWILIO_WHATSAPP_FROM" in refused(
        {**PRODUCTION, "TWILIO_WHATSAPP_FROM": value}, tmp_path
    )


def test_a_whatsapp_number_is_not_an_sms_number(tmp_path):
    environ = {**PRODUCTION, "TWILIO_SMS_FROM": "whatsapp:+447700900123"}
    assert "TWILIO_SMS_FROM" in refused(environ, tmp_path)


@pytest.mark.parametrize("secret", ["x", "secret", "changeme", "a" * 15])
def test_production_refuses_a_short_secret_key(tmp_path, secret):
    message = refused({**PRODUCTION, "SECRET_KEY": secret}, tmp_path)
    assert "SECRET_KEY" in message
    assert repr(secret) not in message  # never echoed


def test_a_bad_number_names_its_variable(tmp_path):
    assert "SEND_RATE_PER_SECOND" in refused(
        {**PRODUCTION, "SEND_RATE_PER_SECOND": "fast"}, tmp_path
    )
    assert "INTERIM_UPDATE_DAYS" in refused({**PRODUCTION, "INTERIM_UPDATE_DAYS": "0"}, tmp_path)


def test_worker_processes_default_to_one_and_count_whole_workers(tmp_path):
    assert load(PRODUCTION, tmp_path)["WORKER_PROCESSES"] == 1
    assert load({**PRODUCTION, "WORKER_PROCESSES": "8"}, tmp_path)["WORKER_PROCESSES"] == 8
    assert "WORKER_PROCESSES must be at least 1, got 0" in refused(
        {**PRODUCTION, "WORKER_PROCESSES": "0"}, tmp_path
    )
    assert "WORKER_PROCESSES" in refused({**PRODUCTION, "WORKER_PROCESSES": "many"}, tmp_path)


def test_interim_days_are_plural(tmp_path):
    """Members read "within N days"; "within 1 days" is no message to send anybody."""
    assert "INTERIM_UPDATE_DAYS must be at least 2, got 1" in refused(
        {**PRODUCTION, "INTERIM_UPDATE_DAYS": "1"}, tmp_path
    )


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_production_refuses_flask_debug(tmp_path, value):
    assert "FLASK_DEBUG" in refused({**PRODUCTION, "FLASK_DEBUG": value}, tmp_path)
    assert load({**PRODUCTION, "FLASK_DEBUG": "0"}, tmp_path)["FEEDBACK_ENV"] == "production"


def test_a_production_app_in_debug_mode_is_refused(make_app):
    with pytest.raises(ConfigError, match="FLASK_DEBUG"):
        make_app(FEEDBACK_ENV="production", DEBUG=True)


def test_production_refuses_the_simulator(tmp_path, make_app):
    assert "SIMULATOR_ENABLED" in refused({**PRODUCTION, "SIMULATOR_ENABLED": "1"}, tmp_path)
    with pytest.raises(ConfigError, match="SIMULATOR_ENABLED"):
        make_app(FEEDBACK_ENV="production", SIMULATOR_ENABLED=True)


def test_development_without_redis_says_how_to_get_one(tmp_path):
    message = refused({"FEEDBACK_ENV": "development"}, tmp_path)
    assert "REDIS_URL" in message
    assert "dev.py" in message


def test_development_fills_in_what_is_missing(tmp_path):
    config = load(DEVELOPMENT, tmp_path)
    assert config["SIMULATOR_ENABLED"] is True
    assert config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    assert (tmp_path / "instance" / "secret_key").exists()


def test_blank_twilio_credentials_in_development_mean_the_console(tmp_path):
    config = load({**DEVELOPMENT, "TWILIO_ACCOUNT_SID": " ", "TWILIO_AUTH_TOKEN": " "}, tmp_path)
    assert config["TWILIO_ACCOUNT_SID"] is None


# --------------------------------------------------------------------------- .env files


@pytest.mark.parametrize("name", [".env", ".flaskenv"])
def test_a_dotenv_file_cannot_turn_development_on(tmp_path, name):
    dotenv = tmp_path / name
    dotenv.write_text("FEEDBACK_ENV=development\n")
    with pytest.raises(ConfigError, match=rf"{name} sets FEEDBACK_ENV=development"):
        load(DEVELOPMENT, tmp_path)
    # The environment saying production wins over the file, as always.
    assert load(PRODUCTION, tmp_path)["FEEDBACK_ENV"] == "production"
    # Any other setting in the file is fine.
    dotenv.write_text("ORG_NAME=Riverside\n# FEEDBACK_ENV=development\n")
    assert load(DEVELOPMENT, tmp_path)["FEEDBACK_ENV"] == "development"


def test_dotenv_files_are_looked_for_up_from_the_current_folder(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("FEEDBACK_ENV=development\n")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")  # as the flask command finds them
    with pytest.raises(ConfigError, match="FEEDBACK_ENV=development"):
        load(DEVELOPMENT, tmp_path)


def test_a_stray_dotenv_does_not_turn_a_deployment_into_development(tmp_path, monkeypatch):
    """What the reviewer saw: every production variable set, FEEDBACK_ENV left to its
    default, and the .env an older dev.py wrote in the checkout."""
    (tmp_path / ".env").write_text("FEEDBACK_ENV=development\n")
    for name in list(os.environ):
        if name.startswith(("FEEDBACK_", "TWILIO_", "FLASK_")) or name in PRODUCTION:
            monkeypatch.delenv(name)
    # load_dotenv will set FEEDBACK_ENV behind monkeypatch's back: have it put back.
    monkeypatch.setenv("FEEDBACK_ENV", "unset by this test")
    monkeypatch.delenv("FEEDBACK_ENV")
    monkeypatch.setenv("FEEDBACK_INSTANCE_PATH", str(tmp_path / "instance"))
    for name, value in PRODUCTION.items():
        if name != "FEEDBACK_ENV":
            monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match="FEEDBACK_ENV=development"):
        create_app()


# What an operator's first deployment got wrong: each refused at start, naming the setting
# and the form it takes, rather than failing at the first send or the first webhook.
@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("TWILIO_ACCOUNT_SID", "hello", "AC followed by 32 hexadecimal digits"),
        ("TWILIO_ACCOUNT_SID", "AC" + "0" * 31, "AC followed by 32 hexadecimal digits"),
        ("TWILIO_ACCOUNT_SID", "SK" + "0" * 32, "AC followed by 32 hexadecimal digits"),
        ("TWILIO_SMS_FROM", "07911123456", "E.164"),
        ("TWILIO_SMS_FROM", "+44 7911 123456", "E.164"),
        ("TWILIO_SMS_FROM", "MG" + "a" * 32, "TWILIO_MESSAGING_SERVICE_SID"),
        ("TWILIO_MESSAGING_SERVICE_SID", "MG123", "MG followed by 32 hexadecimal digits"),
        ("TWILIO_WHATSAPP_FROM", "whatsapp:07911123456", "whatsapp:+447700900123"),
        ("REDIS_URL", "redis://redis.example.org:6379/one", "number from 0"),
        ("REDIS_URL", "redis://redis.example.org:6379/-1", "number from 0"),
        ("REDIS_URL", "unix:///run/redis.sock?db=x", "number from 0"),
        ("PUBLIC_BASE_URL", "http://feedback.example.org", "https://"),
        ("PUBLIC_BASE_URL", "https://fb.example.org/webhooks/twilio/messages", "scheme and host"),
        ("PUBLIC_BASE_URL", "https://fb.example.org/bot/admin/", "scheme and host"),
    ],
)
def test_a_wrongly_formed_setting_is_refused_at_start(tmp_path, name, value, says):
    message = refused({**PRODUCTION, name: value}, tmp_path)
    assert message.startswith(name)
    assert says in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TWILIO_ACCOUNT_SID", "AC" + "0123456789ABCDEF" * 2),
        ("TWILIO_MESSAGING_SERVICE_SID", "MG" + "0123456789abcdef" * 2),
        ("TWILIO_SMS_FROM", "+15005550006"),
        ("REDIS_URL", "redis://redis.example.org:6379/99"),
        ("REDIS_URL", "redis://redis.example.org:6379/"),
        ("REDIS_URL", "unix:///run/redis.sock?db=3"),
        ("PUBLIC_BASE_URL", "https://fb.example.org:8443"),
        ("PUBLIC_BASE_URL", "https://example.org/feedback/"),
    ],
)
def test_well_formed_settings_are_accepted(tmp_path, name, value):
    assert load({**PRODUCTION, name: value}, tmp_path)[name] == value


def test_a_messaging_service_may_stand_in_for_the_sms_number(tmp_path):
    environ = {**PRODUCTION, "TWILIO_MESSAGING_SERVICE_SID": "MG" + "1" * 32}
    del environ["TWILIO_SMS_FROM"]
    assert load(environ, tmp_path)["TWILIO_MESSAGING_SERVICE_SID"] == "MG" + "1" * 32


def test_plain_http_is_for_a_local_stack_only(tmp_path):
    # A production stack on this machine against a fake Twilio (the test suite's, faults/).
    url = "http://127.0.0.1:8000"
    assert load({**PRODUCTION, "PUBLIC_BASE_URL": url}, tmp_path)["PUBLIC_BASE_URL"] == url
    assert load({**DEVELOPMENT, "PUBLIC_BASE_URL": "http://192.168.1.5:5000"}, tmp_path)


def test_production_says_how_to_fix_a_missing_setting_never_to_run_development(tmp_path):
    environ = {**PRODUCTION, "SECRET_KEY": ""}
    message = refused(environ, tmp_path)
    assert "SECRET_KEY" in message
    assert "README" in message
    assert "development" not in message


def test_without_feedback_env_at_all_the_way_to_run_locally_is_mentioned(tmp_path):
    environ = {name: value for name, value in PRODUCTION.items() if name != "FEEDBACK_ENV"}
    environ["SECRET_KEY"] = ""
    message = refused(environ, tmp_path)
    assert "FEEDBACK_ENV is not set" in message
    assert "python3 dev.py run" in message
    assert "never on a server" in message
    assert "Set FEEDBACK_ENV=development" not in message


def test_the_production_defaults_raise_no_caution(tmp_path):
    assert cautions(load(PRODUCTION, tmp_path)) == []


def test_a_sweep_that_could_hand_on_a_send_in_progress_is_cautioned(tmp_path):
    """A "sending" row no older than Twilio's timeout may be a worker still waiting for
    Twilio: released, it can go twice. Legal (the tests use it), but said."""
    for stuck in ("5", "10"):
        [caution] = cautions(load({**PRODUCTION, "SENDING_STUCK_SECONDS": stuck}, tmp_path))
        assert caution.startswith(
            f"SENDING_STUCK_SECONDS ({stuck}) is not above TWILIO_TIMEOUT_SECONDS (10)"
        )
        assert "the member gets it twice" in caution
    assert cautions(load({**PRODUCTION, "SENDING_STUCK_SECONDS": "11"}, tmp_path)) == []
    short = {**PRODUCTION, "SENDING_STUCK_SECONDS": "3", "TWILIO_TIMEOUT_SECONDS": "2.5"}
    assert cautions(load(short, tmp_path)) == []


def test_a_worker_says_its_cautions_when_it_starts(make_app, monkeypatch):
    import importlib.util
    import logging

    spec = importlib.util.spec_from_file_location("worker", ROOT / "worker.py")
    assert spec is not None and spec.loader is not None
    worker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker)
    app = make_app(SENDING_STUCK_SECONDS=2, TWILIO_TIMEOUT_SECONDS=5.0, WORKER_PROCESSES=1)
    ran: list[object] = []
    monkeypatch.setattr(worker, "stop_children_with_this_process", lambda: None)
    monkeypatch.setattr(worker, "create_app", lambda: app)
    monkeypatch.setattr(worker, "check_at_start", lambda app: None)
    monkeypatch.setattr(worker, "run_until_stopped", ran.append)
    # Read at the worker's own logger: where the root handler writes differs between runs
    # (a test process's stderr may be pytest's capture of an earlier test).
    said: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = said.append  # type: ignore[method-assign]
    logging.getLogger("worker").addHandler(handler)
    try:
        worker.main()
    finally:
        logging.getLogger("worker").removeHandler(handler)
    assert ran == [app]
    [caution] = said
    assert caution.levelno == logging.WARNING
    assert caution.getMessage().startswith(
        "SENDING_STUCK_SECONDS (2) is not above TWILIO_TIMEOUT_SECONDS (5)"
    )
