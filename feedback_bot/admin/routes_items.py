"""Triage: the inbox, an item's page, topics, and actions on one item or many.

Numbers: staff and admins see a masked number next to the member's pseudonym; only an
admin can reveal the full number, once, by an audited POST. Interpreters never get a
number of any kind: it is not computed for them, so no template can leak it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from wtforms import SelectChoice

from .. import audit, loop
from ..auth.roles import roles_required
from ..extensions import db
from ..interpreters.access import languages_to_translate
from ..models import Channel, Contact, Decision, FeedbackItem, ItemStatus, Topic
from ..pagination import paginate
from ..privacy import mask_phone, vault
from . import READERS, REVEALERS, TRIAGERS, bp, confirming, may
from .forms import NO_CHOICE, ActionForm, BulkForm, CloseForm, LinkForm, TagForm
from .queries import (
    STATUSES,
    UNTRIAGED,
    InboxFilters,
    all_decisions,
    all_topics,
    inbox_query,
    item_locales,
    item_timeline,
    items_by_ids,
    topic_named,
)

PER_PAGE = 25


# ------------------------------------------------------------------------------ helpers


def phone_of(contact: Contact | None) -> str | None:
    if contact is None or contact.phone_ciphertext is None:
        return None
    return vault().decrypt(contact.phone_ciphertext)


def masked_numbers(items: Iterable[FeedbackItem]) -> dict[int, str]:
    """Item id -> masked number; empty unless the user may see contact details."""
    if not may("see_contacts"):
        return {}
    masked: dict[int, str] = {}
    for item in items:
        phone = phone_of(item.contact)
        if phone is not None:
            masked[item.id] = mask_phone(phone)
    return masked


def topic_choices() -> list[SelectChoice]:
    return [SelectChoice(NO_CHOICE, "Choose a topic…")] + [
        SelectChoice(t.id, t.name) for t in all_topics()
    ]


def decision_choices() -> list[SelectChoice]:
    return [SelectChoice(NO_CHOICE, "Choose a decision…")] + [
        SelectChoice(d.id, f"{d.title} ({'published' if d.published else 'draft'})")
        for d in all_decisions()
    ]


def get_item(item_id: int) -> FeedbackItem:
    item = db.session.get(FeedbackItem, item_id)
    if item is None:
        abort(404)
    return item


def topic_for(topic_id: int, new_name: str | None) -> Topic:
    """The chosen topic, or the one named (created now, and audited, if it is new)."""
    name = (new_name or "").strip()
    if name:
        topic = topic_named(name)
        if topic is None:
            topic = Topic(name=name)
            db.session.add(topic)
            db.session.flush()
            audit.record("topic.create", topic, name=name)
        return topic
    topic = db.session.get(Topic, topic_id)
    if topic is None:
        abort(404)
    return topic


def tag(items: Iterable[FeedbackItem], topic: Topic) -> int:
    """Tag each item with ``topic`` (audited); the caller commits. Returns how many changed."""
    changed = 0
    for item in items:
        if topic not in item.topics:
            item.topics.append(topic)
            audit.record("item.tag", item, topic_id=topic.id, topic=topic.name)
            changed += 1
    return changed


def tagged_message(topic: Topic, changed: int, selected: int) -> tuple[str, str]:
    """What tagging ``selected`` items, ``changed`` of them newly, says, and its category."""
    if not changed:
        which = "The item" if selected == 1 else f"All {selected} items"
        return f"{which} already had “{topic.name}”; nothing changed.", "info"
    text = f"Tagged {changed} item(s) with “{topic.name}”."
    if changed < selected:
        text += f" {selected - changed} already had it."
    return text, "success"


def mark_triaged(items: Iterable[FeedbackItem]) -> int:
    """Mark new and reopened items triaged (audited); returns how many. A reopened item
    stays waiting (``loop.awaits_decision``: interim updates go on) until staff link it to
    a decision again, the one it had or another."""
    changed = 0
    for item in items:
        if item.status in UNTRIAGED:
            item.status = ItemStatus.TRIAGED
            audit.record("item.triage", item)
            changed += 1
    return changed


@dataclass(frozen=True)
class LinkPlan:
    """What linking some items to a decision would do, worked out before it is done."""

    decision: Decision
    moving: list[FeedbackItem]  # the items it links
    told: list[FeedbackItem]  # left as they are: their members heard another decision

    @property
    def texts_members(self) -> bool:
        """Whether it texts members now, and so asks first (``confirming``)."""
        return self.decision.published and bool(self.moving)

    @property
    def closed(self) -> list[FeedbackItem]:
        return [item for item in self.moving if item.status == ItemStatus.CLOSED]

    @property
    def rejected(self) -> list[FeedbackItem]:
        """Items whose members answered "no" to "Did we listen?", not answered since."""
        return [item for item in self.moving if reopened_by_member(item)]


def reopened_by_member(item: FeedbackItem) -> bool:
    """Whether the member said they did not feel heard, and staff have not answered yet."""
    return item.reopened_at is not None and loop.awaits_decision(item)


def plan_link(decision: Decision, items: list[FeedbackItem]) -> LinkPlan:
    """Which items linking to ``decision`` moves: those not linked to it yet. A closed item
    is linked even to the decision it still names (closed before closing unlinked). So is
    an item its member reopened ("Did we listen?" "No"), which keeps its decision while it
    waits: linking it again is how staff answer the member, who is then told the decision
    again (``loop.fan_out._relinked_since``). An item whose member was told another decision, or
    is being told it, stays as it is (``loop.told``)."""
    candidates = [
        item
        for item in items
        if item.decision_id != decision.id
        or item.status == ItemStatus.CLOSED
        or loop.awaits_decision(item)
    ]
    told = [item for item in candidates if loop.told(item)]
    return LinkPlan(decision, [item for item in candidates if item not in told], told)


def link(plan: LinkPlan) -> tuple[int, int]:
    """Link the items ``plan`` moves (audited); returns how many, and how many of them were
    closed as no action and are reopened by it (``loop.link``)."""
    if not plan.moving:
        return 0, 0
    decision = plan.decision
    reopened = 0
    for item in plan.moving:
        detail: dict[str, Any] = {}
        if item.status == ItemStatus.CLOSED:
            detail["reopened"] = True
            reopened += 1
        audit.record(
            "item.link",
            item,
            decision_id=decision.id,
            decision=decision.title,
            previous_decision_id=item.decision_id,
            **detail,
        )
    loop.link(decision, plan.moving)
    return len(plan.moving), reopened


def ask_to_link(
    form: LinkForm | BulkForm, plan: LinkPlan, item: FeedbackItem | None, cancel: str
) -> str:
    """The page that says whom linking to a published decision texts, and asks first."""
    action = item_url(item, "admin.item_link") if item else url_for("admin.bulk_action")
    return confirming.ask(
        "admin/confirm_link.html",
        form,
        plan=plan,
        audience=confirming.audience(plan.moving, plan.decision),
        item=item,
        action=action,
        cancel=cancel,
    )


TOLD_ALREADY = (
    "a second decision would contradict the first. If that decision changes, edit it and "
    "send an update; if a member answers “no” to “Did we listen?”, the item reopens and "
    "can be linked again."
)


def linked_message(decision: Decision, linked: int, reopened: int) -> str:
    text = f"Linked {linked} item(s) to “{decision.title}”."
    if reopened:
        when = "" if decision.published else " when it is published"
        text += (
            f" {reopened} of them had been closed as no action: they are open again, and "
            f"their members will be told this decision{when}."
        )
    return text


def close(items: Iterable[FeedbackItem], reason: str) -> int:
    """Close as no action each item that can be (audited; ``loop.close_no_action``: the
    member is told we are not taking it further, never ``reason``); returns how many."""
    closed = 0
    for item in items:
        if not loop.closable(item):
            continue
        detail = {"unlinked_decision_id": item.decision_id} if item.decision_id else {}
        audit.record("item.close", item, reason=reason, **detail)
        if loop.close_no_action(item, reason):
            closed += 1
    return closed


def ask_to_close(
    form: CloseForm | BulkForm,
    closing: list[FeedbackItem],
    item: FeedbackItem | None,
    cancel: str,
    left: int = 0,
) -> str:
    """The page that says whom closing as no action texts, and asks first. ``left``: the
    selected items that cannot be closed (``loop.closable``)."""
    action = item_url(item, "admin.item_close") if item else url_for("admin.bulk_action")
    return confirming.ask(
        "admin/confirm_close.html",
        form,
        closing=closing,
        audience=confirming.audience(closing),
        reason=(form.reason.data or "").strip(),
        item=item,
        left=left,
        action=action,
        cancel=cancel,
    )


def flash_errors(*forms: TagForm | LinkForm | CloseForm | BulkForm) -> None:
    for form in forms:
        for field_name, errors in form.errors.items():
            label = getattr(form, field_name).label.text if hasattr(form, field_name) else ""
            for error in errors:
                flash(f"{label}: {error}" if label else str(error), "error")


# -------------------------------------------------------------------------------- inbox


@bp.get("/items")
@roles_required(*READERS)
def inbox() -> ResponseReturnValue:
    filters = InboxFilters.from_args(request.args)
    pagination = paginate(inbox_query(filters), per_page=PER_PAGE)
    bulk = BulkForm()
    bulk.topic_id.choices = topic_choices()
    bulk.decision_id.choices = decision_choices()
    # Carried by the bulk form and the links to items, to come back to the inbox as it is.
    back = urlencode(inbox_args({**filters.to_args(), "page": str(pagination.page)}))
    bulk.back.data = back
    return render_template(
        "admin/inbox.html",
        pagination=pagination,
        items=pagination.items,
        filters=filters,
        numbers=masked_numbers(pagination.items),
        statuses=STATUSES,
        channels=Channel.ALL,
        locales=item_locales(),
        topics=all_topics(),
        bulk=bulk,
        back=back or None,
    )


@bp.post("/items/bulk")
@roles_required(*TRIAGERS)
def bulk_action() -> ResponseReturnValue:
    form = BulkForm()
    form.topic_id.choices = topic_choices()
    form.decision_id.choices = decision_choices()
    back = inbox_url(dict(parse_qsl(form.back.data or "")))
    if not form.validate_on_submit():
        flash_errors(form)
        return redirect(back)
    items = items_by_ids(form.item_ids.data)
    if not items:
        abort(404)
    action = form.action.data
    if action == BulkForm.TAG:
        topic = topic_for(form.topic_id.data, form.new_topic.data)
        changed = tag(items, topic)
        db.session.commit()
        flash(*tagged_message(topic, changed, len(items)))
    elif action == BulkForm.LINK:
        decision = db.session.get(Decision, form.decision_id.data)
        if decision is None:
            abort(404)
        plan = plan_link(decision, items)
        if plan.texts_members and not form.is_confirmed():
            return ask_to_link(form, plan, None, back)
        linked, reopened = link(plan)
        text = linked_message(decision, linked, reopened)
        if plan.told:
            text += (
                f" {len(plan.told)} left as they were: their members have been told "
                f"another decision, and {TOLD_ALREADY}"
            )
        flash(text, "success")
    elif action == BulkForm.CLOSE:
        closing = [item for item in items if loop.closable(item)]
        if closing and not form.is_confirmed():
            return ask_to_close(form, closing, None, back, left=len(items) - len(closing))
        closed = close(items, form.reason.data.strip())
        text = (
            f"Closed {closed} item(s) as no action. Your reason is kept for staff; their "
            "members are told we read their feedback and are not taking it further, and asked "
            "whether they felt heard (unless they opted out)."
        )
        if closed < len(items):
            text += (
                f" {len(items) - closed} left as they were: closed already, or their members "
                "have been told of a decision."
            )
        flash(text, "success")
    else:
        changed = mark_triaged(items)
        db.session.commit()
        flash(f"Marked {changed} item(s) triaged.", "success")
    return redirect(back)


def inbox_args(args: Mapping[str, str]) -> dict[str, str]:
    """The inbox's filters and page in ``args``, rebuilt (never echoed)."""
    kept = InboxFilters.from_args(args).to_args()
    page = args.get("page", "")
    if page.isdigit() and page != "1":
        kept["page"] = page
    return kept


