"""GET /admin/media/<id>: a member's photo or voice note, for signed-in staff only.

Never Twilio's URL, never a public path: the file is read from our storage and sent by an
authenticated view, with range requests so voice notes can be played and skipped.
"""

from __future__ import annotations

from flask import abort, send_file
from flask.typing import ResponseReturnValue

from ..auth.roles import roles_required
from ..extensions import db
from ..models import InboundMedia
from . import bp
from .storage import media_root


@bp.get("/<int:media_id>")
@roles_required("admin", "staff", "interpreter")
def media_file(media_id: int) -> ResponseReturnValue:
    media = db.get_or_404(InboundMedia, media_id)
    if not media.storage_path:
        abort(404, "This file has not been fetched yet.")
    root = media_root().resolve()
    path = (root / media.storage_path).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        abort(404)
    inline = media.content_type.startswith(SHOWN_INLINE)
    response = send_file(
        path,
        mimetype=media.content_type,
        conditional=True,
        max_age=0,
        as_attachment=not inline,
        download_name=path.name,
    )
    response.headers["Cache-Control"] = "private, no-store"
    # A file a stranger sent, on the panel's own origin: opened on its own, it runs in a
    # sandbox with nothing allowed (an SVG's script, a PDF's links), whatever it claims.
    response.headers["Content-Security-Policy"] = MEDIA_CSP
    return response


# Shown in the page; anything else (an SVG, a PDF) is downloaded instead.
SHOWN_INLINE = ("image/jpeg", "image/png", "image/gif", "image/webp", "audio/", "video/")
MEDIA_CSP = "sandbox; default-src 'none'; img-src 'self'; media-src 'self'"
