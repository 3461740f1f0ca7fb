"""The media job: copy a photo or voice note from Twilio into our own storage.

Twilio's media URLs need the account's credentials, and are only sent them when they point
at Twilio (or the configured TWILIO_API_BASE_URL); a URL elsewhere (the development
simulator's) is fetched without. Size and type are limited before anything is kept.
"""

from __future__ import annotations

import logging
import mimetypes
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

import requests
from flask import current_app
from sqlalchemy import select

from .. import clock
from ..extensions import db
from ..models import InboundMedia, InboundMessage
from .storage import media_root

log = logging.getLogger(__name__)

ACCEPTED_TYPES = ("image/", "audio/", "video/", "application/pdf")
MAX_ATTEMPTS = 6


class MediaRefused(Exception):
    """Not worth retrying: too big, a type we do not keep, or gone at Twilio."""


def fetch_media(media_id: int) -> str:
    media = db.session.get(InboundMedia, media_id)
    if media is None or media.storage_path or media.next_fetch_at is None:
        return "nothing to do"
    message = db.session.get(InboundMessage, media.message_id)
    if message is None or message.erased_at is not None:
        media.next_fetch_at = None
        db.session.commit()
        return "message erased"
    media.fetch_attempts += 1
    try:
        relative, size = download(media)
    except MediaRefused as exc:
        media.fetch_error, media.next_fetch_at = str(exc), None
        db.session.commit()
        log.warning("media %s not kept: %s", media.id, exc)
        return f"refused: {exc}"
    except requests.RequestException as exc:
        give_up = media.fetch_attempts >= MAX_ATTEMPTS
        media.fetch_error = type(exc).__name__
        media.next_fetch_at = None if give_up else clock.now() + backoff(media.fetch_attempts)
        db.session.commit()
        log.warning("media %s fetch attempt %s failed: %s", media.id, media.fetch_attempts, exc)
        return "failed" if give_up else "will retry"
    media.storage_path, media.size_bytes = relative, size
    media.fetched_at, media.next_fetch_at, media.fetch_error = clock.now(), None, None
    db.session.commit()
    return "stored"


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** (attempts - 1), 3600))


def download(media: InboundMedia) -> tuple[str, int]:
    if not media.content_type.startswith(ACCEPTED_TYPES):
        raise MediaRefused(f"{media.content_type} is not a type we keep")
    assert media.source_url is not None
    config = current_app.config
    limit = int(config["MEDIA_MAX_BYTES"])
    url, auth = source_request(media.source_url)
    folder = media_root() / clock.now().strftime("%Y/%m")
    folder.mkdir(parents=True, exist_ok=True)
    extension = mimetypes.guess_extension(media.content_type) or ".bin"
    relative = f"{folder.relative_to(media_root())}/{secrets.token_hex(16)}{extension}"
    target = media_root() / relative
    timeout = float(config["TWILIO_TIMEOUT_SECONDS"])
    size = 0
    with requests.get(url, auth=auth, timeout=timeout, stream=True) as response:
        if response.status_code == 404:
            raise MediaRefused("Twilio no longer has this file")
        response.raise_for_status()
        declared = int(response.headers.get("Content-Length") or 0)
        if declared > limit:
            raise MediaRefused(f"{declared} bytes is over the {limit}-byte limit")
        with target.open("wb") as handle:
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > limit:
                    handle.close()
                    target.unlink(missing_ok=True)
                    raise MediaRefused(f"over the {limit}-byte limit")
                handle.write(chunk)
    return relative, size


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
    now = clock.now()
    rows = db.session.scalars(
        select(InboundMedia)
        .where(InboundMedia.next_fetch_at.is_not(None), InboundMedia.next_fetch_at <= now)
        .limit(limit)
    ).all()
    for media in rows:
        media.next_fetch_at = now + timedelta(minutes=5)
    db.session.commit()
    return [media.id for media in rows]
