"""GET /you-said-we-did: published decisions and how much feedback led to each.

Public, so it reads only what is public by construction: the view copies each published
decision into a ``PublicDecision`` (title, outcome, reason, member-facing summary, a
count) and the template sees nothing else. Nothing about members reaches this page: no
number, no pseudonym, no message text, no per-member rating.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from babel import Locale, UnknownLocaleError
from flask import current_app, render_template, request, session
from flask.typing import ResponseReturnValue
from flask_babel import get_locale, gettext, refresh
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..languages import enabled_locales
from ..messaging.language import native_name
from ..models import Decision, FeedbackItem, Outcome
from ..pagination import paginate
from . import bp

PER_PAGE = 20


def outcome_label(outcome: str) -> str:
    """The outcome in the page's language (the msgids are ``Outcome.LABELS``)."""
    labels = {
        Outcome.ADOPTED: gettext("Adopted"),
        Outcome.PARTLY: gettext("Partly adopted"),
        Outcome.NOT_ADOPTED: gettext("Not adopted"),
        Outcome.REFERRED: gettext("Referred elsewhere"),
        Outcome.UNDER_REVIEW: gettext("Still under review"),
    }
    return labels.get(outcome, outcome)


def text_direction(locale: str) -> str:
    """The text direction of ``locale``: "rtl" for Arabic, Urdu..., else "ltr"."""
    try:
        order = Locale.parse(locale).character_order
    except (ValueError, UnknownLocaleError):
        return "ltr"
    return "rtl" if order == "right-to-left" else "ltr"


def choose_language(requested: str | None) -> None:
    """Remember a language picked with ``?lang=xx`` (one we ship) and use it at once."""
    if requested and requested in enabled_locales():
        session["locale"] = requested
        refresh()


def page_locale() -> str:
    locale = get_locale()
    return str(locale) if locale is not None else current_app.config["DEFAULT_LOCALE"]


@dataclass(frozen=True)
class PublicDecision:
    """Everything the public page may show about one decision."""

    title: str
    title_locale: str
    outcome: str
    outcome_label: str
    reason: str
    reason_locale: str
    summary: str
    summary_locale: str
    feedback_count: int
    published_at: datetime


def feedback_counts(decision_ids: Sequence[int]) -> dict[int, int]:
    """How many feedback items are linked to each decision."""
    if not decision_ids:
        return {}
    rows = db.session.execute(
        select(FeedbackItem.decision_id, func.count())
        .where(FeedbackItem.decision_id.in_(decision_ids))
        .group_by(FeedbackItem.decision_id)
    ).all()
    return {decision_id: number for decision_id, number in rows if decision_id is not None}


def public_decision(
    decision: Decision, count: int, locale: str, staff_locale: str
) -> PublicDecision:
    """``decision`` as the public sees it: its title, summary and reason in ``locale``
    where an interpreter has translated them, each in the staff language otherwise."""
    translated = decision.summary_in(locale, staff_locale)
    title = decision.title_in(locale, staff_locale)
    reason = decision.reason_in(locale, staff_locale)
    published_at = decision.published_at
    assert published_at is not None  # only published decisions are read
    return PublicDecision(
        title=title if title is not None else decision.title,
        title_locale=locale if title is not None else staff_locale,
        outcome=decision.outcome,
        outcome_label=outcome_label(decision.outcome),
        reason=reason if reason is not None else decision.reason,
        reason_locale=locale if reason is not None else staff_locale,
        summary=translated if translated is not None else decision.summary,
        summary_locale=locale if translated is not None else staff_locale,
        feedback_count=count,
        published_at=published_at,
    )


@bp.get("/you-said-we-did")
def you_said_we_did() -> ResponseReturnValue:
    choose_language(request.args.get("lang"))
    locale = page_locale()
    staff_locale = current_app.config["STAFF_LOCALE"]
    pagination = paginate(
        select(Decision)
        .where(Decision.published_at.is_not(None))
        .options(selectinload(Decision.translations))
        .order_by(Decision.published_at.desc(), Decision.id.desc()),
        per_page=PER_PAGE,
    )
    decisions = list(pagination.items)
    counts = feedback_counts([d.id for d in decisions])
    entries = [public_decision(d, counts.get(d.id, 0), locale, staff_locale) for d in decisions]
    languages = [(code, native_name(code), text_direction(code)) for code in enabled_locales()]
    response = current_app.make_response(
        render_template(
            "public/you_said_we_did.html",
            decisions=entries,
            pagination=pagination,
            languages=languages,
            page_locale=locale,
            page_direction=text_direction(locale),
            direction_of=text_direction,
        )
    )
    response.vary.add("Accept-Language")
    return response
