"""Staff accounts: signing in and out, the login rate limit, CSRF, the CLI, user admin."""

from __future__ import annotations

import functools
import re
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner
from markupsafe import escape
from redis import Redis
from sqlalchemy import select

from feedback_bot.auth import limiter_storage_uri
from feedback_bot.auth.cli import parse_languages
from feedback_bot.auth.passwords import MAX_PASSWORD_LENGTH
from feedback_bot.extensions import db
from feedback_bot.models import AuditEntry, Decision, Role, User

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new password"


# ------------------------------------------------------------------ helpers (shared)


def create_user(
    app: Flask,
    role: str,
    email: str | None = None,
    password: str = PASSWORD,
    languages: str = "",
    active: bool = True,
) -> int:
    with app.app_context():
        user = User(
            email=email or f"{role}@example.org", role=role, languages=languages, active=active
        )
        if password == PASSWORD:
            # Made by set_password once for the whole run: scrypt is slow on purpose, and
            # most tests only need somebody signed in. Signing in still checks it.
            user.password_hash = usual_password_hash()
        else:
            user.set_password(password)
        db.session.add(user)
        db.session.commit()
        return user.id


@functools.cache
def usual_password_hash() -> str:
    user = User()
    user.set_password(PASSWORD)
    return user.password_hash


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD, **extra: Any) -> Any:
    return client.post("/login", data={"email": email, "password": password, **extra})


def audit_entries(app: Flask, action: str | None = None) -> list[AuditEntry]:
    with app.app_context():
        query = select(AuditEntry).order_by(AuditEntry.id)
        if action:
            query = query.where(AuditEntry.action == action)
        entries = list(db.session.scalars(query))
        db.session.expunge_all()
        return entries


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'<meta name="csrf-token" content="([^"]+)"', html
    )
    assert match, "no CSRF token in the page"
    return match.group(1)


# --------------------------------------------------------------------- signing in/out


def test_sign_in_and_out(app, client):
    user_id = create_user(app, Role.STAFF)

    first = client.get("/admin/items")
    assert first.status_code == 302
    assert first.headers["Location"].startswith("/login?next=")

    response = sign_in(client, "staff@example.org", next="ignored")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/items"
    page = client.get("/admin/items")
    assert page.status_code == 200
    assert "staff@example.org</a> · staff" in page.get_data(as_text=True)

    with app.app_context():
        user = db.session.get(User, user_id)
        assert user.last_login_at is not None
    [entry] = audit_entries(app, "auth.login")
    assert entry.user_id == user_id

    out = client.post("/logout")
    assert out.status_code == 302
    assert out.headers["Location"] == "/login"
    assert client.get("/admin/items").status_code == 302


def test_sign_in_returns_to_the_page_asked_for_but_never_off_site(app, client):
    create_user(app, Role.STAFF)
    response = client.post(
        "/login?next=/admin/decisions",
        data={"email": "staff@example.org", "password": PASSWORD},
    )
    assert response.headers["Location"] == "/admin/decisions"
    client.post("/logout")
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = client.post(
            "/login",
            query_string={"next": target},
            data={"email": "staff@example.org", "password": PASSWORD},
        )
        assert response.headers["Location"] == "/admin/items", target
        client.post("/logout")


@pytest.mark.parametrize(
    ("role", "home"),
    [
        (Role.ADMIN, "/admin/items"),
        (Role.STAFF, "/admin/items"),
        (Role.INTERPRETER, "/admin/translate/"),
    ],
)
def test_each_role_lands_where_its_work_is(app, client, role, home):
    create_user(app, role, email="someone@example.org")
    assert sign_in(client, "someone@example.org").headers["Location"] == home
    # The brand's link, and the sign-in page for someone already signed in.
    assert client.get("/").headers["Location"] == home
    assert client.get("/login").headers["Location"] == home


def test_the_page_asked_for_wins_over_an_interpreters_home(app, client):
    create_user(app, Role.INTERPRETER)
    response = client.post(
        "/login?next=/admin/decisions",
        data={"email": "interpreter@example.org", "password": PASSWORD},
    )
    assert response.headers["Location"] == "/admin/decisions"


