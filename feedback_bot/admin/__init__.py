"""The staff panel: triage, decisions, users and the audit log.

Who may do what, in one place; every view says which of these it needs with
``roles_required``, and templates ask the same questions through ``may``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import Blueprint
from flask_login import current_user

from ..messaging.language import UNRECOGNISED
from ..messaging.templates import ABOUT
from ..models import Disposition, ItemStatus, OutboundStatus, Outcome, Role

bp = Blueprint("admin", __name__)

READERS = Role.ALL  # read feedback and decisions (interpreters without contact details)
TRIAGERS = (Role.ADMIN, Role.STAFF)  # tag, link, close, write and publish decisions
# Masked numbers, and numbers members typed into their messages (``reading``).
CONTACT_VIEWERS = (Role.ADMIN, Role.STAFF)
REVEALERS = (Role.ADMIN,)  # a member's full number, audited
ADMINS = (Role.ADMIN,)  # users, settings, the audit log
TRANSLATORS = (Role.ADMIN, Role.INTERPRETER)  # the translation workspace

PERMISSIONS: dict[str, tuple[str, ...]] = {
    "read": READERS,
    "triage": TRIAGERS,
    "see_contacts": CONTACT_VIEWERS,
    "reveal": REVEALERS,
    "admin": ADMINS,
    "translate": TRANSLATORS,
}

STATUS_LABELS = {
    ItemStatus.NEW: "New",
    ItemStatus.TRIAGED: "Triaged",
    ItemStatus.LINKED: "Linked",
    ItemStatus.TOLD: "Told",
    ItemStatus.REOPENED: "Reopened",
    ItemStatus.CLOSED: "Closed",
}

# Where a message to a member is, as the item's timeline says it.
DELIVERY_LABELS = {
    OutboundStatus.PENDING: "Waiting to be sent",
    OutboundStatus.SENDING: "Sending",
    OutboundStatus.QUEUED: "Queued",
    OutboundStatus.SENT: "Sent",
    OutboundStatus.DELIVERED: "Delivered",
    OutboundStatus.READ: "Read",
    OutboundStatus.UNDELIVERED: "Not delivered",
    OutboundStatus.FAILED: "Failed",
    OutboundStatus.CANCELLED: "Cancelled",
    OutboundStatus.NEEDS_TEMPLATE: "Waiting for a WhatsApp template",
}

# What intake made of a member's message, where the item's timeline says it (feedback,
# the usual, goes unsaid).
DISPOSITION_LABELS = {
    Disposition.RATING: 'answer to "Did we listen?"',
    Disposition.COURTESY: "thanks for our message, not answered",
    Disposition.ASKED_AGAIN: "no answer to our question: asked again",
    Disposition.MENU_REPLY: "language chosen",
    Disposition.KEYWORD: "keyword",
}

# Each message as the panel names it, as the interpreters' editor does.
KIND_LABELS = {kind: about.title for kind, about in ABOUT.items()}


def may(permission: str) -> bool:
    """Whether the signed-in user has ``permission`` (a key of ``PERMISSIONS``)."""
    if not current_user or not current_user.is_authenticated:
        return False
    return bool(current_user.has_role(*PERMISSIONS[permission]))


def media_label(content_type: str) -> str:
    """How the panel names an attachment: "photo", "voice note", "video" or "file"."""
    for prefix, label in (("image/", "photo"), ("audio/", "voice note"), ("video/", "video")):
        if content_type.startswith(prefix):
            return label
    return "file"


@bp.app_context_processor
def panel_helpers() -> dict[str, Any]:
    return {
        "may": may,
        "STATUS_LABELS": STATUS_LABELS,
        "KIND_LABELS": KIND_LABELS,
        "DELIVERY_LABELS": DELIVERY_LABELS,
        "DISPOSITION_LABELS": DISPOSITION_LABELS,
        "OUTCOME_LABELS": Outcome.LABELS,
        "media_label": media_label,
        "UNRECOGNISED": UNRECOGNISED,
    }


@bp.app_template_filter("when")
def format_when(value: datetime | date | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


from . import (  # noqa: E402,F401
    audit_log,
    routes_decisions,
    routes_items,
    routes_languages,
    routes_member_requests,
    routes_users,
)
