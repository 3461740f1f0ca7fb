"""Where fetched media files live: a folder the app controls."""

from __future__ import annotations

import logging
import mimetypes
import secrets
from collections.abc import Iterable
from pathlib import Path

from flask import current_app

from .. import clock

log = logging.getLogger(__name__)


def media_root() -> Path:
    configured = current_app.config.get("MEDIA_DIR")
    return Path(configured) if configured else Path(current_app.instance_path) / "media"


def new_file(content_type: str) -> str:
    """A fresh name, relative to the media folder, for a file of ``content_type``; its
    folder exists. Random, so that no two fetches ever write to the same file."""
    folder = media_root() / clock.now().strftime("%Y/%m")
    folder.mkdir(parents=True, exist_ok=True)
    extension = mimetypes.guess_extension(content_type) or ".bin"
    return f"{folder.relative_to(media_root())}/{secrets.token_hex(16)}{extension}"


def delete_files(paths: Iterable[str]) -> None:
    root = media_root().resolve()
    for relative in paths:
        path = (root / relative).resolve()
        if not path.is_relative_to(root):
            log.error("refusing to delete a media file outside the media folder")
            continue
        path.unlink(missing_ok=True)