@pytest.mark.parametrize(
    ("role", "target", "lands"),
    [
        (Role.INTERPRETER, "/admin/users", "/admin/translate/"),
        (Role.INTERPRETER, "/admin/languages", "/admin/translate/"),
        (Role.STAFF, "/admin/users", "/admin/items"),
        (Role.STAFF, "/admin/no-such-page", "/admin/items"),
        (Role.ADMIN, "/admin/users?x=1", "/admin/users?x=1"),
        (Role.STAFF, "/admin/dashboard", "/admin/dashboard"),  # its slash added after
    ],
)
def test_a_page_of_another_role_is_not_where_sign_in_lands(app, client, role, target, lands):
    """A link to a page the account may not see (another's role, shared in a message)
    signed them in to a 403 page; they land on their own home instead."""
    create_user(app, role, email="someone@example.org")
    response = client.post(
        "/login",
        query_string={"next": target},
        data={"email": "someone@example.org", "password": PASSWORD},
    )
    assert response.headers["Location"] == lands


@pytest.mark.parametrize(
    "target", ["/admin/items\r\nX-Injected: 1", "/admin/items\n", "/admin\x00", "/a\tb"]
)
def test_a_next_page_with_a_control_character_is_not_followed(app, client, target):
    # Werkzeug refuses a line break in a Location header: the right password gave a 500.
    create_user(app, Role.STAFF)
    response = client.post(
        "/login",
        query_string={"next": target},
        data={"email": "staff@example.org", "password": PASSWORD},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/items"


def test_email_is_matched_without_regard_to_case(app, client):
    create_user(app, Role.STAFF, email="Staff@Example.org")
    assert sign_in(client, "staff@example.ORG").status_code == 302


def test_wrong_password_and_unknown_email_are_refused_alike(app, client):
    create_user(app, Role.STAFF)

    wrong = sign_in(client, "staff@example.org", "not the password at all")
    unknown = sign_in(client, "nobody@example.org", PASSWORD)

    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "do not match an active account" in response.get_data(as_text=True)
    assert client.get("/admin/items").status_code == 302
    assert audit_entries(app, "auth.login") == []


def test_deactivated_account_cannot_sign_in(app, client):
    create_user(app, Role.STAFF, active=False)
    assert sign_in(client, "staff@example.org").status_code == 401
    assert client.get("/admin/items").status_code == 302


def test_deactivating_an_account_ends_its_session(app, client):
    user_id = create_user(app, Role.STAFF)
    sign_in(client, "staff@example.org")
    assert client.get("/admin/items").status_code == 200
    with app.app_context():
        db.session.get(User, user_id).active = False
        db.session.commit()
    assert client.get("/admin/items").status_code == 302


def test_both_sign_in_cookies_stay_on_this_site(app, client):
    """Neither the session nor "keep me signed in" goes with a form another site posts
    (SameSite=Lax), and scripts cannot read either."""
    create_user(app, Role.STAFF)
    response = sign_in(client, "staff@example.org", remember="y")
    cookies = {c.split("=", 1)[0]: c.lower() for c in response.headers.getlist("Set-Cookie")}
    assert set(cookies) >= {"session", "remember_token"}
    for name in ("session", "remember_token"):
        assert "samesite=lax" in cookies[name], name
        assert "httponly" in cookies[name], name


def test_a_new_password_ends_every_session_and_remembered_device(app, client):
    create_user(app, Role.STAFF)
    assert sign_in(client, "staff@example.org").status_code == 302
    remembered = app.test_client()
    assert sign_in(remembered, "staff@example.org", remember="y").status_code == 302
    # The browser is closed: only the remember-me cookie is left, and it still signs in.
    remembered.delete_cookie("session")
    assert remembered.get("/admin/items").status_code == 200
    remembered.delete_cookie("session")

    result = app.test_cli_runner().invoke(
        args=["users", "set-password", "staff@example.org", "--password", NEW_PASSWORD]
    )
    assert result.exit_code == 0, result.output

    for signed_in in (client, remembered):
        response = signed_in.get("/admin/items")
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")
    assert sign_in(client, "staff@example.org", NEW_PASSWORD).status_code == 302
    assert client.get("/admin/items").status_code == 200


def test_password_is_stored_as_a_scrypt_hash(app):
    user_id = create_user(app, Role.STAFF)
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user.password_hash.startswith("scrypt:")
        assert PASSWORD not in user.password_hash


# -------------------------------------------------------------- changing a password


def signed_in_twice(app: Flask, email: str) -> tuple[FlaskClient, FlaskClient]:
    """``email`` signed in on two devices: one open now, one kept signed in ("remember
    me") whose browser was closed, so only its remember-me cookie is left."""
    open_now, remembered = app.test_client(), app.test_client()
    assert sign_in(open_now, email).status_code == 302
    assert sign_in(remembered, email, remember="y").status_code == 302
    remembered.delete_cookie("session")
    for device in (open_now, remembered):
        assert device.get("/admin/decisions").status_code == 200
    remembered.delete_cookie("session")
    return open_now, remembered


def signed_out(device: FlaskClient) -> bool:
    response = device.get("/admin/decisions")
    return response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_an_admin_sets_a_new_password_and_signs_the_account_out_everywhere(app, client):
    admin_id = create_user(app, Role.ADMIN)
    staff_id = create_user(app, Role.STAFF)
    open_now, remembered = signed_in_twice(app, "staff@example.org")
    sign_in(client, "admin@example.org")
    page = client.get("/admin/users").get_data(as_text=True)
    assert f'href="/admin/users/{staff_id}/password"' in page
    assert f'href="/admin/users/{admin_id}/password"' not in page  # their own: /account
    url = f"/admin/users/{staff_id}/password"
    assert "New password for staff@example.org" in client.get(url).get_data(as_text=True)

    # The rule of the CLI and of new accounts; typed twice, as the CLI asks.
    short = client.post(url, data={"password": "too short", "again": "too short"})
    assert short.status_code == 400
    assert "between 12 and" in short.get_data(as_text=True)
    differ = client.post(url, data={"password": NEW_PASSWORD, "again": NEW_PASSWORD + "!"})
    assert differ.status_code == 400
    page = differ.get_data(as_text=True)
    assert "The two new passwords differ." in page and NEW_PASSWORD not in page
    assert not signed_out(open_now)
    remembered.delete_cookie("session")

    response = client.post(url, data={"password": NEW_PASSWORD, "again": NEW_PASSWORD})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "New password set for staff@example.org" in page and NEW_PASSWORD not in page
    # Their session and their remembered device end; the admin's does not.
    assert signed_out(open_now) and signed_out(remembered)
    assert client.get("/admin/users").status_code == 200
    assert sign_in(app.test_client(), "staff@example.org").status_code == 401
    assert sign_in(app.test_client(), "staff@example.org", NEW_PASSWORD).status_code == 302
    [entry] = audit_entries(app, "user.password_set")
    assert (entry.user_id, entry.target_id, entry.detail) == (admin_id, staff_id, {})

    # Their own, an admin changes with the current password, on their own page.
    own = client.get(f"/admin/users/{admin_id}/password")
    assert own.status_code == 302 and own.headers["Location"] == "/account/password"
    client.post(f"/admin/users/{admin_id}/password", data={"password": NEW_PASSWORD})
    assert sign_in(app.test_client(), "admin@example.org").status_code == 302
    assert len(audit_entries(app, "user.password_set")) == 1

    # Nobody else sets anyone's password.
    staff = app.test_client()
    sign_in(staff, "staff@example.org", NEW_PASSWORD)
    refused = staff.post(
        f"/admin/users/{admin_id}/password",
        data={"password": PASSWORD + "!", "again": PASSWORD + "!"},
    )
    assert refused.status_code == 403


@pytest.mark.parametrize("role", Role.ALL)
def test_anyone_signed_in_changes_their_own_password(app, role):
    user_id = create_user(app, role)
    email = f"{role}@example.org"
    here, elsewhere = signed_in_twice(app, email)
    page = here.get("/admin/decisions").get_data(as_text=True)
    assert 'href="/account/password"' in page  # in the top bar, on every page
    fields = {"password": NEW_PASSWORD, "again": NEW_PASSWORD}

    wrong = here.post("/account/password", data={**fields, "current": "not my password!"})
    assert wrong.status_code == 401
    assert "That is not your current password." in wrong.get_data(as_text=True)
    assert not signed_out(here)
    differ = here.post(
        "/account/password", data={**fields, "again": "something else", "current": PASSWORD}
    )
    assert differ.status_code == 400
    assert sign_in(app.test_client(), email).status_code == 302  # unchanged so far
    elsewhere.delete_cookie("session")

    changed = here.post("/account/password", data={**fields, "current": PASSWORD})
    assert changed.status_code == 302
    page = here.get(changed.headers["Location"]).get_data(as_text=True)
    assert "Your password is changed" in page and NEW_PASSWORD not in page
    # This browser carries on; the other device is signed out.
    assert not signed_out(here)
    assert signed_out(elsewhere)
    assert sign_in(app.test_client(), email).status_code == 401
    assert sign_in(app.test_client(), email, NEW_PASSWORD).status_code == 302
    [entry] = audit_entries(app, "user.password_change")
    assert (entry.user_id, entry.target_id, entry.detail) == (user_id, user_id, {})


def test_a_remembered_device_stays_signed_in_when_its_owner_changes_the_password(app):
    create_user(app, Role.STAFF)
    device = app.test_client()
    sign_in(device, "staff@example.org", remember="y")
    fields = {"current": PASSWORD, "password": NEW_PASSWORD, "again": NEW_PASSWORD}
    assert device.post("/account/password", data=fields).status_code == 302
    device.delete_cookie("session")  # the browser is closed and opened again
    assert not signed_out(device)


def test_changing_ones_password_needs_a_csrf_token(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    create_user(app, Role.STAFF)
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    sign_in(client, "staff@example.org", csrf_token=token)
    fields = {"current": PASSWORD, "password": NEW_PASSWORD, "again": NEW_PASSWORD}
    assert client.post("/account/password", data=fields).status_code == 400
    with app.app_context():
        user = db.session.scalars(select(User)).one()
        assert user.check_password(PASSWORD)
    token = csrf_token_from(client.get("/account/password").get_data(as_text=True))
    response = client.post("/account/password", data={**fields, "csrf_token": token})
    assert response.status_code == 302


def test_wrong_current_passwords_are_limited_per_account(make_app):
    """Someone at a session left open cannot guess its password through this form faster
    than through the sign-in form."""
    app = make_app(RATELIMIT_ENABLED=True)
    create_user(app, Role.STAFF)
    create_user(app, Role.INTERPRETER)
    client = app.test_client()
    sign_in(client, "staff@example.org")
    fields = {"password": NEW_PASSWORD, "again": NEW_PASSWORD}
    for _ in range(20):
        wrong = client.post("/account/password", data={**fields, "current": "a wrong guess!"})
        assert wrong.status_code == 401
    refused = client.post("/account/password", data={**fields, "current": PASSWORD})
    assert refused.status_code == 429
    assert "Too many wrong passwords" in refused.get_data(as_text=True)
    assert sign_in(app.test_client(), "staff@example.org").status_code == 302  # unchanged
    # Another account is not held back, and nobody is counted before signing in.
    assert app.test_client().post("/account/password", data=fields).status_code == 302
    other = app.test_client()
    sign_in(other, "interpreter@example.org")
    response = other.post("/account/password", data={**fields, "current": PASSWORD})
    assert response.status_code == 302


# ------------------------------------------------------------------------ rate limit


def test_login_attempts_are_rate_limited_per_address(make_app, redis_url):
    app = make_app(RATELIMIT_ENABLED=True)
    client = app.test_client()
    create_user(app, Role.STAFF)

    for _ in range(10):
        assert sign_in(client, "staff@example.org", "wrong password!").status_code == 401
    # The eleventh attempt in the minute is refused, even with the right password.
    assert sign_in(client, "staff@example.org").status_code == 429
    assert client.get("/admin/items").status_code == 302
    # Viewing the form is not an attempt.
    assert client.get("/login").status_code == 200
    # Another address is not affected.
    other = app.test_client()
    response = other.post(
        "/login",
        data={"email": "staff@example.org", "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )
    assert response.status_code == 302
    # The counts live in the app's Redis, shared by every web process.
    with Redis.from_url(redis_url) as redis:
        assert redis.keys("*feedback-bot*")


def test_failed_sign_ins_are_limited_per_account_from_any_address(make_app):
    """A guesser spread over many addresses is held to ACCOUNT_LOGIN_LIMIT failures per
    account; other accounts, and signing in successfully, are not counted."""
    app = make_app(RATELIMIT_ENABLED=True)
    create_user(app, Role.STAFF)
    create_user(app, Role.INTERPRETER, email="interpreter@example.org")

    def from_address(n: int, email: str, password: str = PASSWORD) -> Any:
        return app.test_client().post(
            "/login",
            data={"email": email, "password": password},
            environ_base={"REMOTE_ADDR": f"198.51.100.{n}"},
        )

    for n in range(5):  # successes are not counted
        assert from_address(n, "staff@example.org").status_code == 302
    for n in range(20):
        # The address is spelled as people type it: the limit is the account's.
        email = "Staff@Example.org " if n % 2 else "staff@example.org"
        assert from_address(n, email, "wrong password!").status_code == 401
    refused = from_address(99, "staff@example.org")  # a new address, the right password
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "Too many sign-in attempts" in refused.get_data(as_text=True)
    assert from_address(99, "interpreter@example.org").status_code == 302


def test_rate_limit_is_off_when_disabled(make_app):
    app = make_app(RATELIMIT_ENABLED=False)
    client = app.test_client()
    create_user(app, Role.STAFF)
    for _ in range(12):
        assert sign_in(client, "staff@example.org", "wrong password!").status_code == 401
    assert sign_in(client, "staff@example.org").status_code == 302


def test_limiter_storage_uri_spells_a_socket_the_limits_way():
    assert limiter_storage_uri("unix:///tmp/redis.sock") == "redis+unix:///tmp/redis.sock"
    assert limiter_storage_uri("redis://localhost:6379/0") == "redis://localhost:6379/0"
    assert limiter_storage_uri("rediss://h:6380/1") == "rediss://h:6380/1"


# ------------------------------------------------------------------------------ CSRF


def test_forms_need_a_csrf_token(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    create_user(app, Role.STAFF)

    refused = sign_in(client, "staff@example.org")
    assert refused.status_code == 400
    assert client.get("/admin/items").status_code == 302

    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    assert sign_in(client, "staff@example.org", csrf_token=token).status_code == 302
    page = client.get("/admin/items").get_data(as_text=True)
    # Signing out is a POST with a token too.
    assert client.post("/logout").status_code == 400
    assert client.get("/admin/items").status_code == 200
    client.post("/logout", data={"csrf_token": csrf_token_from(page)})
    assert client.get("/admin/items").status_code == 302


def test_a_form_left_open_for_hours_still_saves(make_app, monkeypatch):
    """By default a form's token lasts as long as the session: a decision typed in a tab
    left open over lunch is saved, not lost."""
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    create_user(app, Role.STAFF)
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    assert sign_in(client, "staff@example.org", csrf_token=token).status_code == 302
    token = csrf_token_from(client.get("/admin/decisions/new").get_data(as_text=True))
    with monkeypatch.context() as later:
        later.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) + 7200)
        response = client.post(
            "/admin/decisions/new",
            data={"csrf_token": token, "title": "Street lights", "outcome": "adopted"},
        )
    assert response.status_code == 302
    with app.app_context():
        assert [d.title for d in db.session.scalars(select(Decision))] == ["Street lights"]


def test_an_expired_form_says_so_and_keeps_what_was_typed(make_app, monkeypatch):
    # An operator may still set a time limit; a token can also be lost with the session.
    app = make_app(WTF_CSRF_ENABLED=True, WTF_CSRF_TIME_LIMIT=3600)
    client = app.test_client()
    create_user(app, Role.STAFF)
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    assert sign_in(client, "staff@example.org", csrf_token=token).status_code == 302
    decision_form = "/admin/decisions/new"
    token = csrf_token_from(client.get(decision_form).get_data(as_text=True))

    summary = "We will repair the lights on Mill Road\nby the end of May."
    with monkeypatch.context() as later:
        # Sent two hours after the page was opened: past the token's time limit, within
        # the session cookie's.
        later.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) + 7200)
        response = client.post(
            decision_form,
            data={"csrf_token": token, "title": "Street lights", "summary": summary},
            headers={"Referer": "http://localhost" + decision_form},
        )
    assert response.status_code == 400
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    assert "This form has expired" in page and "Nothing was saved" in page
    assert "Why: The page was open longer than a form is allowed to wait." in page
    assert "CSRF" not in page
    assert f'href="http://localhost{decision_form}"' in page  # to open it again, fresh
    assert escape(summary) in page and token not in page
    with app.app_context():
        assert db.session.scalars(select(Decision)).all() == []

    # Not signed in, nothing is shown back (a password never is), and no other site's page
    # is linked to.
    stranger = app.test_client()
    refused = stranger.post(
        "/login",
        data={"email": "staff@example.org", "password": PASSWORD, "csrf_token": "forged"},
        headers={"Referer": "https://evil.example/"},
    )
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    assert "This form has expired" in page
    assert "Why: You are no longer signed in on this browser" in page
    assert "staff@example.org" not in page and PASSWORD not in page
    assert 'href="/admin/items"' in page and "evil.example" not in page


# ------------------------------------------------------------------------------- CLI


def test_cli_creates_a_user(app):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "users",
            "create",
            "ana@example.org",
            "--role",
            "interpreter",
            "--password",
            "a long enough password",
            "--languages",
            "ar, ur",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "Created interpreter ana@example.org" in result.output
    with app.app_context():
        user = db.session.scalars(select(User).where(User.email == "ana@example.org")).one()
        assert user.role == Role.INTERPRETER
        assert user.languages == "ar,ur"
        assert user.password_hash.startswith("scrypt:")
        assert user.check_password("a long enough password")
    [entry] = audit_entries(app, "user.create")
    assert entry.detail["via"] == "cli"


def test_cli_prompts_for_the_password_twice(app):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["users", "create", "boss@example.org", "--role", "admin"],
        input="a long enough password\na long enough password\n",
    )
    assert result.exit_code == 0, result.output
    assert "a long enough password" not in result.output  # hidden input
    with app.app_context():
        user = db.session.scalars(select(User).where(User.email == "boss@example.org")).one()
        assert user.role == Role.ADMIN
        assert user.check_password("a long enough password")