def inbox_url(args: Mapping[str, str]) -> str:
    """Back to the inbox with the filters and page it was on."""
    kept: dict[str, Any] = inbox_args(args)
    return url_for("admin.inbox", **kept)


def back_to_inbox() -> str | None:
    """The inbox an item's page was opened from: its ``back``, the inbox's query string
    (``inbox_args``), which the page's links and forms carry on, so that acting on the item
    and coming back to it still leads back there. None for the inbox as it first opens."""
    return urlencode(inbox_args(dict(parse_qsl(request.args.get("back", ""))))) or None


def item_url(item: FeedbackItem, endpoint: str = "admin.item_page", **values: Any) -> str:
    """``endpoint`` (the item's page, or one of its actions) for ``item``, carrying the way
    back to the inbox (``back_to_inbox``)."""
    return url_for(endpoint, item_id=item.id, back=back_to_inbox(), **values)


# --------------------------------------------------------------------------- item page


def render_item(
    item: FeedbackItem, revealed: str | None = None, close_form: CloseForm | None = None
) -> str:
    """The item's page; with ``close_form``, its "Close as no action" open, and the reason
    that was typed in it."""
    tag_form = TagForm()
    tag_form.topic_id.choices = topic_choices()
    link_form = LinkForm()
    link_form.decision_id.choices = decision_choices()
    rejected = reopened_by_member(item)
    # Not the decision the member said no to: linking it again resends what they rejected,
    # which staff should choose knowingly, not find chosen for them.
    if item.decision_id and not rejected:
        link_form.decision_id.data = item.decision_id
    back = back_to_inbox()
    return render_template(
        "admin/item.html",
        item=item,
        back=back,
        inbox=inbox_url(dict(parse_qsl(back or ""))),
        # Where a translation opened from here comes back to (its ``next``).
        here=item_url(item),
        rejected=rejected,
        timeline=item_timeline(item),
        masked=masked_numbers([item]).get(item.id),
        revealed=revealed,
        tag_form=tag_form,
        link_form=link_form,
        close_form=close_form or CloseForm(formdata=None),
        closing=close_form is not None,
        action_form=ActionForm(),
        # An interpreter reading the item translates its messages from here.
        translate_from=languages_to_translate(),
    )


