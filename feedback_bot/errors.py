"""Error pages that say what happened and what to do next, rather than a bare status line."""

from __future__ import annotations

from flask import make_response, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf.csrf import CSRFError

# Never shown back: the token is useless to a person, a password is never put on a page.
NOT_SHOWN = ("csrf_token", "password")


def typed_text() -> list[tuple[str, str]]:
    """What the refused form held, for its author to copy into a fresh one.

    Only for a signed-in user: the session cookie is sent only with requests from this
    site (SameSite=Lax), so another site cannot make this page show text of its choosing.
    """
    if not current_user.is_authenticated:
        return []
    return [
        (name, value)
        for name, value in request.form.items(multi=True)
        if value.strip() and not any(word in name for word in NOT_SHOWN)
    ]


def form_page() -> str:
    """The page the form was on, to open it again with a fresh token; the inbox otherwise.
    Only a page of this site: the Referrer-Policy sends the whole address only there."""
    referrer = request.referrer or ""
    return referrer if referrer.startswith(request.host_url) else url_for("admin.inbox")


def form_expired(error: CSRFError) -> ResponseReturnValue:
    """A form sent with a token that has expired, or from a session that has ended.

    Going back and sending the same page again would send the same stale token, so the
    page says to reload the form, and shows what was typed in case the reload clears it.
    """
    page = render_template(
        "errors/form_expired.html", typed=typed_text(), form_page=form_page(), reason=error
    )
    response = make_response(page, 400)
    # It may show what was typed: not for the browser's cache.
    response.headers["Cache-Control"] = "no-store"
    return response
