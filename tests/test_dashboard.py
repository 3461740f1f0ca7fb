"""The loop-health dashboard: exact numbers on a known dataset, charts, and who may see it.

The dataset goes through the real webhook, worker and loop with the clock held still, so
every duration is known to the second:

* A (English, SMS) writes at T0, acknowledged 10 s later; linked to a decision, told what
  happened next 3 days after writing, and answers "1" (yes).
* B (Polish, SMS) writes at T0+60 s, acknowledged 30 s later; linked to the same decision,
  which has no Polish summary, so B is not told (Polish speakers heard less).
* C (English, WhatsApp) writes on day 4 and is never acknowledged (no worker ran).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from feedback_bot import clock, loop, metrics
from feedback_bot.dashboard.charts import bar_chart, duration, percent
from feedback_bot.extensions import db
from feedback_bot.models import Decision, FeedbackItem, Role, User
from feedback_bot.testing.fake_twilio import FakeTwilio

from .conftest import drain, send_sms

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # midday in London: no quiet hours
UK = "+447911123456"
POLISH = "+48512345678"
WHATSAPP = "+447400123456"
ENGLISH_TEXT = "The lift in our block has been broken for weeks."
POLISH_TEXT = "Winda w naszym bloku jest zepsuta od tygodni."
WHATSAPP_TEXT = "The bins on our street were not collected again this week."
SUMMARY = "We will repair the lift by 1 March."
PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Dataset:
    a: int
    b: int
    c: int
    decision_id: int


def item_for(app: Flask, text: str) -> int:
    with app.app_context():
        item = db.session.scalars(
            select(FeedbackItem).where(FeedbackItem.messages.any(body=text))
        ).one()
        return item.id


def build_dataset(app: Flask, client: FlaskClient, fake_twilio: FakeTwilio) -> Dataset:
    clock.freeze(T0)
    send_sms(client, UK, ENGLISH_TEXT, process=False)
    clock.freeze(T0 + timedelta(seconds=10))
    drain(app)  # A's acknowledgement is accepted 10 s after A wrote

    clock.freeze(T0 + timedelta(seconds=60))
    send_sms(client, POLISH, POLISH_TEXT, process=False)
    clock.freeze(T0 + timedelta(seconds=90))
    drain(app)  # B's: 30 s

    a, b = item_for(app, ENGLISH_TEXT), item_for(app, POLISH_TEXT)
    clock.freeze(T0 + timedelta(days=3))
    with app.app_context():
        decision = Decision(title="Lift repairs", summary=SUMMARY, outcome="adopted")
        db.session.add(decision)
        db.session.commit()
        items = list(db.session.scalars(select(FeedbackItem).where(FeedbackItem.id.in_([a, b]))))
        loop.link(decision, items)
        loop.publish(decision)
        decision_id = decision.id
    drain(app)  # A is told (3 days after writing); B waits for a Polish summary

    clock.freeze(T0 + timedelta(days=3, hours=1))
    send_sms(client, UK, "1")  # "Did we listen?" yes
    drain(app)

    clock.freeze(T0 + timedelta(days=4))
    # Twilio refuses the acknowledgement and no retry runs: stored, never acknowledged.
    fake_twilio.fail_next(1, status=500)
    send_sms(client, f"whatsapp:{WHATSAPP}", WHATSAPP_TEXT)
    c = item_for(app, WHATSAPP_TEXT)
    return Dataset(a=a, b=b, c=c, decision_id=decision_id)


def sign_in_as(app: Flask, client: FlaskClient, role: str) -> None:
    """Sign in through the real login form as a new user with ``role``."""
    with app.app_context():
        user = User(email=f"{role}@example.org", role=role)
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
    response = client.post("/login", data={"email": f"{role}@example.org", "password": PASSWORD})
    assert response.status_code == 302, response.status_code


# ------------------------------------------------------------------------- statistics


def test_median_and_nearest_rank_percentile():
    assert metrics.median([]) is None
    assert metrics.median([7.0]) == 7.0
    assert metrics.median([30.0, 10.0]) == 20.0
    assert metrics.median([5.0, 1.0, 3.0]) == 3.0
    values = [float(n) for n in range(1, 21)]  # 1..20
    assert metrics.percentile(values, 95) == 19.0
    assert metrics.percentile(values, 50) == 10.0
    assert metrics.percentile(values, 100) == 20.0
    assert metrics.percentile([10.0, 30.0], 95) == 30.0
    assert metrics.percentile([], 95) is None
    with pytest.raises(ValueError):
        metrics.percentile(values, 0)


def test_date_range_reads_query_args_and_ignores_garbage():
    assert metrics.DateRange.from_args({"from": "2026-11-01", "to": "2026-11-30"}) == (
        metrics.DateRange(date(2026, 11, 1), date(2026, 11, 30))
    )
    swapped = metrics.DateRange.from_args({"from": "2026-11-30", "to": "2026-11-01"})
    assert (swapped.start, swapped.end) == (date(2026, 11, 1), date(2026, 11, 30))
    assert metrics.DateRange.from_args({"from": "yesterday", "to": ""}).is_open


def test_date_range_at_the_end_of_time(app):
    with app.app_context():
        health = metrics.loop_health(metrics.DateRange(date.min, date.max))
    assert health.overall.items == 0


# ------------------------------------------------------------------------- metrics


def test_loop_health_on_a_known_dataset(app, client, fake_twilio):
    data = build_dataset(app, client, fake_twilio)
    with app.app_context():
        health = metrics.loop_health()

    overall = health.overall
    assert overall.items == 3
    assert overall.acknowledged == 2
    assert overall.ack_share == pytest.approx(2 / 3)
    assert overall.ack_seconds == (10.0, 30.0)
    assert overall.ack_median_seconds == 20.0
    assert overall.ack_p95_seconds == 30.0
    assert overall.with_decision == 2
    assert overall.decision_share == pytest.approx(2 / 3)
    assert overall.told == 1
    assert overall.told_share == pytest.approx(1 / 3)
    assert overall.told_median_days == 3.0
    assert overall.ratings == {"yes": 1, "partly": 0, "no": 0}

    english, polish = health.locale("en"), health.locale("pl")
    assert [g.key for g in health.by_locale] == ["en", "pl"]  # largest group first
    assert (english.items, english.acknowledged, english.with_decision, english.told) == (
        2,
        1,
        1,
        1,
    )
    assert english.ack_share == 0.5
    assert english.ack_median_seconds == 10.0
    assert english.ack_p95_seconds == 10.0
    assert english.told_share == 0.5
    assert english.told_median_days == 3.0
    assert english.ratings == {"yes": 1, "partly": 0, "no": 0}
    assert (polish.items, polish.acknowledged, polish.with_decision, polish.told) == (1, 1, 1, 0)
    assert polish.ack_median_seconds == 30.0
    assert polish.told_share == 0.0
    assert polish.told_median_days is None
    assert polish.ratings == {"yes": 0, "partly": 0, "no": 0}

    sms, whatsapp = health.channel("sms"), health.channel("whatsapp")
    assert (sms.items, sms.acknowledged, sms.with_decision, sms.told) == (2, 2, 2, 1)
    assert sms.ack_median_seconds == 20.0
    assert sms.ack_p95_seconds == 30.0
    assert sms.told_median_days == 3.0
    assert (whatsapp.items, whatsapp.acknowledged, whatsapp.with_decision) == (1, 0, 0)
    assert whatsapp.ack_share == 0.0
    assert whatsapp.ack_median_seconds is None
    assert whatsapp.ack_p95_seconds is None

    facts = {f.item_id: f for f in health_facts(app)}
    assert facts[data.a].ack_seconds == 10.0
    assert facts[data.b].ack_seconds == 30.0
    assert facts[data.c].acknowledged_at is None


def health_facts(app: Flask) -> list[metrics.ItemFacts]:
    with app.app_context():
        return metrics.item_facts()


def test_date_range_limits_the_items_counted(app, client, fake_twilio):
    build_dataset(app, client, fake_twilio)
    with app.app_context():
        first_day = metrics.loop_health(metrics.DateRange(T0.date(), T0.date()))
        later = metrics.loop_health(metrics.DateRange(start=(T0 + timedelta(days=1)).date()))
        nothing = metrics.loop_health(metrics.DateRange(end=(T0 - timedelta(days=1)).date()))
    assert (first_day.overall.items, first_day.overall.acknowledged) == (2, 2)
    assert first_day.overall.told == 1
    assert (later.overall.items, later.overall.acknowledged) == (1, 0)
    assert [g.key for g in later.by_channel] == ["whatsapp"]
    assert nothing.overall.items == 0
    assert nothing.overall.ack_share is None
    assert nothing.by_locale == []


# ------------------------------------------------------------------------- charts


def test_bar_chart_is_accessible_svg_with_labels_and_escaped_text():
    svg = str(
        bar_chart(
            "Acknowledged <by> language",
            [("English (en)", 0.5), ("<script>", 1.0), ("Polski (pl)", None)],
            fmt=percent,
            max_value=1.0,
            reference=0.75,
            reference_label="All feedback",
        )
    )
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert 'role="img"' in svg
    ident = re.search(r'aria-labelledby="([^ "]+)-title \1-desc"', svg)
    assert ident, svg
    assert f'<title id="{ident.group(1)}-title">Acknowledged &lt;by&gt; language</title>' in svg
    assert "<title>English (en): 50%</title>" in svg
    assert ">50%</text>" in svg and ">100%</text>" in svg
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "<title>Polski (pl): no data</title>" in svg
    assert svg.count('class="bar"') == 2  # no bar for the missing value
    assert "All feedback: 75%" in svg
    # Bar widths are proportional: 50% is half of 100%.
    widths = [
        float(w) for w in re.findall(r'class="bar" x="[\d.]+" y="[\d.]+" width="([\d.]+)"', svg)
    ]
    assert widths[0] == pytest.approx(widths[1] / 2)


def test_duration_format():
    assert duration(20) == "20 s"
    assert duration(150) == "2.5 min"
    assert duration(2 * 3600) == "2.0 h"
    assert duration(3 * 86400) == "3.0 d"


# ------------------------------------------------------------------------- the page


def test_dashboard_shows_the_numbers_and_svg_charts(app, client, fake_twilio):
    build_dataset(app, client, fake_twilio)
    sign_in_as(app, client, Role.STAFF)

    response = client.get("/admin/dashboard/")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.count("<svg") == 13  # ratings + 6 charts by language + 6 by channel
    assert 'role="img"' in html
    for title in (
        "Acknowledged, by language",
        "Time to acknowledge, 95th percentile, by language",
        "Told what happened next, by channel",
        "Did we listen? Answers",
    ):
        assert f">{title}</title>" in html, title  # the SVG's accessible name
        assert f"<figcaption>{title}</figcaption>" in html, title  # and its visible caption
    for label in ("English (en)", "Polski (pl)", "SMS", "WhatsApp"):
        assert f">{label}</text>" in html, label
    # A language's own name is drawn as written in it; a channel's is the page's language.
    assert re.search(r'<text class="bar-label"[^>]* lang="pl">Polski \(pl\)</text>', html)
    assert re.search(r'<text class="bar-label"[^>]* lang="en">English \(en\)</text>', html)
    assert not re.search(r'<text class="bar-label"[^>]* lang="[^"]*">SMS</text>', html)
    assert "<title>Polski (pl): 0%</title>" in html  # told, by language
    assert "<title>WhatsApp: no data</title>" in html  # no acknowledgement time
    assert "<title>Yes: 1</title>" in html
    assert re.search(r'data-metric="items">\s*3\s*<', html)
    assert re.search(r'data-metric="ack-share">\s*67%\s*<', html)
    assert re.search(r'data-metric="ack-median">\s*20 s\s*<', html)
    assert re.search(r'data-metric="ack-p95">\s*30 s\s*<', html)
    assert re.search(r'data-metric="told-share">\s*33%\s*<', html)
    assert re.search(r'data-metric="told-days">\s*3.0 d\s*<', html)
    # No member data on the dashboard.
    for secret in (UK, POLISH, WHATSAPP, "7911123456", ENGLISH_TEXT, POLISH_TEXT):
        assert secret not in html


def test_dashboard_date_filter(app, client, fake_twilio):
    build_dataset(app, client, fake_twilio)
    sign_in_as(app, client, Role.ADMIN)
    later = (T0 + timedelta(days=1)).date().isoformat()

    html = client.get(f"/admin/dashboard/?from={later}").get_data(as_text=True)

    assert re.search(r'data-metric="items">\s*1\s*<', html)
    assert re.search(r'data-metric="ack-share">\s*0%\s*<', html)
    assert f'value="{later}"' in html
    assert ">Polski (pl)</text>" not in html


def test_dashboard_with_no_feedback_renders(app, client):
    sign_in_as(app, client, Role.STAFF)
    response = client.get("/admin/dashboard/")
    assert response.status_code == 200
    assert re.search(r'data-metric="items">\s*0\s*<', response.get_data(as_text=True))


def test_anonymous_users_are_sent_to_sign_in(app, client):
    response = client.get("/admin/dashboard/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_interpreters_are_refused(app, client):
    sign_in_as(app, client, Role.INTERPRETER)
    assert client.get("/admin/dashboard/").status_code == 403


def test_the_view_declares_its_roles(app):
    view = app.view_functions["dashboard.index"]
    assert set(view.required_roles) == {Role.ADMIN, Role.STAFF}