@bp.get("/items/<int:item_id>")
@roles_required(*READERS)
def item_page(item_id: int) -> ResponseReturnValue:
    return render_item(get_item(item_id))


@bp.post("/items/<int:item_id>/triage")
@roles_required(*TRIAGERS)
def item_triage(item_id: int) -> ResponseReturnValue:
    item = get_item(item_id)
    if ActionForm().validate_on_submit() and mark_triaged([item]):
        db.session.commit()
        flash("Marked triaged.", "success")
    return redirect(item_url(item))


@bp.post("/items/<int:item_id>/tag")
@roles_required(*TRIAGERS)
def item_tag(item_id: int) -> ResponseReturnValue:
    item = get_item(item_id)
    form = TagForm()
    form.topic_id.choices = topic_choices()
    if form.validate_on_submit():
        topic = topic_for(form.topic_id.data, form.new_topic.data)
        if tag([item], topic):
            flash(f"Tagged “{topic.name}”.", "success")
        else:
            # A name typed in another case finds the topic, which the item may have already.
            flash(f"Already tagged “{topic.name}”; nothing changed.", "info")
        db.session.commit()
    else:
        flash_errors(form)
    return redirect(item_url(item))


@bp.post("/items/<int:item_id>/topics/<int:topic_id>/remove")
@roles_required(*TRIAGERS)
def item_untag(item_id: int, topic_id: int) -> ResponseReturnValue:
    item = get_item(item_id)
    topic = db.session.get(Topic, topic_id)
    if topic is None:
        abort(404)
    if ActionForm().validate_on_submit() and topic in item.topics:
        item.topics.remove(topic)
        audit.record("item.untag", item, topic_id=topic.id, topic=topic.name)
        db.session.commit()
        flash(f"Removed “{topic.name}”.", "success")
    return redirect(item_url(item))


