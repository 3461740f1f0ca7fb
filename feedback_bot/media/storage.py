"""Where fetched media files live: a folder the app controls."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from flask import current_app

log = logging.getLogger(__name__)


def media_root() -> Path:
    configured = current_app.config.get("MEDIA_DIR")
    return Path(configured) if configured else Path(current_app.instance_path) / "media"


def delete_files(paths: Iterable[str]) -> None:
    root = media_root().resolve()
    for relative in paths:
        path = (root / relative).resolve()
        if not path.is_relative_to(root):
            log.error("refusing to delete a media file outside the media folder")
            continue
        path.unlink(missing_ok=True)
