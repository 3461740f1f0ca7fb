"""The panel under input no browser of ours sends: ids past 32 bits, control characters.

Each of these was a 500 on PostgreSQL (integer out of range; "text fields cannot contain
NUL") and some on SQLite too (an id past 64 bits overflows). The assertions are on what is
stored and answered, so they fail on SQLite as well wherever the old code kept the text.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

from feedback_bot.extensions import db
from feedback_bot.models import (
    AuditEntry,
    Decision,
    FeedbackItem,
    InboundMessage,
    ItemStatus,
    MessageTranslation,
    Role,
    Topic,
    User,
)
from feedback_bot.refs import MAX_ID

from .conftest import drain, send_sms
from .test_auth import create_user, sign_in

POLISH = "+48512345678"
TOO_LARGE = [MAX_ID + 1, 2**63, 10**20]


@pytest.fixture(autouse=True)
def never_500(app: Flask) -> Iterator[None]:
    """Whatever a test here sends, the app must not answer with a server error."""
    statuses: list[int] = []

    def record(response: Any) -> Any:
        statuses.append(response.status_code)
        return response

    app.after_request(record)
    yield
    assert all(status < 500 for status in statuses), statuses


@pytest.fixture
def admin(app: Flask, client: FlaskClient) -> FlaskClient:
    create_user(app, Role.ADMIN)
    assert sign_in(client, "admin@example.org").status_code == 302
    return client


@pytest.fixture
def item_id(app: Flask) -> int:
    with app.app_context():
        item = FeedbackItem(channel="sms", locale="en")
        db.session.add(item)
        db.session.commit()
        return item.id


def id_rules(app: Flask) -> list[tuple[str, str]]:
    """(method, path) for every route with an id in it, each id set to a placeholder."""
    found = []
    for rule in app.url_map.iter_rules():
        ids = [name for name, c in rule._converters.items() if isinstance(c, IntegerConverter)]
        if not ids:
            continue
        path = rule.rule
        for name in ids:
            path = path.replace(f"<int:{name}>", "{id}")
        path = path.replace("<locale>", "pl")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((method, path))
    return found


# ----------------------------------------------------------------------- ids too large


def test_every_route_with_an_id_covers_the_panel(app):
    paths = {path for _, path in id_rules(app)}
    for expected in (
        "/admin/items/{id}",
        "/admin/decisions/{id}/edit",
        "/admin/users/{id}",
        "/admin/translate/feedback/{id}",
        "/admin/media/{id}",
    ):
        assert expected in paths


@pytest.mark.parametrize("too_large", TOO_LARGE)
def test_an_id_past_the_largest_is_not_found_on_every_route(app, admin, too_large):
    adapter = app.url_map.bind("localhost")
    for method, path in id_rules(app):
        url = path.format(id=too_large)
        with pytest.raises(NotFound):
            adapter.match(url, method=method)
        assert admin.open(url, method=method).status_code == 404, (method, url)


def test_the_largest_id_is_still_an_id(app):
    adapter = app.url_map.bind("localhost")
    assert adapter.match(f"/admin/items/{MAX_ID}") == ("admin.item_page", {"item_id": MAX_ID})
    with pytest.raises(NotFound):
        adapter.match("/admin/items/0")


@pytest.mark.parametrize("too_large", [str(n) for n in TOO_LARGE] + ["-1", "0", "1" * 5000])
def test_the_bulk_form_refuses_an_id_past_the_largest(app, client, item_id, too_large):
    create_user(app, Role.STAFF)
    sign_in(client, "staff@example.org")
    response = client.post(
        "/admin/items/bulk", data={"item_ids": [str(item_id), too_large], "action": "triage"}
    )
    assert response.status_code == 302
    with client.session_transaction() as session:
        flashed = [message for _, message in session.get("_flashes", [])]
    assert any(message.startswith("Items: ") for message in flashed), flashed
    with app.app_context():
        assert db.session.get(FeedbackItem, item_id).status == ItemStatus.NEW


# ------------------------------------------------------------------ control characters


def test_a_decision_loses_control_characters_but_keeps_line_breaks_as_lf(app, admin):
    response = admin.post(
        "/admin/decisions/new",
        data={
            "title": "Street\x00 lights\x1b",
            "outcome": "adopted\x00",
            "summary": "We will\x00 fix them.\r\n\tBy May.\x07",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        decision = db.session.scalars(select(Decision)).one()
        assert decision.title == "Street lights"
        assert decision.outcome == "adopted"
        # Members read the summary by SMS: a browser's CR LF reaches them as one LF.
        assert decision.summary == "We will fix them.\n\tBy May."


def test_topics_and_reasons_lose_nul_characters(app, admin, item_id):
    admin.post(f"/admin/items/{item_id}/tag", data={"new_topic": "Li\x00fts"})
    admin.post(
        f"/admin/items/{item_id}/close", data={"reason": "Not ours\x00 to fix.", "confirmed": "yes"}
    )
    with app.app_context():
        assert db.session.scalars(select(Topic.name)).all() == ["Lifts"]
        item = db.session.get(FeedbackItem, item_id)
        assert (item.status, item.closed_reason) == (ItemStatus.CLOSED, "Not ours to fix.")


def test_a_new_account_loses_nul_characters_but_a_password_is_kept_as_typed(app, admin):
    password = "twelve\x00chars and more"
    response = admin.post(
        "/admin/users",
        data={"email": "ola\x00@example.org", "role": "staff", "password": password},
    )
    assert response.status_code == 302
    with app.app_context():
        emails = db.session.scalars(select(User.email).order_by(User.email)).all()
        assert emails == ["admin@example.org", "ola@example.org"]
    assert sign_in(FlaskClient(app), "ola@example.org", password).status_code == 302


def test_the_audit_filter_loses_nul_characters(app, admin, item_id):
    admin.post(f"/admin/items/{item_id}/triage")
    page = admin.get("/admin/audit", query_string={"action": "item.triage\x00"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<code>item.triage</code>" in html and "<code>auth.login</code>" not in html
    with app.app_context():
        assert db.session.scalars(select(AuditEntry.action)).all() == ["auth.login", "item.triage"]


def test_a_translation_loses_nul_characters(app, client, admin):
    send_sms(client, POLISH, "Winda w bloku C nie działa.")
    drain(app)
    with app.app_context():
        message_id = db.session.scalars(select(InboundMessage.id)).one()
    admin.post(
        f"/admin/translate/feedback/{message_id}",
        data={"text": "The lift\x00 in block C is broken.", "state": "needs_review"},
    )
    with app.app_context():
        saved = db.session.scalars(select(MessageTranslation.text)).one()
        assert saved == "The lift in block C is broken."
