"""The media fetch leaves no file behind that nothing points to: not after a FORGET that
commits while it downloads, not after a download that fails half way, not after two
fetches of the same row.

Each race is run in a fixed order: the fetch's real download (from the fake Twilio) is
wrapped so that the other party (FORGET, a sweep, a second worker) commits after the file
is written and before the fetch stores it, which is the window the fetch must survive.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from feedback_bot import clock
from feedback_bot.extensions import db
from feedback_bot.jobs.intake import process_inbound
from feedback_bot.media import fetch
from feedback_bot.media.fetch import HOLD, due_media, fetch_media
from feedback_bot.media.storage import media_root
from feedback_bot.models import InboundMedia, InboundMessage
from feedback_bot.testing.fake_twilio import FakeTwilio

from .conftest import flush_redis, send_sms
from .test_media import MEMBER, VOICE

BIG_VOICE = VOICE * 40  # about 400 KiB: several chunks, so a drop comes mid-file


def media_files(app: Flask) -> list[Path]:
    with app.app_context():
        root = media_root()
    return sorted(path for path in root.rglob("*") if path.is_file())


def waiting_voice_note(app: Flask, client: FlaskClient, url: str, redis_url: str) -> int:
    """A voice note taken in, whose fetch the test runs itself (its queued job is dropped)."""
    send_sms(client, MEMBER, "", media=[(url, "audio/ogg")], process=False)
    with app.app_context():
        message = db.session.scalars(select(InboundMessage)).one()
        process_inbound(message.id)
        media_id = db.session.scalars(select(InboundMedia.id)).one()
    flush_redis(redis_url)
    return media_id


def during_download(monkeypatch: pytest.MonkeyPatch, meanwhile: Callable[[], None]) -> None:
    """Run ``meanwhile`` once, after the first download has written its file and before
    that fetch stores it."""
    real = fetch.download
    ran: list[bool] = []

    def download(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        if not ran:
            ran.append(True)
            meanwhile()
        return result

    monkeypatch.setattr(fetch, "download", download)


def test_forget_during_the_download_leaves_no_file(
    app: Flask, client: FlaskClient, fake_twilio: FakeTwilio, redis_url: str, monkeypatch: Any
) -> None:
    url = fake_twilio.add_media(VOICE, "audio/ogg")
    media_id = waiting_voice_note(app, client, url, redis_url)
    # The member's FORGET is taken in, and committed, by another worker meanwhile.
    during_download(monkeypatch, lambda: send_sms(client, MEMBER, "FORGET"))

    with app.app_context():
        assert fetch_media(media_id) == "discarded"
        assert db.session.scalars(select(InboundMedia)).all() == []
    assert media_files(app) == []


def test_a_second_fetch_during_the_download_is_turned_away(
    app: Flask, client: FlaskClient, fake_twilio: FakeTwilio, redis_url: str, monkeypatch: Any
) -> None:
    url = fake_twilio.add_media(VOICE, "audio/ogg")
    media_id = waiting_voice_note(app, client, url, redis_url)
    seen: list[object] = []

    def sweep_and_second_worker() -> None:
        with app.app_context():
            seen.append(due_media(10))  # a sweep: the row is held, so it is not due
            seen.append(fetch_media(media_id))  # a duplicate job on another worker

    during_download(monkeypatch, sweep_and_second_worker)
    with app.app_context():
        assert fetch_media(media_id) == "stored"
        stored = db.session.get(InboundMedia, media_id)
        assert stored is not None and stored.storage_path is not None
        assert media_files(app) == [media_root() / stored.storage_path]
    assert seen == [[], "held by another fetch"]


def test_a_fetch_that_loses_the_race_deletes_its_own_file(
    app: Flask, client: FlaskClient, fake_twilio: FakeTwilio, redis_url: str, monkeypatch: Any
) -> None:
    url = fake_twilio.add_media(VOICE, "audio/ogg")
    media_id = waiting_voice_note(app, client, url, redis_url)
    start = clock.now()
    clock.freeze(start)
    seen: list[object] = []

    def stalled_past_its_hold() -> None:
        # The first fetch stalls after its download until its hold runs out; the sweeper
        # then queues the row again and another worker fetches and stores it.
        clock.freeze(start + HOLD)
        with app.app_context():
            seen.append(due_media(10))
            seen.append(fetch_media(media_id))

    during_download(monkeypatch, stalled_past_its_hold)
    with app.app_context():
        assert fetch_media(media_id) == "discarded"
        stored = db.session.get(InboundMedia, media_id)
        assert stored is not None and stored.storage_path is not None
        assert (media_root() / stored.storage_path).read_bytes() == VOICE
        assert media_files(app) == [media_root() / stored.storage_path]
    assert seen == [[media_id], "stored"]


class DroppingMediaServer(BaseHTTPRequestHandler):
    """Serves BIG_VOICE but closes the connection half way through, as a dropped connection
    does. The fake Twilio always serves its media whole, so this stands in for it."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "audio/ogg")
        self.send_header("Content-Length", str(len(BIG_VOICE)))
        self.end_headers()
        self.wfile.write(BIG_VOICE[: len(BIG_VOICE) // 2])
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def dropping_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), DroppingMediaServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/media/voice.ogg"
    server.shutdown()
    server.server_close()
    thread.join()


def test_a_download_dropped_mid_file_leaves_no_partial_file(
    app: Flask, client: FlaskClient, dropping_url: str, redis_url: str
) -> None:
    media_id = waiting_voice_note(app, client, dropping_url, redis_url)

    with app.app_context():
        assert fetch_media(media_id) == "will retry"
        media = db.session.get(InboundMedia, media_id)
        assert media is not None and media.storage_path is None
        assert media.fetch_error == "ChunkedEncodingError"
        assert media.next_fetch_at is not None  # retried later, under a new name
    assert media_files(app) == []


def test_a_download_past_its_deadline_is_abandoned_and_deleted(
    app: Flask, client: FlaskClient, fake_twilio: FakeTwilio, redis_url: str, monkeypatch: Any
) -> None:
    url = fake_twilio.add_media(BIG_VOICE, "audio/ogg")
    media_id = waiting_voice_note(app, client, url, redis_url)
    monkeypatch.setattr(fetch, "DOWNLOAD_DEADLINE_SECONDS", -1.0)  # over before it starts

    with app.app_context():
        assert fetch_media(media_id) == "will retry"
        media = db.session.get(InboundMedia, media_id)
        assert media is not None and media.fetch_error == "Timeout"
        assert media.next_fetch_at is not None
        assert media.next_fetch_at - clock.now() <= timedelta(minutes=1)  # backoff, not hold
    assert media_files(app) == []
