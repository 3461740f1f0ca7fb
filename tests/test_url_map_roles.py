"""Every panel route refuses anonymous users and roles it does not name.

The routes are found by walking ``app.url_map``, so a route added tomorrow is checked
tomorrow; which roles it allows is read from ``required_roles`` (set by
``roles_required``), and a panel view without it fails the first test.
"""

from __future__ import annotations

import pytest
from flask import Flask, url_for
from werkzeug.routing import IntegerConverter, Rule

from feedback_bot.models import Role

from .test_auth import create_user, sign_in

# Every blueprint behind the login; a new one must be added here to be walked.
PANEL_PREFIXES = (
    "admin.",
    "auth.",
    "dashboard.",
    "exports.",
    "interpreters.",
    "whatsapp.",
    "media.",
)
PUBLIC = {"auth.login", "auth.logout"}
DUMMY_ID = 987_654
IGNORED_METHODS = {"HEAD", "OPTIONS"}


def panel_rules(app: Flask) -> list[Rule]:
    rules = [
        rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith(PANEL_PREFIXES) and rule.endpoint not in PUBLIC
    ]
    assert len(rules) >= 15, "the walk found too few panel routes to mean anything"
    return rules


def requests_for(app: Flask) -> list[tuple[str, str, tuple[str, ...]]]:
    """(method, url with dummy ids, roles allowed) for every panel rule and method."""
    found = []
    with app.test_request_context():
        for rule in panel_rules(app):
            values = {
                name: DUMMY_ID if isinstance(converter, IntegerConverter) else "dummy"
                for name, converter in rule._converters.items()
            }
            url = url_for(rule.endpoint, **values)
            allowed = app.view_functions[rule.endpoint].required_roles
            for method in sorted((rule.methods or set()) - IGNORED_METHODS):
                found.append((method, url, allowed))
    return found


def is_login_redirect(response) -> bool:
    return response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_every_panel_view_declares_its_roles(app):
    for rule in panel_rules(app):
        view = app.view_functions[rule.endpoint]
        roles = getattr(view, "required_roles", None)
        assert roles, f"{rule.endpoint} has no roles_required"
        assert set(roles) <= set(Role.ALL), rule.endpoint


def test_the_policy_on_the_riskiest_routes(app):
    """Spot checks that the declared roles say what the issue says."""
    views = app.view_functions
    assert views["admin.item_reveal"].required_roles == (Role.ADMIN,)
    assert Role.INTERPRETER not in views["admin.decision_publish"].required_roles
    assert Role.INTERPRETER not in views["admin.decision_edit"].required_roles
    assert Role.INTERPRETER not in views["admin.bulk_action"].required_roles
    for endpoint in ("admin.users", "admin.user_update", "admin.user_password", "admin.audit_log"):
        assert views[endpoint].required_roles == (Role.ADMIN,)
    assert views["auth.own_password"].required_roles == Role.ALL


def test_anonymous_users_are_sent_to_sign_in(app, client):
    for method, url, _ in requests_for(app):
        response = client.open(url, method=method)
        assert is_login_redirect(response) or response.status_code in (401, 403), (
            method,
            url,
            response.status_code,
        )


@pytest.mark.parametrize("role", Role.ALL)
def test_each_role_gets_exactly_what_it_is_allowed(app, client, role):
    create_user(app, role)
    assert sign_in(client, f"{role}@example.org").status_code == 302
    refused = allowed_count = 0
    for method, url, allowed in requests_for(app):
        response = client.open(url, method=method)
        where = (role, method, url, response.status_code)
        if role in allowed:
            allowed_count += 1
            assert response.status_code not in (401, 403), where
            assert not is_login_redirect(response), where
            assert response.status_code < 500, where
        else:
            refused += 1
            assert response.status_code == 403, where
    if role == Role.ADMIN:
        assert refused == 0
    else:
        assert refused > 0 and allowed_count > 0