def test_cli_refuses_bad_input(app):
    runner = app.test_cli_runner()
    create_user(app, Role.STAFF)
    cases = [
        (
            ["users", "create", "staff@example.org", "--role", "staff", "--password", "x" * 20],
            "already exists",
        ),
        (
            ["users", "create", "new@example.org", "--role", "boss", "--password", "x" * 20],
            "Invalid value for '--role'",
        ),
        (
            ["users", "create", "new@example.org", "--role", "staff", "--password", "short"],
            "at least 12 characters",
        ),
        (
            [
                "users",
                "create",
                "new@example.org",
                "--role",
                "interpreter",
                "--password",
                "x" * 20,
                "--languages",
                "ar,xx",
            ],
            "unknown language xx",
        ),
        (
            ["users", "create", "not-an-email", "--role", "staff", "--password", "x" * 20],
            "not an email address",
        ),
        (
            ["users", "create", "new@example.org", "--role", "interpreter", "--password", "x" * 20],
            "needs at least one language",
        ),
    ]
    for args, message in cases:
        result = runner.invoke(args=args)
        assert result.exit_code != 0, args
        assert message in result.output, (args, result.output)
    with app.app_context():
        assert db.session.scalars(select(User.email)).all() == ["staff@example.org"]


def test_cli_sets_a_password(app):
    create_user(app, Role.ADMIN)
    result = app.test_cli_runner().invoke(
        args=["users", "set-password", "admin@example.org", "--password", "a brand new password"]
    )
    assert result.exit_code == 0, result.output
    client = app.test_client()
    assert sign_in(client, "admin@example.org").status_code == 401
    assert sign_in(client, "admin@example.org", "a brand new password").status_code == 302


