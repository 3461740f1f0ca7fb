"""WhatsApp: the 24-hour window, approved templates, and the admin page that manages them."""

from flask import Blueprint

bp = Blueprint("whatsapp", __name__)

from . import routes  # noqa: E402,F401
