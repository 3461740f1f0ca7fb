"""Errors a person meets are pages of the panel, with a way on; machines keep their answers."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from feedback_bot import errors
from feedback_bot.admin import routes_items
from feedback_bot.models import Role

from .test_admin_items import as_role


def is_panel_page(html: str) -> bool:
    return "panel.css" in html and '<meta name="viewport"' in html


def links(html: str) -> list[str]:
    return re.findall(r'<a [^>]*href="([^"]*)"', html)


def test_an_address_that_does_not_exist_is_a_page_with_a_way_on(client):
    response = client.get("/admin/nowhere")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert is_panel_page(html)
    assert "<h1>Page not found</h1>" in html
    # Signed out: the public page, never the panel.
    assert "/you-said-we-did" in links(html)
    assert not [link for link in links(html) if link.startswith("/admin")]


def test_a_page_the_role_does_not_include_says_so_within_the_panel(app, client):
    as_role(app, client, Role.INTERPRETER)
    response = client.get("/admin/users")
    assert response.status_code == 403
    html = response.get_data(as_text=True)
    assert is_panel_page(html)
    assert "<h1>You cannot open this page</h1>" in html
    assert 'class="panel-nav"' in html  # the panel's navigation, to go on from
    assert "/" in links(html)  # the interpreter's start page
    assert "role does not include this page." in html


def test_what_the_view_said_about_a_refusal_is_shown(app, client):
    as_role(app, client, Role.INTERPRETER)  # no languages
    html = client.get("/admin/translate/templates/pl").get_data(as_text=True)
    assert "You do not work in this language." in html
    # The role does include the page: only the language is not theirs.
    assert "role does not include" not in html
    assert "If your work needs it, ask an admin." in html


def test_a_form_address_opened_as_a_page(app, client):
    as_role(app, client, Role.STAFF)
    response = client.get("/logout")
    assert response.status_code == 405
    html = response.get_data(as_text=True)
    assert is_panel_page(html)
    assert "<h1>This address cannot be opened like that</h1>" in html


def test_the_page_came_from_is_offered_only_from_this_site(client):
    came = client.get("/nowhere", headers={"Referer": "http://localhost/you-said-we-did?page=2"})
    assert "http://localhost/you-said-we-did?page=2" in links(came.get_data(as_text=True))
    away = client.get("/nowhere", headers={"Referer": "https://elsewhere.example/"})
    assert "https://elsewhere.example/" not in away.get_data(as_text=True)


@pytest.fixture
def failing_app(make_app) -> Flask:
    """As in production: an exception becomes a 500 answer instead of reaching the test."""
    return make_app(PROPAGATE_EXCEPTIONS=False)  # type: ignore[no-any-return]


def fail(*args: object) -> None:
    raise RuntimeError("the inbox query failed")


def test_a_failure_is_a_page_of_the_panel(failing_app, monkeypatch):
    client = failing_app.test_client()
    as_role(failing_app, client, Role.STAFF)
    monkeypatch.setattr(routes_items, "inbox_query", fail)
    response = client.get("/admin/items")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert is_panel_page(html)
    assert "<h1>Something went wrong on our side</h1>" in html
    assert "the inbox query failed" not in html


def test_a_failing_error_page_falls_back_to_the_plain_one(failing_app, monkeypatch):
    client = failing_app.test_client()
    monkeypatch.setattr(errors, "render_template", fail)
    monkeypatch.setattr(routes_items, "inbox_query", fail)
    as_role(failing_app, client, Role.STAFF)
    response = client.get("/admin/items")
    assert response.status_code == 500
    assert "Internal Server Error" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/webhooks/twilio/messages", 405),  # routing: never reaches the blueprint
        ("POST", "/webhooks/twilio/messages", 403),  # unsigned: the webhooks' own answer
        ("GET", "/webhooks/twilio/nowhere", 404),
    ],
)
def test_twilio_never_gets_a_panel_page(client, method, path, status):
    response = client.open(path, method=method)
    assert response.status_code == status
    assert not is_panel_page(response.get_data(as_text=True))


def test_the_webhooks_plain_text_answers_are_unchanged(client):
    body = client.post("/webhooks/twilio/messages").get_data(as_text=True)
    assert body.startswith("403 Forbidden: ") and "<" not in body


def test_a_script_asking_for_json_gets_no_page(app, client):
    as_role(app, client, Role.STAFF)
    response = client.get("/admin/decisions/12345/progress", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert not is_panel_page(response.get_data(as_text=True))