# ------------------------------------------------------------------------ user admin


def test_an_address_with_any_letters_signs_in_as_typed_and_is_taken_once(app, client):
    """ "Émile@" is stored as "émile@" (Python's lower(), not SQL's, which leaves "É"
    alone): it signs in however its owner types the case, and cannot be created twice."""
    create_user(app, Role.ADMIN)
    sign_in(client, "admin@example.org")
    fields = {"role": "staff", "languages": "", "password": "twelve chars!"}
    created = client.post("/admin/users", data={**fields, "email": "Émile@Example.org"})
    assert created.status_code == 302
    again = client.post("/admin/users", data={**fields, "email": "ÉMILE@example.org"})
    assert again.status_code == 400
    assert "already exists" in again.get_data(as_text=True)
    for typed in ("Émile@Example.org", "émile@example.org"):
        assert sign_in(app.test_client(), typed, "twelve chars!").status_code == 302
    with app.app_context():
        assert db.session.scalars(select(User.email).where(User.role == "staff")).all() == [
            "émile@example.org"
        ]


def test_admin_creates_users_and_changes_roles_audited(app, client):
    admin_id = create_user(app, Role.ADMIN)
    sign_in(client, "admin@example.org")

    response = client.post(
        "/admin/users",
        data={
            "email": "ola@example.org",
            "role": "interpreter",
            "languages": "pl",
            "password": "twelve chars!",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        ola = db.session.scalars(select(User).where(User.email == "ola@example.org")).one()
        ola_id = ola.id
        assert (ola.role, ola.languages) == (Role.INTERPRETER, "pl")

    response = client.post(
        f"/admin/users/{ola_id}", data={"role": "staff", "languages": "pl,uk", "active": "y"}
    )
    assert response.status_code == 302
    [change] = audit_entries(app, "user.role_change")
    assert (change.user_id, change.target_id) == (admin_id, ola_id)
    assert change.detail == {"before": "interpreter", "after": "staff"}
    assert audit_entries(app, "user.languages")[0].detail["after"] == "pl,uk"

    client.post(f"/admin/users/{ola_id}", data={"role": "staff", "languages": "pl,uk"})
    with app.app_context():
        assert db.session.get(User, ola_id).active is False
    assert len(audit_entries(app, "user.deactivate")) == 1

    # An admin cannot lock themselves out.
    client.post(f"/admin/users/{admin_id}", data={"role": "staff", "active": "y"})
    with app.app_context():
        assert db.session.get(User, admin_id).role == Role.ADMIN


def test_the_users_page_flags_an_address_that_is_not_one(app, client):
    create_user(app, Role.ADMIN)
    sign_in(client, "admin@example.org")
    fields = {"role": "staff", "languages": ""}
    for typed in ("not-an-email", "ana @example.org", "ana@example", "<b>ana</b>@example.org"):
        refused = client.post("/admin/users", data={**fields, "email": typed, "password": "short"})
        assert refused.status_code == 400
        page = refused.get_data(as_text=True)
        # Each field says what is wrong with it, both at once.
        email_field = re.search(
            r'<div class="field has-error">\s*<label for="email".*?</div>', page, re.S
        )
        assert email_field, typed
        assert "Enter an email address, such as name@example.org." in email_field.group(0)
        assert "<b>" not in page
        assert "between 12 and" in page
    # And what is wrong with it, in words.
    missing_dot = client.post("/admin/users", data={**fields, "email": "ana@example"})
    assert "It should have a period." in missing_dot.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(User.email)).all() == ["admin@example.org"]


def test_language_codes_are_taken_in_any_case_and_spelled_as_the_catalogues_are(app, client):
    create_user(app, Role.ADMIN)
    sign_in(client, "admin@example.org")
    fields = {"role": "interpreter", "password": "twelve chars!"}
    created = client.post(
        "/admin/users", data={**fields, "email": "ana@example.org", "languages": "ES, Pl,es"}
    )
    assert created.status_code == 302
    with app.app_context():
        ana = db.session.scalars(select(User).where(User.email == "ana@example.org")).one()
        ana_id = ana.id
        assert ana.languages == "es,pl"
    client.post(f"/admin/users/{ana_id}", data={"role": "interpreter", "languages": "UK"})
    with app.app_context():
        assert db.session.get(User, ana_id).language_list == ["uk"]

    # A region is spelled as Babel spells it, whichever way it was typed.
    shipped = ("en", "es", "pt_BR", "zh_Hant")
    assert parse_languages("pt-br, PT_BR, zh-hant", shipped) == ["pt_BR", "zh_Hant"]
    with pytest.raises(ValueError, match="unknown language pt-pt"):
        parse_languages("es, pt-pt", shipped)


def test_the_users_page_takes_only_passwords_the_sign_in_form_takes(app, client):
    create_user(app, Role.ADMIN)
    sign_in(client, "admin@example.org")
    fields = {"role": "staff", "languages": ""}

    too_long = "x" * (MAX_PASSWORD_LENGTH + 1)
    refused = client.post(
        "/admin/users", data={**fields, "email": "a@example.org", "password": too_long}
    )
    assert refused.status_code == 400
    assert f"between 12 and {MAX_PASSWORD_LENGTH} characters" in refused.get_data(as_text=True)
    longest = "x" * MAX_PASSWORD_LENGTH
    created = client.post(
        "/admin/users", data={**fields, "email": "b@example.org", "password": longest}
    )
    assert created.status_code == 302
    with app.app_context():
        assert db.session.scalars(select(User.email).order_by(User.email)).all() == [
            "admin@example.org",
            "b@example.org",
        ]
    assert sign_in(app.test_client(), "b@example.org", longest).status_code == 302

    # The CLI too.
    result = app.test_cli_runner().invoke(
        args=["users", "create", "c@example.org", "--role", "staff", "--password", too_long]
    )
    assert result.exit_code != 0
    assert f"at most {MAX_PASSWORD_LENGTH} characters" in result.output


def test_audit_log_is_paginated_and_admin_only(app, client):
    create_user(app, Role.ADMIN)
    create_user(app, Role.STAFF)
    with app.app_context():
        for number in range(60):
            db.session.add(AuditEntry(action=f"test.{number:02d}", detail={}))
        db.session.commit()

    sign_in(client, "staff@example.org")
    assert client.get("/admin/audit").status_code == 403
    client.post("/logout")

    sign_in(client, "admin@example.org")
    first = client.get("/admin/audit").get_data(as_text=True)
    second = client.get("/admin/audit?page=2").get_data(as_text=True)
    # 61 entries (60 + the admin's sign-in), 50 a page, newest first.
    assert "<code>auth.login</code>" in first and "<code>test.59</code>" in first
    assert "<code>test.10</code>" not in first
    assert "<code>test.10</code>" in second and "<code>test.00</code>" in second
    assert "<code>test.59</code>" not in second
    assert "Page 1 of 2" in first
    only = client.get("/admin/audit?action=test.42").get_data(as_text=True)
    assert "<code>test.42</code>" in only and "<code>test.41</code>" not in only


def test_signing_in_over_plain_http_in_production_says_the_panel_needs_https(make_app):
    """Production's session cookie is Secure: a browser at an http:// address never sends
    it back, so signing in "expired" for ever. The page says what is wrong, HTTPS."""
    app = make_app(WTF_CSRF_ENABLED=True, SESSION_COOKIE_SECURE=True)
    create_user(app, Role.STAFF)
    # What the browser sends over plain HTTP: the form's token, never the Secure cookie.
    token = csrf_token_from(
        app.test_client().get("/login", base_url="http://panel.example.org").get_data(True)
    )
    plain = app.test_client()

    response = plain.post(
        "/login",
        data={"email": "staff@example.org", "password": PASSWORD, "csrf_token": token},
        base_url="http://panel.example.org",
    )

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "opened over plain HTTP" in page and "HTTPS only" in page
    assert 'href="https://panel.example.org/login"' in page
    assert "reload the page" not in page


@pytest.mark.parametrize(
    ("base_url", "headers"),
    [
        ("https://panel.example.org", {}),  # HTTPS: the session has really gone
        ("http://localhost", {}),  # browsers keep Secure cookies for this machine
        ("http://panel.example.org", {"X-Forwarded-Proto": "https"}),  # TLS at a proxy
    ],
)
def test_a_missing_session_elsewhere_is_not_blamed_on_http(make_app, base_url, headers):
    app = make_app(WTF_CSRF_ENABLED=True, SESSION_COOKIE_SECURE=True)
    token = csrf_token_from(app.test_client().get("/login").get_data(as_text=True))
    response = app.test_client().post(
        "/login",
        data={"email": "staff@example.org", "password": PASSWORD, "csrf_token": token},
        base_url=base_url,
        headers=headers,
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "plain HTTP" not in page
    assert "reload the page" in page


def test_a_new_account_has_no_role_until_an_admin_chooses_one(app, client):
    create_user(app, Role.ADMIN)
    sign_in(client, "admin@example.org")
    page = client.get("/admin/users").get_data(as_text=True)
    new_account = page[page.index("<h2>New account</h2>") :]
    role = re.search(r'<select[^>]*name="role".*?</select>', new_account, re.S)
    assert role, new_account
    # Nothing chosen: the browser shows the first option, the prompt, and not a role.
    assert re.search(r'<select[^>]*><option value="">Choose a role</option>', role.group(0))
    assert "selected" not in role.group(0)
    assert "required" in role.group(0)

    fields = {"email": "ola@example.org", "languages": "", "password": "twelve chars!"}
    refused = client.post("/admin/users", data=fields)
    assert refused.status_code == 400
    assert "Choose what this account may do." in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(User.email)).all() == ["admin@example.org"]


def test_an_interpreter_needs_a_language(app, client):
    admin_id = create_user(app, Role.ADMIN)
    sign_in(client, "admin@example.org")
    fields = {"email": "ola@example.org", "role": "interpreter", "password": "twelve chars!"}

    refused = client.post("/admin/users", data={**fields, "languages": " , "})
    assert refused.status_code == 400
    assert "needs at least one language" in refused.get_data(as_text=True)

    assert client.post("/admin/users", data={**fields, "languages": "pl"}).status_code == 302
    with app.app_context():
        ola_id = db.session.scalars(select(User.id).where(User.id != admin_id)).one()
    client.post(f"/admin/users/{ola_id}", data={"role": "interpreter", "active": "y"})
    followed = client.get("/admin/users").get_data(as_text=True)
    assert "Could not save ola@example.org: An interpreter needs at least one language" in followed
    with app.app_context():
        assert db.session.get(User, ola_id).languages == "pl"
    # Made staff, the same account needs none.
    client.post(f"/admin/users/{ola_id}", data={"role": "staff", "active": "y"})
    with app.app_context():
        assert (db.session.get(User, ola_id).role, db.session.get(User, ola_id).languages) == (
            Role.STAFF,
            "",
        )
