"""GET /healthz (can this web process take requests?) and /healthz/work (is the work
getting done?)."""

from flask import Blueprint

bp = Blueprint("health", __name__)

from . import routes  # noqa: E402,F401
