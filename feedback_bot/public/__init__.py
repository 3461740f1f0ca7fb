"""Pages anyone may read without signing in: "You said, we did"."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("public", __name__)

from . import routes  # noqa: E402,F401
