"""Decisions: list, write, edit, publish, and watch "what happened next" go out.

The loop (``feedback_bot.loop``) does the work and commits; these views check who may
act, record the audit entry first so it commits with the action, and show progress.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import (
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user

from .. import audit, loop
from ..auth.roles import roles_required
from ..extensions import db
from ..interpreters.access import direction, languages_to_translate
from ..messaging.language import native_name
from ..messaging.templates import summary_frame
from ..models import Decision
from . import READERS, TRIAGERS, bp, confirming
from .forms import ActionForm, DecisionForm, PublishedDecisionForm
from .queries import all_decisions, linked_counts, linked_items

# The fields staff edit, copied between the form and the decision.
FIELDS = (
    "title",
    "description",
    "outcome",
    "reason",
    "responsible",
    "expected_date",
    "summary",
)
# A change to one of these changes what members were told: the summary is what they are
# sent, the outcome what the public page shows. Only a new summary can be sent as an update.
MEMBER_FACING = ("outcome", "summary")


def get_decision(decision_id: int) -> Decision:
    decision = db.session.get(Decision, decision_id)
    if decision is None:
        abort(404)
    return decision


def message_frame() -> str:
    """The what-next message around the summary, in the staff language, for the counter."""
    return summary_frame(current_app.config["STAFF_LOCALE"])


@dataclass(frozen=True)
class ProgressCount:
    """One count of ``loop.progress`` as the decision's page shows it."""

    key: str
    label: str
    # What the count means and what to do about it, shown while it is not zero.
    hint: str = ""


PROGRESS_COUNTS = (
    ProgressCount("linked", "Linked members"),
    ProgressCount("pending", "Pending"),
    ProgressCount("queued", "Queued"),
    ProgressCount("sent", "Sent"),
    ProgressCount("delivered", "Delivered"),
    ProgressCount(
        "undelivered",
        "Not delivered",
        "Twilio sent it but the phone did not receive it (switched off, no signal, or a "
        "number no longer in use). A WhatsApp message goes again by SMS if the member has "
        "texted us; nothing else tries again. The linked feedback's timeline shows the "
        "error code.",
    ),
    ProgressCount(
        "failed",
        "Failed",
        "It could not be sent: Twilio refused it (a number that cannot receive messages, "
        "say) or every attempt failed. The linked feedback's timeline shows the error code. "
        "If you send an update of this decision, these members are told then.",
    ),
    ProgressCount(
        "cancelled",
        "Cancelled",
        "Not sent, on purpose: the member opted out or asked to be forgotten, their feedback "
        "was moved to another decision or closed, or a newer text replaced it before it "
        "went. Nothing to do.",
    ),
    ProgressCount("waiting_quiet_hours", "Waiting for quiet hours to end"),
    ProgressCount("awaiting_translation", "Awaiting translation"),
    ProgressCount("awaiting_whatsapp_template", "Waiting for a WhatsApp template"),
)


def progress_of(decision: Decision) -> dict[str, Any]:
    waiting = {
        "awaiting_translation": loop.awaiting_translation(decision),
        "awaiting_whatsapp_template": loop.awaiting_whatsapp_template(decision),
        "questions_awaiting_whatsapp_template": loop.questions_awaiting_whatsapp_template(decision),
    }
    # The lists name each language as the page does (``language_and_code``); panel.js
    # cannot look a name up, so it comes with the counts.
    codes = {code for counts in waiting.values() for code in counts}
    return {
        "published": decision.published,
        "progress": loop.progress(decision),
        **waiting,
        "languages": {code: {"name": native_name(code), "dir": direction(code)} for code in codes},
    }


def form_values(form: DecisionForm) -> dict[str, Any]:
    values = {name: getattr(form, name).data for name in FIELDS}
    for name in ("title", "description", "reason", "responsible", "summary"):
        values[name] = (values[name] or "").strip()
    return values


@bp.get("/decisions")
@roles_required(*READERS)
def decisions() -> ResponseReturnValue:
    return render_template(
        "admin/decisions.html", decisions=all_decisions(), linked=linked_counts()
    )


@bp.route("/decisions/new", methods=["GET", "POST"])
@roles_required(*TRIAGERS)
def decision_new() -> ResponseReturnValue:
    form = DecisionForm()
    if form.validate_on_submit():
        decision = Decision(**form_values(form), created_by_id=current_user.id)
        db.session.add(decision)
        db.session.flush()
        audit.record("decision.create", decision, title=decision.title)
        db.session.commit()
        flash("Decision saved. Link feedback to it, then publish.", "success")
        return redirect(url_for("admin.decision_page", decision_id=decision.id))
    return form_page(form, None)


