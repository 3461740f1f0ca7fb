"""Server-rendered, accessible inline SVG bar charts. No JavaScript, nothing fetched.

``bar_chart`` turns ``(label, value)`` pairs into an ``<svg role="img">`` whose ``<title>``
and ``<desc>`` say everything the bars show, with a ``<title>`` per bar (a tooltip) and
each value written beside its bar, so the chart reads without colour or a mouse.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

# Geometry, in SVG user units; the SVG scales to its container's width.
WIDTH = 420
LABEL_WIDTH = 130
VALUE_WIDTH = 70
BAR_HEIGHT = 20
ROW_GAP = 10
PADDING = 8
MAX_LABEL_CHARS = 18


def plain_number(value: float) -> str:
    return f"{value:g}" if value != int(value) else str(int(value))


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None
    text: str  # the value as shown beside the bar and read out
    lang: str | None = None  # the language the label is written in, if not the page's


def bar_chart(
    title: str,
    pairs: Sequence[tuple[str, float | None]],
    *,
    fmt: Callable[[float], str] = plain_number,
    max_value: float | None = None,
    reference: float | None = None,
    reference_label: str = "",
    missing: str = "no data",
    chart_id: str | None = None,
    label_langs: Sequence[str | None] = (),
) -> Markup:
    """A horizontal bar chart of ``pairs`` as inline SVG markup.

    ``fmt`` formats a value for people; ``max_value`` fixes the scale (1.0 for shares) or
    defaults to the largest value; ``reference`` draws a dashed line across every bar (the
    overall figure, so a group below it stands out); a ``None`` value is drawn as no bar
    and the ``missing`` text. ``label_langs`` gives, bar by bar, the language a label is
    written in (a language's own name), so that it is drawn with that language's glyphs.
    """
    langs = [*label_langs, *[None] * (len(pairs) - len(label_langs))]
    bars = [
        Bar(label, value, fmt(value) if value is not None else missing, lang)
        for (label, value), lang in zip(pairs, langs, strict=True)
    ]
    ident = chart_id or _ident(title, bars)
    known = [b.value for b in bars if b.value is not None]
    scale_max = max_value if max_value is not None else max([*known, reference or 0, 0])
    plot_width = WIDTH - LABEL_WIDTH - VALUE_WIDTH - 2 * PADDING
    row = BAR_HEIGHT + ROW_GAP
    legend = 18 if reference is not None else 0
    height = PADDING * 2 + max(1, len(bars)) * row + legend

    def x_of(value: float) -> float:
        if scale_max <= 0:
            return 0.0
        return plot_width * min(max(value, 0.0), scale_max) / scale_max

    description = "; ".join(f"{b.label}: {b.text}" for b in bars) or missing
    if reference is not None:
        description += f". {reference_label or 'Reference'}: {fmt(reference)}"
    parts = [
        f'<svg class="bar-chart" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f'aria-labelledby="{ident}-title {ident}-desc">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(description)}</desc>',
    ]
    if not bars:
        parts.append(
            f'<text class="missing" x="{PADDING}" y="{PADDING + 14}">{escape(missing)}</text>'
        )
    for index, bar in enumerate(bars):
        y = PADDING + index * row
        middle = y + BAR_HEIGHT / 2
        x0 = PADDING + LABEL_WIDTH
        width = x_of(bar.value) if bar.value is not None else 0.0
        parts.append('<g class="bar-row">')
        parts.append(f"<title>{escape(bar.label)}: {escape(bar.text)}</title>")
        lang = f' lang="{escape(bar.lang)}"' if bar.lang else ""
        parts.append(
            f'<text class="bar-label" x="{x0 - 8}" y="{middle:.1f}" text-anchor="end" '
            f'dominant-baseline="middle"{lang}>{escape(_shorten(bar.label))}</text>'
        )
        parts.append(
            f'<rect class="bar-track" x="{x0}" y="{y}" width="{plot_width}" '
            f'height="{BAR_HEIGHT}" rx="3"></rect>'
        )
        if bar.value is not None:
            parts.append(
                f'<rect class="bar" x="{x0}" y="{y}" width="{width:.1f}" '
                f'height="{BAR_HEIGHT}" rx="3"></rect>'
            )
        value_class = "bar-value" if bar.value is not None else "bar-value missing"
        parts.append(
            f'<text class="{value_class}" x="{x0 + plot_width + 8}" y="{middle:.1f}" '
            f'dominant-baseline="middle">{escape(bar.text)}</text>'
        )
        parts.append("</g>")
    if reference is not None:
        x = PADDING + LABEL_WIDTH + x_of(reference)
        bottom = PADDING + max(1, len(bars)) * row - ROW_GAP / 2
        label = f"{reference_label or 'Reference'}: {fmt(reference)}"
        parts.append(
            f'<g class="reference"><title>{escape(label)}</title>'
            f'<line x1="{x:.1f}" y1="{PADDING / 2}" x2="{x:.1f}" y2="{bottom:.1f}"></line>'
            f'<text x="{x:.1f}" y="{bottom + 14:.1f}" text-anchor="middle">{escape(label)}</text>'
            "</g>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above


def _shorten(label: str) -> str:
    return label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "…"


def _ident(title: str, bars: Sequence[Bar]) -> str:
    """An id unique to this chart's content, so several charts can share one page."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40] or "chart"
    digest = hashlib.sha256(repr((title, bars)).encode()).hexdigest()[:8]
    return f"chart-{slug}-{digest}"


# --------------------------------------------------------------------------- formats


def percent(value: float) -> str:
    """A share from 0 to 1 as a whole percentage."""
    return f"{round(value * 100)}%"


def duration(seconds: float) -> str:
    """Seconds as people say them: "45 s", "3.5 min", "2.1 h", "4.0 d"."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def days(value: float) -> str:
    return f"{value:.1f} d"


def count(value: float) -> str:
    return str(int(value))
