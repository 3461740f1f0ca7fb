"""GET /admin/dashboard/: loop health, overall and by language and channel."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from babel import UnknownLocaleError
from flask import render_template, request
from flask.typing import ResponseReturnValue
from markupsafe import Markup

from .. import metrics
from ..auth.roles import roles_required
from ..messaging.language import UNRECOGNISED, native_name
from ..models import Channel, Role
from . import bp
from .charts import bar_chart, count, days, duration, percent

CHANNEL_LABELS = {Channel.SMS: "SMS", Channel.WHATSAPP: "WhatsApp"}
RATING_LABELS = {"yes": "Yes", "partly": "Partly", "no": "No"}


@dataclass(frozen=True)
class ChartSpec:
    """One figure of ``GroupHealth`` drawn as a chart for each group of a breakdown."""

    attribute: str
    title: str
    fmt: Callable[[float], str]
    max_value: float | None = None


CHART_SPECS = (
    ChartSpec("ack_share", "Acknowledged", percent, 1.0),
    ChartSpec("ack_median_seconds", "Time to acknowledge, median", duration),
    ChartSpec("ack_p95_seconds", "Time to acknowledge, 95th percentile", duration),
    ChartSpec("decision_share", "Linked to a decision", percent, 1.0),
    ChartSpec("told_share", "Told what happened next", percent, 1.0),
    ChartSpec("told_median_days", "Days to “what happened next”, median", days),
)


def locale_label(locale: str) -> str:
    try:
        return f"{native_name(locale)} ({locale})"
    except (ValueError, UnknownLocaleError):
        return locale


def written_in(locale: str) -> str | None:
    """The language a label ``locale_label`` made is written in: the language's own."""
    return None if locale == UNRECOGNISED else locale


def channel_label(channel: str) -> str:
    return CHANNEL_LABELS.get(channel, channel)


@dataclass(frozen=True)
class Chart:
    title: str  # shown as the figure's caption, and the SVG's accessible name
    svg: Markup


@dataclass(frozen=True)
class Breakdown:
    ident: str
    heading: str
    groups: Sequence[metrics.GroupHealth]
    label: Callable[[str], str]
    charts: Sequence[Chart]


def chart(title: str, pairs: Sequence[tuple[str, float | None]], **options: Any) -> Chart:
    return Chart(title, bar_chart(title, pairs, **options))


def breakdown(
    ident: str,
    heading: str,
    groups: Sequence[metrics.GroupHealth],
    overall: metrics.GroupHealth,
    label: Callable[[str], str],
    label_lang: Callable[[str], str | None] = lambda key: None,
) -> Breakdown:
    charts = [
        chart(
            f"{spec.title}, by {heading.lower()}",
            [(label(group.key), getattr(group, spec.attribute)) for group in groups],
            fmt=spec.fmt,
            max_value=spec.max_value,
            reference=getattr(overall, spec.attribute),
            reference_label="All feedback",
            chart_id=f"{ident}-{spec.attribute}",
            label_langs=[label_lang(group.key) for group in groups],
        )
        for spec in CHART_SPECS
    ]
    return Breakdown(ident, heading, groups, label, charts)


@bp.get("/")
@roles_required(Role.ADMIN, Role.STAFF)
def index() -> ResponseReturnValue:
    date_range = metrics.DateRange.from_args(request.args)
    health = metrics.loop_health(date_range)
    overall = health.overall
    ratings_chart = chart(
        "Did we listen? Answers",
        [(RATING_LABELS[key], overall.ratings[key]) for key in metrics.RATING_VALUES],
        fmt=count,
        chart_id="ratings-overall",
    )
    breakdowns = [
        breakdown("by-language", "Language", health.by_locale, overall, locale_label, written_in),
        breakdown("by-channel", "Channel", health.by_channel, overall, channel_label),
    ]
    return render_template(
        "dashboard/index.html",
        health=health,
        overall=overall,
        date_range=date_range,
        breakdowns=breakdowns,
        ratings_chart=ratings_chart,
        rating_labels=RATING_LABELS,
        percent=percent,
        duration=duration,
        days=days,
    )
