"""The loop-health dashboard: is every member acknowledged, answered, and heard alike?"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("dashboard", __name__)

from . import routes  # noqa: E402,F401
