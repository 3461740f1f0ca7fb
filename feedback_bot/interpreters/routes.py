"""The interpreters' pages. Nothing here shows a member's number or who they are: not even
one they typed into their message, which templates and the translation form read as an
interpreter may (``admin.reading``)."""

from __future__ import annotations

import hashlib

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user

from .. import loop
from ..admin.reading import AsRead
from ..auth.roles import roles_required
from ..auth.routes import safe_next
from ..extensions import db
from ..interpreting.catalogue_io import entries, export_po, read_import
from ..interpreting.saving import (
    MessageErased,
    TranslationRefused,
    save_decision_summary,
    save_message_translation,
    save_override,
)
from ..interpreting.written_in import language_label, message_language
from ..messaging.language import UNRECOGNISED, native_name
from ..messaging.segments import sms_cost
from ..messaging.templates import as_sentence, full_stop, summary_frame
from ..models import Decision, InboundMessage, MessageTranslation, ReviewState
from . import bp
from .access import direction, my_languages, require_language
from .forms import (
    TEMPLATE_MAX_LENGTH,
    CatalogueImportForm,
    FeedbackTranslationForm,
    SummaryTranslationForm,
    TemplateTranslationForm,
)
from .queries import (
    completeness,
    editor_counts,
    feedback_queue,
    filled,
    languages_in_use_without_review,
    member_values,
    public_texts_to_translate,
    summaries_to_translate,
    template_messages,
    translations_to_review,
)

TRANSLATORS = ("admin", "interpreter")
DRAFT_SAVED = "Saved as a draft: members do not get it until you mark it Needs review or Reviewed."
FEEDBACK_DRAFT_SAVED = (
    "Saved as a draft. It stays in your list of feedback to translate, and staff still see "
    "the item as needing translation, until you mark it Needs review or Reviewed."
)


@bp.app_context_processor
def language_helpers() -> dict[str, object]:
    return {
        "text_direction": direction,
        "native_name": native_name,
        "language_label": language_label,
        "message_language": message_language,
        "full_stop": full_stop,
        "as_sentence": as_sentence,
    }


@bp.get("/")
@roles_required(*TRANSLATORS)
def workspace() -> ResponseReturnValue:
    languages = my_languages()
    summaries = summaries_to_translate(languages)
    return render_template(
        "interpreters/workspace.html",
        languages=languages,
        queue=feedback_queue(languages),
        to_review=translations_to_review(languages),
        summaries=summaries,
        public_texts=public_texts_to_translate(languages, summaries),
        completeness=completeness(languages),
        unreviewed_in_use=languages_in_use_without_review(),
    )


def has_voice_note(message: InboundMessage) -> bool:
    """Whether the member sent a voice note (audio) with ``message``: its words are written
    down in its own language before they are translated. A photo has nothing to write down.
    """
    return any(media.content_type.startswith("audio/") for media in message.media)


@bp.route("/feedback/<int:message_id>", methods=["GET", "POST"])
@roles_required(*TRANSLATORS)
def translate_feedback(message_id: int) -> ResponseReturnValue:
    message = db.get_or_404(InboundMessage, message_id)
    if message.item_id is None:
        # Not feedback: a keyword (STOP, FORGET), a message from a number that is not a
        # phone's, one sent before a FORGET. The panel shows none of them; nor does this.
        abort(404)
    if message.erased_at is not None:
        return render_template("interpreters/erased.html"), 410
    language = message_language(message)
    if language != UNRECOGNISED:  # any interpreter may know what nobody recognised
        require_language(language)
    staff = current_app.config["STAFF_LOCALE"]
    existing = db.session.scalars(
        db.select(MessageTranslation).where(
            MessageTranslation.message_id == message.id, MessageTranslation.locale == staff
        )
    ).one_or_none()
    # What is saved is what they were shown: a number typed into a translation by an admin,
    # who reads the original as written, is not put before an interpreter to keep.
    form = FeedbackTranslationForm(obj=AsRead(existing) if existing else None)
    voice_note = has_voice_note(message)
    # Back where the page was opened from (an item's page passes itself as ``next``), on
    # saving or cancelling; only a path on this site, so a link elsewhere cannot send an
    # interpreter off it.
    back = safe_next(request.args.get("next")) or url_for("interpreters.workspace")
    if form.validate_on_submit():
        transcript = form.transcript.data if voice_note else None
        try:
            save_message_translation(
                current_user, message, staff, form.text.data, transcript, form.state.data
            )
        except MessageErased:
            return render_template("interpreters/erased.html"), 410
        flash(
            FEEDBACK_DRAFT_SAVED
            if form.state.data == ReviewState.DRAFT
            else "Translation saved. Staff now see it beside the original.",
            "success",
        )
        return redirect(back)
    return render_template(
        "interpreters/feedback.html",
        back=back,
        message=message,
        language=language,
        staff_locale=staff,
        form=form,
        translation=existing,
        voice_note=voice_note,
    )


