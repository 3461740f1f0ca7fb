"""Doing what a member asked in their own words: stop messages, or erase them
(``member_requests``), from the page of the feedback that asks.

Each asks first, like every action that texts a member (``confirming``): the page says what
changes, and shows the member's last message from us in their language. Erasing cannot be
undone, so it says that too.
"""

from __future__ import annotations

from flask import abort, current_app, flash, redirect
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from .. import audit, clock, member_requests
from ..auth.roles import roles_required
from ..extensions import db
from ..jobs import enqueue_retry, enqueue_send
from ..member_requests import Outcome, Result
from ..messaging.templates import render
from ..models import Contact, FeedbackItem, InboundMessage, MessageKind
from . import TRIAGERS, bp, confirming
from .forms import ConfirmedForm
from .routes_items import flash_errors, get_item, item_url

# The two requests, by the name the routes, the confirmation page and the audit log use.
STOP, FORGET = "stop", "forget"


@bp.post("/items/<int:item_id>/stop-messages")
@roles_required(*TRIAGERS)
def item_stop_messages(item_id: int) -> ResponseReturnValue:
    return carry_out(item_id, STOP)


@bp.post("/items/<int:item_id>/forget-member")
@roles_required(*TRIAGERS)
def item_forget_member(item_id: int) -> ResponseReturnValue:
    return carry_out(item_id, FORGET)


def carry_out(item_id: int, request: str) -> ResponseReturnValue:
    """Ask first (``ask``); once confirmed, do ``request`` (audited), say what came of it,
    and go back to the item."""
    item = get_item(item_id)
    contact = item.contact
    if contact is None:  # pragma: no cover - every item has its member
        abort(404)
    form = ConfirmedForm()
    back = item_url(item)
    if not form.validate_on_submit():
        flash_errors(form)
        return redirect(back)
    if not form.is_confirmed():
        return ask(form, item, contact, request, back)
    result = member_requests.stop(item) if request == STOP else member_requests.forget(item)
    if result.outcome is Outcome.DONE:
        audit.record(f"member.{request}", item, contact_id=contact.id)
    flash(*outcome_message(request, result, contact))
    # Commit, then send the confirmation.
    db.session.commit()
    if result.owed is not None and result.held_until is not None:
        # Not due until the morning: its job is scheduled for then, as a deferral's is.
        enqueue_retry(result.owed, 0, result.held_until, MessageKind.STOP)
    elif result.owed is not None:
        enqueue_send([result.owed])
    return redirect(back)


def outcome_message(request: str, result: Result, contact: Contact) -> tuple[str, str]:
    """The flash that says what came of ``request``, and its category."""
    if result.outcome is Outcome.DONE and request == STOP:
        return f"Messages to {contact.label} stopped. {told(result)}", "success"
    if result.outcome is Outcome.DONE:
        return (
            f"{contact.label} erased: their number, and what they sent, here and at Twilio. "
            f"{told(result)}",
            "success",
        )
    if result.outcome is Outcome.STARTED_SINCE:
        return (
            f"Not stopped: the member texted START on {result.started_at:%Y-%m-%d %H:%M} UTC, "
            "after this feedback, and their latest word stands. If they have asked again "
            "since, stop them from the feedback that asks.",
            "error",
        )
    if result.outcome is Outcome.FORGOTTEN:
        return "This member asked to be forgotten: we have no number to stop.", "info"
    if request == STOP:
        return "This member has opted out already: we send them nothing.", "info"
    return "This member has been erased already.", "info"


def told(result: Result) -> str:
    if result.owed is None:
        return "They could not be told: WhatsApp allows no reply a day after their last message."
    if result.held_until is not None:
        return (
            "A last message saying so, in their language, goes at "
            f"{result.held_until:%H:%M} UTC, when it is no longer night where they are."
        )
    return "They are sent a last message saying so, in their language."


def ask(
    form: ConfirmedForm, item: FeedbackItem, contact: Contact, request: str, cancel: str
) -> str:
    """The page that says what stopping or erasing the member does, and asks first."""
    now = clock.now()
    held_until = None
    if request == STOP:
        kind, values = MessageKind.STOP, {"org": current_app.config["ORG_NAME"]}
        action = item_url(item, "admin.item_stop_messages")
        held_until = member_requests.stop_confirmation_held_until(contact, now)
    else:
        kind, values = MessageKind.FORGET, {}
        action = item_url(item, "admin.item_forget_member")
    staff_locale = current_app.config["STAFF_LOCALE"]
    return confirming.ask(
        "admin/confirm_member_request.html",
        form,
        request=request,
        item=item,
        contact=contact,
        channel=member_requests.reply_channel(contact, item.channel, now),
        held_until=held_until,
        message=render(kind, contact.locale, **values),
        in_staff_language=(
            render(kind, staff_locale, **values) if contact.locale != staff_locale else None
        ),
        messages=db.session.scalar(
            select(func.count())
            .select_from(InboundMessage)
            .where(InboundMessage.contact_id == contact.id)
        ),
        action=action,
        cancel=cancel,
    )
