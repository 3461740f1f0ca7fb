"""The interpreters' workspace: feedback into the staff language, summaries and templates
into members' languages."""

from flask import Blueprint

bp = Blueprint("interpreters", __name__)

from . import routes  # noqa: E402,F401
