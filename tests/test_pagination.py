"""``?page=``: whatever is asked, a whole number from 1 to the cap, and never past the
last page of the list it pages through."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask

from feedback_bot.admin import routes_items, routes_users
from feedback_bot.extensions import db
from feedback_bot.models import AuditEntry, Decision, FeedbackItem, Role
from feedback_bot.pagination import MAX_PAGE, requested_page
from feedback_bot.public import routes as public_routes

from .test_admin_items import as_role


@pytest.mark.parametrize(
    ("value", "page"),
    [
        (None, 1),
        ("", 1),
        ("3", 3),
        ("0", 1),
        ("-5", 1),
        ("two", 1),
        ("1.5", 1),
        ("9" * 30, MAX_PAGE),
        (" 7 ", 7),
    ],
)
def test_requested_page(value, page):
    args = {} if value is None else {"page": value}
    assert requested_page(args) == page


# ------------------------------------------------------------ past the last page

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def three_items(app: Flask) -> None:
    with app.app_context():
        db.session.add_all(FeedbackItem(channel="sms", locale="en") for _ in range(3))
        db.session.commit()


def three_audit_entries(app: Flask) -> None:
    with app.app_context():
        db.session.add_all(AuditEntry(action="test.paged") for _ in range(3))
        db.session.commit()


def three_published_decisions(app: Flask) -> None:
    with app.app_context():
        db.session.add_all(
            Decision(title=f"Decision {n}", summary="Done.", published_at=T0 + timedelta(n))
            for n in range(3)
        )
        db.session.commit()


# Each paginated page, two to a page, with three rows: two pages; and its filters, kept.
PAGED = {
    "inbox": (routes_items, "/admin/items", {"status": "new"}, three_items),
    "audit log": (routes_users, "/admin/audit", {"action": "test.paged"}, three_audit_entries),
    "public page": (public_routes, "/you-said-we-did", {}, three_published_decisions),
}


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


@pytest.mark.parametrize("name", PAGED)
def test_a_page_past_the_last_leads_to_the_last(app, client, monkeypatch, name):
    module, path, filters, make_rows = PAGED[name]
    for constant in ("PER_PAGE", "AUDIT_PER_PAGE"):
        if hasattr(module, constant):
            monkeypatch.setattr(module, constant, 2)
    as_role(app, client, Role.ADMIN)
    make_rows(app)

    response = client.get(path, query_string={**filters, "page": "99"})
    assert response.status_code == 302
    target = response.headers["Location"]
    assert urlsplit(target).path == path
    assert query_of(target) == {**{k: [v] for k, v in filters.items()}, "page": ["2"]}

    last = client.get(target).get_data(as_text=True)
    assert re.search(r"Page 2 of 2\b", last)
    [newer] = re.findall(r'<a href="([^"]+)" rel="prev"', last)
    assert query_of(newer.replace("&amp;", "&"))["page"] == ["1"]
    assert 'rel="next"' not in last


def test_a_page_of_an_empty_list_leads_to_its_first(app, client):
    as_role(app, client, Role.STAFF)
    response = client.get("/admin/items", query_string={"status": "closed", "page": "3"})
    assert response.headers["Location"] == "/admin/items?status=closed"
    assert client.get("/admin/items?status=closed").status_code == 200


def test_pages_that_exist_are_served_as_asked(app, client, monkeypatch):
    monkeypatch.setattr(routes_items, "PER_PAGE", 2)
    as_role(app, client, Role.STAFF)
    three_items(app)
    for page in ("1", "2"):
        assert client.get("/admin/items", query_string={"page": page}).status_code == 200