@bp.post("/items/<int:item_id>/link")
@roles_required(*TRIAGERS)
def item_link(item_id: int) -> ResponseReturnValue:
    item = get_item(item_id)
    form = LinkForm()
    form.decision_id.choices = decision_choices()
    if form.validate_on_submit():
        decision = db.session.get(Decision, form.decision_id.data)
        if decision is None:
            abort(404)
        plan = plan_link(decision, [item])
        if plan.told:
            flash(
                f"Not linked: the member has been told “{told_title(item)}” (or is being "
                f"told it right now), and {TOLD_ALREADY}",
                "error",
            )
            return redirect(item_url(item))
        if plan.texts_members and not form.is_confirmed():
            return ask_to_link(form, plan, item, item_url(item))
        linked, reopened = link(plan)
        if reopened:
            when = "" if decision.published else " when it is published"
            flash(
                f"Linked to “{decision.title}” and reopened: it is no longer closed as no "
                f"action, and the member will be told this decision{when}.",
                "success",
            )
        elif linked:
            flash(f"Linked to “{decision.title}”.", "success")
        else:
            flash(f"Already linked to “{decision.title}”.", "info")
    else:
        flash_errors(form)
    return redirect(item_url(item))


def told_title(item: FeedbackItem) -> str:
    return item.decision.title if item.decision else "a decision"


