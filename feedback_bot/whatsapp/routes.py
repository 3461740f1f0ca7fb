"""Admin page: WhatsApp templates per message kind and language, and who waits for one."""

from __future__ import annotations

import re

from flask import flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Regexp

from .. import audit
from ..auth.roles import roles_required
from ..extensions import db
from ..forms import PanelForm
from ..languages import working_locales
from ..messaging.templates import TEMPLATES
from ..models import MessageKind, OutboundMessage, OutboundStatus, WhatsAppTemplate
from . import bp
from .window import template_variables

CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
# Messages that can fall outside the window: everything we send unprompted.
TEMPLATE_KINDS = (*MessageKind.UNPROMPTED, MessageKind.RATING_THANKS, MessageKind.RATING_REOPENED)


class TemplateForm(PanelForm):
    kind = SelectField("Message", choices=[SelectChoice(k, k) for k in TEMPLATE_KINDS])
    locale = SelectField("Language")
    content_sid = StringField(
        "Content SID",
        validators=[
            DataRequired(),
            Regexp(CONTENT_SID.pattern, message="A content SID is HX followed by 32 hex digits."),
        ],
    )


class DeleteForm(PanelForm):
    pass


@bp.route("/", methods=["GET", "POST"])
@roles_required("admin")
def templates() -> ResponseReturnValue:
    form = TemplateForm()
    form.locale.choices = [SelectChoice(code, code) for code in working_locales()]
    if form.validate_on_submit():
        existing = db.session.scalars(
            select(WhatsAppTemplate).where(
                WhatsAppTemplate.kind == form.kind.data, WhatsAppTemplate.locale == form.locale.data
            )
        ).one_or_none()
        template = existing or WhatsAppTemplate(kind=form.kind.data, locale=form.locale.data)
        template.content_sid = form.content_sid.data.strip()
        db.session.add(template)
        db.session.flush()
        audit.record(
            "whatsapp_template.save",
            template,
            kind=template.kind,
            locale=template.locale,
            content_sid=template.content_sid,
        )
        db.session.commit()
        flash(f"Saved the {template.kind} template for {template.locale}.", "success")
        return redirect(url_for("whatsapp.templates"))
    saved = db.session.scalars(
        select(WhatsAppTemplate).order_by(WhatsAppTemplate.kind, WhatsAppTemplate.locale)
    ).all()
    waiting = db.session.execute(
        select(OutboundMessage.kind, OutboundMessage.locale, func.count())
        .where(OutboundMessage.status == OutboundStatus.NEEDS_TEMPLATE)
        .group_by(OutboundMessage.kind, OutboundMessage.locale)
    ).all()
    variables = {
        kind: template_variables(kind, {name: f"<{name}>" for name in TEMPLATES[kind].placeholders})
        for kind in TEMPLATE_KINDS
    }
    return render_template(
        "whatsapp/templates.html",
        form=form,
        delete_form=DeleteForm(),
        saved=saved,
        waiting=waiting,
        variables=variables,
    )


@bp.post("/<int:template_id>/delete")
@roles_required("admin")
def delete(template_id: int) -> ResponseReturnValue:
    form = DeleteForm()
    if form.validate_on_submit():
        template = db.get_or_404(WhatsAppTemplate, template_id)
        audit.record(
            "whatsapp_template.delete", template, kind=template.kind, locale=template.locale
        )
        db.session.delete(template)
        db.session.commit()
        flash("Template removed.", "success")
    return redirect(url_for("whatsapp.templates"))