@bp.route("/decisions/<int:decision_id>/edit", methods=["GET", "POST"])
@roles_required(*TRIAGERS)
def decision_edit(decision_id: int) -> ResponseReturnValue:
    decision = get_decision(decision_id)
    form_class = PublishedDecisionForm if decision.published else DecisionForm
    form = form_class(obj=decision)
    # Cancel on the page that asks before texting members already told: back to this form
    # with what was typed, saving and sending nothing.
    keep_editing = bool(request.form.get("keep_editing"))
    if form.validate_on_submit() and not keep_editing:
        values = form_values(form)
        changed = [name for name in FIELDS if getattr(decision, name) != values[name]]
        before = {name: str(getattr(decision, name) or "") for name in changed}
        # The form refuses to notify for a new outcome alone; this keeps the revision (and
        # "An update about your feedback") to a summary members have not read.
        notify = decision.published and bool(form.notify_told.data) and "summary" in changed
        if notify and not form.is_confirmed():
            told = loop.told_of(decision)
            if told:
                return ask_to_update(form, decision, values["summary"], told)
        for name, value in values.items():
            setattr(decision, name, value)
        if not changed:
            flash("Nothing changed.", "info")
        elif decision.published and any(name in MEMBER_FACING for name in changed):
            audit.record(
                "decision.update_outcome",
                decision,
                changed=changed,
                before=before,
                notify_told=notify,
            )
            loop.update_outcome(decision, notify_told=notify, summary_changed="summary" in changed)
            flash(
                "Decision updated; members already told will get an update."
                if notify
                else "Decision updated; no update sent to members already told.",
                "success",
            )
        else:
            audit.record("decision.edit", decision, changed=changed, before=before)
            if "summary" in changed:
                loop.mark_translations_outdated(decision)
            db.session.commit()
            flash("Decision saved.", "success")
        return redirect(url_for("admin.decision_page", decision_id=decision.id))
    if keep_editing:
        # Ticked, as it was: the page asks only then, and does not carry it.
        form.notify_told.data = True
        return form_page(form, decision, refused=False)
    return form_page(form, decision)


def form_page(
    form: DecisionForm, decision: Decision | None, refused: bool = True
) -> tuple[str, int]:
    """The decision form, new or editing; sent back with what was wrong, a 400 (not when
    staff only came back to it to go on editing, ``refused``)."""
    page = render_template(
        "admin/decision_form.html", form=form, decision=decision, frame=message_frame()
    )
    return page, 400 if refused and form.is_submitted() else 200


def ask_to_update(
    form: DecisionForm, decision: Decision, summary: str, told: dict[str, int]
) -> str:
    """The page that says how many members already told an update texts, and asks first.
    Its other button saves without texting anyone."""
    staff_locale = current_app.config["STAFF_LOCALE"]
    return confirming.ask(
        "admin/confirm_update.html",
        form,
        leave_out=("notify_told",),  # each button says it
        decision=decision,
        summary=summary,
        told=sorted(told.items()),
        texted=sum(told.values()),
        untranslated=sorted(locale for locale in told if locale != staff_locale),
        action=url_for("admin.decision_edit", decision_id=decision.id),
        cancel=url_for("admin.decision_page", decision_id=decision.id),
    )


@bp.get("/decisions/<int:decision_id>")
@roles_required(*READERS)
def decision_page(decision_id: int) -> ResponseReturnValue:
    decision = get_decision(decision_id)
    return render_template(
        "admin/decision.html",
        decision=decision,
        items=linked_items(decision),
        status=progress_of(decision),
        counts=PROGRESS_COUNTS,
        action_form=ActionForm(),
        # An interpreter's way to the summary in their languages: before it is published,
        # or to revise it later, whoever waits.
        translate_into=languages_to_translate(),
    )


@bp.get("/decisions/<int:decision_id>/progress")
@roles_required(*READERS)
def decision_progress(decision_id: int) -> ResponseReturnValue:
    response = jsonify(progress_of(get_decision(decision_id)))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/decisions/<int:decision_id>/publish", methods=["GET", "POST"])
@roles_required(*TRIAGERS)
def decision_publish(decision_id: int) -> ResponseReturnValue:
    """GET asks for confirmation, showing who will be told; POST publishes."""
    decision = get_decision(decision_id)
    if decision.published:
        flash("This decision is already published.", "info")
        return redirect(url_for("admin.decision_page", decision_id=decision.id))
    if not decision.summary.strip():
        flash("Write the summary for members before publishing.", "error")
        return redirect(url_for("admin.decision_edit", decision_id=decision.id))
    form = ActionForm()
    if form.validate_on_submit():
        audit.record("decision.publish", decision, title=decision.title)
        loop.publish(decision)
        flash("Published. Members are being told what happened next.", "success")
        return redirect(url_for("admin.decision_page", decision_id=decision.id))
    items = linked_items(decision)
    return render_template(
        "admin/publish.html",
        decision=decision,
        items=items,
        # Members in the language they are texted in now, which LANGUAGE may have changed
        # since they wrote, as the fan-out sends (``loop``); not the items' languages.
        audience=confirming.audience(items, decision),
        form=form,
        cancel=url_for("admin.decision_page", decision_id=decision.id),
    )
