"""The phone simulator (development only): be a member, watch the replies arrive."""

from flask import Blueprint

bp = Blueprint("simulator", __name__, template_folder="templates")

from . import routes  # noqa: E402,F401