@bp.post("/items/<int:item_id>/close")
@roles_required(*TRIAGERS)
def item_close(item_id: int) -> ResponseReturnValue:
    item = get_item(item_id)
    form = CloseForm()
    if request.form.get("keep_editing"):
        # Cancel on the page that asks first: back to the reason as it was typed.
        return render_item(item, close_form=form)
    if form.validate_on_submit():
        if loop.closable(item) and not form.is_confirmed():
            return ask_to_close(form, [item], item, item_url(item))
        if close([item], form.reason.data.strip()):
            contact = item.contact
            if contact is None or contact.forgotten or contact.opted_out:
                told = "the member gets no messages from us (opted out or forgotten)"
            else:
                told = (
                    "the member is told we read their feedback and are not taking it further, "
                    "and asked whether they felt heard"
                )
            flash(f"Closed as no action. Your reason is kept for staff; {told}.", "success")
        elif item.status == ItemStatus.CLOSED:
            flash("Already closed as no action.", "info")
        else:
            flash(
                "Not closed: the member has been told of a decision (or is being told it "
                "right now), so this feedback is not “no action”.",
                "error",
            )
    else:
        flash_errors(form)
    return redirect(item_url(item))


@bp.post("/items/<int:item_id>/reveal")
@roles_required(*REVEALERS)
def item_reveal(item_id: int) -> ResponseReturnValue:
    item = get_item(item_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    phone = phone_of(item.contact)
    if phone is None:
        flash("This member's number has been erased.", "error")
        return redirect(item_url(item))
    audit.record("contact.reveal", item.contact, item_id=item.id)
    db.session.commit()
    # Shown in this response only: never put in the session, a flash or a URL.
    response = make_response(render_item(item, revealed=phone))
    response.headers["Cache-Control"] = "no-store"
    return response
