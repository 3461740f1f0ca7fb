"""Photos and voice notes: fetched from Twilio into storage we control, shown only to staff."""

from flask import Blueprint

bp = Blueprint("media", __name__)

from . import routes  # noqa: E402,F401
