"""CSV downloads for staff: feedback items and decisions, never a member's contact details."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("exports", __name__)

from . import routes  # noqa: E402,F401
