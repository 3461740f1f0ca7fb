"""The media job: copy a photo or voice note from Twilio into our own storage.

Twilio's media URLs need the account's credentials, and are only sent them when they point
at Twilio (or the configured TWILIO_API_BASE_URL); a URL elsewhere (the development
simulator's) is fetched without. Size and type are limited before anything is kept.

A fetch holds its row while it downloads, and keeps the file only if, once written, the row
is still there, still unstored and its message not erased; otherwise, and on any failure, it
deletes the file, so that no file outlives a FORGET or a lost race with nothing pointing to it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import requests
from flask import current_app
from sqlalchemy import select, update

from .. import clock
from ..dbutil import hand_out_due
from ..extensions import db
from ..models import InboundMedia, InboundMessage
from ..outbox import rowcount
from .storage import delete_files, media_root, new_file

log = logging.getLogger(__name__)

ACCEPTED_TYPES = ("image/", "audio/", "video/", "application/pdf")
MAX_ATTEMPTS = 6
CHUNK_BYTES = 64 * 1024
# TWILIO_TIMEOUT_SECONDS bounds each read, not the download: a server trickling a byte per
# read would hold the worker for ever. Two minutes fetches MEDIA_MAX_BYTES (16 MiB by
# default) at about 1 Mbit/s.
DOWNLOAD_DEADLINE_SECONDS = 120.0
# due_media defers each row it enqueues by this much, so that the next sweep skips it.
SWEEP_DEFER = timedelta(minutes=5)
# A fetch holds its row by moving next_fetch_at this far ahead. Past SWEEP_DEFER, so a job
# that finds next_fetch_at beyond now + SWEEP_DEFER knows another fetch holds the row; and
# past SWEEP_DEFER by more than DOWNLOAD_DEADLINE_SECONDS, so by the time a hold looks free
# its download is over. A fetch that dies is retried by the sweeper once its hold runs out.
HOLD = timedelta(minutes=10)


class MediaRefused(Exception):
    """Not worth retrying: too big, a type we do not keep, or gone at Twilio."""


def fetch_media(media_id: int) -> str:
    media = db.session.get(InboundMedia, media_id)
    if media is None or media.storage_path or media.next_fetch_at is None:
        return "nothing to do"
    message = db.session.get(InboundMessage, media.message_id)
    if message is None or message.erased_at is not None:
        record(media_id, next_fetch_at=None)
        return "message erased"
    # Read now: claim's commit expires the row, and FORGET may delete it while we download.
    source_url, content_type = media.source_url, media.content_type
    attempts = media.fetch_attempts + 1
    assert source_url is not None
    if not claim(media_id):
        return "held by another fetch"
    try:
        relative, size = download(source_url, content_type)
    except MediaRefused as exc:
        record(media_id, fetch_error=str(exc), next_fetch_at=None)
        log.warning("media %s not kept: %s", media_id, exc)
        return f"refused: {exc}"
    except OSError as exc:  # requests' errors are OSErrors, and so is a full disk
        give_up = attempts >= MAX_ATTEMPTS
        retry_at = None if give_up else clock.now() + backoff(attempts)
        record(media_id, fetch_error=type(exc).__name__, next_fetch_at=retry_at)
        log.warning("media %s fetch attempt %s failed: %s", media_id, attempts, exc)
        return "failed" if give_up else "will retry"
    return keep(media_id, relative, size)


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** (attempts - 1), 3600))


def claim(media_id: int) -> bool:
    """Hold the row for this fetch, so that neither the sweeper nor a duplicate job fetches
    it meanwhile; False if another fetch holds it or it is done. A compare-and-set rather
    than SELECT ... FOR UPDATE, which SQLite ignores."""
    now = clock.now()
    claimed = rowcount(
        update(InboundMedia)
        .where(
            InboundMedia.id == media_id,
            InboundMedia.storage_path.is_(None),
            InboundMedia.next_fetch_at.is_not(None),
            InboundMedia.next_fetch_at <= now + SWEEP_DEFER,
        )
        .values(next_fetch_at=now + HOLD, fetch_attempts=InboundMedia.fetch_attempts + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return claimed == 1


def record(media_id: int, **values: Any) -> None:
    """Note a fetch's outcome on the row, if it is still there and still unstored: FORGET may
    have deleted it, or (after our hold ran out) another fetch stored it, meanwhile."""
    rowcount(
        update(InboundMedia)
        .where(InboundMedia.id == media_id, InboundMedia.storage_path.is_(None))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def keep(media_id: int, relative: str, size: int) -> str:
    """Point the row at the file just written, or delete the file: a file nothing points to
    would outlive its member's FORGET."""
    try:
        stored = store(media_id, relative, size)
    except BaseException:
        delete_files([relative])
        raise
    if stored:
        return "stored"
    delete_files([relative])
    log.info("media %s was erased or stored by another fetch; our copy is deleted", media_id)
    return "discarded"