@bp.route("/decision/<int:decision_id>/<locale>", methods=["GET", "POST"])
@roles_required(*TRANSLATORS)
def translate_summary(decision_id: int, locale: str) -> ResponseReturnValue:
    require_language(locale)
    decision = db.get_or_404(Decision, decision_id)
    existing = next((t for t in decision.translations if t.locale == locale), None)
    form = SummaryTranslationForm(obj=existing)
    outdated = existing is not None and existing.state == ReviewState.OUTDATED
    if outdated and not form.is_submitted():
        # "Outdated" is not a choice (the next save translates it again): without this the
        # select shows nothing chosen and the browser submits its first option, Draft.
        form.state.data = ReviewState.NEEDS_REVIEW
    # A title or reason staff changed since it was translated: the public page shows the
    # staff text until it is translated again (``Decision.title_in``). Its old translation
    # is shown beside the box, not in it: saved as it was, it would pass for a translation
    # of the new text.
    title_changed = bool(existing and existing.title and not existing.title_current)
    reason_changed = bool(existing and existing.reason and not existing.reason_current)
    if not form.is_submitted():
        if title_changed:
            form.title.data = ""
        if reason_changed:
            form.reason.data = ""
    # Back where the page was opened from (a decision's page passes itself), as for
    # feedback (``translate_feedback``).
    back = safe_next(request.args.get("next")) or url_for("interpreters.workspace")
    # A page opened before staff changed the summary, title or reason: saved, it would
    # pass off a translation of the old text as one of the new (and text it to members).
    changed = changed_sources(form.sources.data, decision) if form.is_submitted() else []
    form.sources.data = source_marks(decision)
    if changed:
        flash(
            f"Staff changed the {' and the '.join(changed)} while you were translating. Check "
            "your translation against the text as it is now, above, then save again.",
            "error",
        )
    elif form.validate_on_submit():
        waiting = loop.awaiting_translation(decision).get(locale, 0)
        save_decision_summary(
            current_user,
            decision,
            locale,
            form.summary.data,
            form.state.data,
            title=form.title.data or "",
            # The page asks for a reason only when the decision has one.
            reason=(form.reason.data or "") if decision.reason else None,
        )
        flash(summary_saved_message(form.state.data, waiting), "success")
        return redirect(back)
    page = render_template(
        "interpreters/summary.html",
        back=back,
        decision=decision,
        locale=locale,
        form=form,
        outdated=outdated,
        earlier=existing,
        title_changed=title_changed,
        reason_changed=reason_changed,
        frame=summary_frame(locale),
        # Said before saving: whom a save texts, as ``save_decision_summary`` then does.
        waiting=loop.awaiting_translation(decision).get(locale, 0),
    )
    return page, 409 if changed else 400 if form.is_submitted() else 200


# The staff texts an interpreter's summary page translates, by the name the page gives them.
SOURCES = (("summary", "summary"), ("title", "title"), ("reason", "reason"))


def source_marks(decision: Decision) -> str:
    """A short mark of each staff text the page shows, to tell on saving whether staff
    changed one meanwhile (``changed_sources``)."""
    return ":".join(_mark(getattr(decision, attribute) or "") for attribute, _ in SOURCES)