def store(media_id: int, relative: str, size: int) -> bool:
    """Set the row's file only if the row still exists, has none yet, and its message is not
    erased; one conditional UPDATE, so that it holds on SQLite and PostgreSQL alike."""
    message_kept = (
        select(InboundMessage.id)
        .where(InboundMessage.id == InboundMedia.message_id, InboundMessage.erased_at.is_(None))
        .exists()
    )
    stored = rowcount(
        update(InboundMedia)
        .where(InboundMedia.id == media_id, InboundMedia.storage_path.is_(None), message_kept)
        .values(
            storage_path=relative,
            size_bytes=size,
            fetched_at=clock.now(),
            next_fetch_at=None,
            fetch_error=None,
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return stored == 1


def download(source_url: str, content_type: str) -> tuple[str, int]:
    if not content_type.startswith(ACCEPTED_TYPES):
        raise MediaRefused(f"{content_type} is not a type we keep")
    config = current_app.config
    limit = int(config["MEDIA_MAX_BYTES"])
    url, auth = source_request(source_url)
    timeout = float(config["TWILIO_TIMEOUT_SECONDS"])
    deadline = time.monotonic() + DOWNLOAD_DEADLINE_SECONDS
    with requests.get(url, auth=auth, timeout=timeout, stream=True) as response:
        if response.status_code == 404:
            raise MediaRefused("Twilio no longer has this file")
        response.raise_for_status()
        declared = int(response.headers.get("Content-Length") or 0)
        if declared > limit:
            raise MediaRefused(f"{declared} bytes is over the {limit}-byte limit")
        relative = new_file(content_type)
        size = save(response.iter_content(CHUNK_BYTES), media_root() / relative, limit, deadline)
    return relative, size


def save(chunks: Iterable[bytes], target: Path, limit: int, deadline: float) -> int:
    """Write the chunks to ``target``; on any failure (a dropped connection, a full disk, a
    timeout) delete what was written, since a retry writes under a new name."""
    handle = target.open("xb")  # a fresh random name, so never another fetch's file
    try:
        with handle:
            return copy(chunks, handle, limit, deadline)
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def copy(chunks: Iterable[bytes], handle: BinaryIO, limit: int, deadline: float) -> int:
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise MediaRefused(f"over the {limit}-byte limit")
        if time.monotonic() > deadline:
            raise requests.Timeout(f"not downloaded within {DOWNLOAD_DEADLINE_SECONDS:g}s")
        handle.write(chunk)
    return size


def source_request(url: str) -> tuple[str, tuple[str, str] | None]:
    """The URL to fetch and the credentials to send with it (only ever to Twilio)."""
    config = current_app.config
    base = config.get("TWILIO_API_BASE_URL")
    twilio = "https://api.twilio.com"
    if base and url.startswith(twilio):
        url = base.rstrip("/") + url[len(twilio) :]
    trusted = {"api.twilio.com"} | ({urlsplit(base).netloc} if base else set())
    sid, token = config.get("TWILIO_ACCOUNT_SID"), config.get("TWILIO_AUTH_TOKEN")
    if urlsplit(url).netloc in trusted and sid and token:
        return url, (sid, token)
    return url, None


def due_media(limit: int) -> list[int]:
    """Media whose fetch is due; each is pushed back so one sweep does not repeat it."""
    return hand_out_due(InboundMedia.next_fetch_at, clock.now(), limit, SWEEP_DEFER)