def changed_sources(marks: str | None, decision: Decision) -> list[str]:
    """The names of the staff texts that changed since ``marks`` were taken; none when
    the form carried no marks (a page from before they were, or a script's request)."""
    if not marks:
        return []
    was = marks.split(":")
    now = source_marks(decision).split(":")
    if len(was) != len(now):
        return [name for _, name in SOURCES]
    return [name for (_, name), old, new in zip(SOURCES, was, now, strict=True) if old != new]


def _mark(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def summary_saved_message(state: str, waiting: int) -> str:
    if state == ReviewState.DRAFT:
        return DRAFT_SAVED
    if waiting:
        return f"Summary saved. {waiting} member(s) waiting for it will now be told."
    return "Summary saved."


@bp.route("/templates/<locale>", methods=["GET", "POST"])
@roles_required(*TRANSLATORS)
def templates(locale: str) -> ResponseReturnValue:
    require_language(locale)
    form = TemplateTranslationForm()
    refused: dict[str, object] | None = None
    if request.method == "POST":
        # By its kind, not its English text: a browser sends a form's line breaks as
        # "\r\n", so the language menu's text would never match its msgid.
        entry = entries(locale).get(request.form.get("kind", ""))
        if entry is None:
            flash("Not saved: this is not a message template.", "error")
            return _template_page(locale), 400
        problem = None
        if not form.validate_on_submit():
            problem = "the translation is empty or too long."
        else:
            try:
                save_override(
                    current_user,
                    locale,
                    entry.msgid,
                    form.text.data,
                    form.state.data,
                    context=entry.context,
                )
            except TranslationRefused as exc:
                problem = str(exc)
        if problem is None:
            flash(
                DRAFT_SAVED
                if form.state.data == ReviewState.DRAFT
                else "Saved. The next message of this kind uses it.",
                "success",
            )
            return redirect(url_for("interpreters.templates", locale=locale))
        flash(f"Not saved: {problem}", "error")
        # The page again with what they typed in that template's box, to put right: a
        # translation is work, and the saved text would silently replace it.
        text = request.form.get("text", "")
        refused = {
            "kind": entry.kind,
            "problem": problem,
            "text": text,
            "state": request.form.get("state", ""),
            "cost": sms_cost(filled(text, member_values(entry, locale))),
        }
        return _template_page(locale, refused), 400
    return _template_page(locale)


def _template_page(locale: str, refused: dict[str, object] | None = None) -> str:
    messages = template_messages(locale)
    return render_template(
        "interpreters/templates.html",
        locale=locale,
        messages=messages,
        counts=editor_counts(messages, locale),
        import_form=CatalogueImportForm(),
        refused=refused,
        max_length=TEMPLATE_MAX_LENGTH,
    )


@bp.get("/templates/<locale>/messages.po")
@roles_required(*TRANSLATORS)
def export_catalogue(locale: str) -> ResponseReturnValue:
    require_language(locale)
    return Response(
        export_po(locale),
        mimetype="text/x-gettext-translation",
        headers={"Content-Disposition": f'attachment; filename="{locale}.po"'},
    )


@bp.post("/templates/<locale>/import")
@roles_required(*TRANSLATORS)
def import_catalogue(locale: str) -> ResponseReturnValue:
    require_language(locale)
    form = CatalogueImportForm()
    if not form.validate_on_submit():
        flash("Choose a .po file to import.", "error")
        return redirect(url_for("interpreters.templates", locale=locale))
    report = read_import(locale, form.catalogue.data.read())
    saved = 0
    for change in report.changes:
        try:
            save_override(
                current_user,
                locale,
                change.msgid,
                change.text,
                change.state or "needs_review",
                context=change.context,
            )
            saved += 1
        except TranslationRefused as exc:
            report.errors.append(f"{change.msgid[:50]!r}: {exc}")
    if saved or report.unchanged:
        flash(f"Imported {saved} change(s); {report.unchanged} unchanged.", "success")
    for error in report.errors:
        flash(f"Not imported: {error}", "error")
    if report.fuzzy:
        names = ", ".join(repr(msgid[:50]) for msgid in report.fuzzy)
        flash(
            f"Not imported, marked fuzzy (a tool's guess nobody has confirmed): {names}. "
            "Check each, remove its fuzzy mark and import again.",
            "error",
        )
    return redirect(url_for("interpreters.templates", locale=locale))
