"""Error pages that say what happened and what to do next, rather than a bare status line."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import current_app, make_response, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from .extensions import db

log = logging.getLogger(__name__)

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


# Why Flask-WTF refused the form, in words for the person who sent it; by its description.
EXPIRED_BECAUSE = {
    "The CSRF token has expired.": "The page was open longer than a form is allowed to wait.",
    "The CSRF session token is missing.": (
        "You are no longer signed in on this browser, or it did not keep the panel's cookie."
    ),
    "The CSRF tokens do not match.": (
        "The form was opened before you last signed in, or in another browser session."
    ),
}
EXPIRED_OTHERWISE = "The form did not carry this session's security code."
# Not one of Flask-WTF's descriptions: what "session token is missing" means when the
# browser could never have kept the session (``over_plain_http``).
EXPIRED_BECAUSE["plain HTTP"] = (
    "The panel was opened over plain HTTP, and its sign-in cookie is kept and sent over "
    "HTTPS only. Open the panel at its https:// address; reloading this page will not help."
)
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


def over_plain_http(error: CSRFError) -> bool:
    """Whether the form failed because the panel is served over plain HTTP in production.

    Production's session cookie is Secure: a browser at an http:// address (other than
    this machine's, which browsers trust) never sends it back, so every form, signing in
    included, "expires". Only when the session token is missing, no session cookie came,
    and nothing says the browser was on HTTPS after all (a proxy's X-Forwarded-Proto or an
    https:// referrer, as when PROXY_FIX_HOPS is not set behind a TLS proxy).
    """
    return bool(
        error.description == "The CSRF session token is missing."
        and current_app.config.get("SESSION_COOKIE_SECURE")
        and not request.is_secure
        and request.host.rsplit(":", 1)[0].strip("[]") not in LOOPBACK_HOSTS
        and current_app.config["SESSION_COOKIE_NAME"] not in request.cookies
        and request.headers.get("X-Forwarded-Proto", "").lower() != "https"
        and not (request.referrer or "").startswith("https://")
    )


def form_expired(error: CSRFError) -> ResponseReturnValue:
    """A form sent with a token that has expired, or from a session that has ended.

    Going back and sending the same page again would send the same stale token, so the
    page says to reload the form, and shows what was typed in case the reload clears it.
    """
    needs_https = over_plain_http(error)
    if needs_https:
        log.warning(
            "form refused: the panel was reached over plain HTTP at %s; in production it "
            "must be served over HTTPS (its session cookie is Secure)",
            request.host,
        )
    why = "plain HTTP" if needs_https else error.description or ""
    page = render_template(
        "errors/form_expired.html",
        typed=typed_text(),
        form_page=form_page(),
        needs_https=needs_https,
        https_page="https://" + request.host + request.path,
        reason=EXPIRED_BECAUSE.get(why, EXPIRED_OTHERWISE),
    )
    response = make_response(page, 400)
    # It may show what was typed: not for the browser's cache.
    response.headers["Cache-Control"] = "no-store"
    return response


@dataclass(frozen=True)
class Explanation:
    title: str
    text: str
    # Instead of ``text`` when the view said why (``description_given``): the general
    # reason would contradict the particular one ("You do not work in this language."
    # followed by "Your account's role does not include this page").
    after_reason: str | None = None


# What a person is told, for the errors the panel and the public page can run into.
# Any other status gets Werkzeug's name and description.
EXPLANATIONS = {
    400: Explanation(
        "This request could not be used",
        "The page sent something the server cannot use, so nothing was changed. Go back, "
        "reload the page and try again.",
    ),
    403: Explanation(
        "You cannot open this page",
        "Your account's role does not include this page. If your work needs it, ask an admin.",
        "If your work needs it, ask an admin.",
    ),
    404: Explanation(
        "Page not found",
        "There is nothing at this address: it may have been mistyped, or what it showed no "
        "longer exists.",
    ),
    405: Explanation(
        "This address cannot be opened like that",
        "It is only for sending a form from its page, so nothing was changed. Go back and use "
        "the form.",
    ),
    500: Explanation(
        "Something went wrong on our side",
        "Nothing you did caused it, and it has been logged. Nothing may have been saved: "
        "check, and try again in a minute. If it keeps happening, tell an admin.",
    ),
}


def wants_a_page() -> bool:
    """Whether an error should answer a panel-styled page, rather than Werkzeug's own.

    Not at Twilio's webhooks: they answer their errors in plain text for Twilio's debugger
    (``webhooks.routes.plain_error``), and an address matching none of their routes never
    reaches that handler, so it keeps Werkzeug's short answer too. Nor for a script that
    asked for JSON or plain text (the panel's progress poll asks for JSON).
    """
    if request.path.startswith("/webhooks/"):
        return False
    best = request.accept_mimetypes.best_match(["text/html", "application/json", "text/plain"])
    return best in (None, "text/html")


def description_given(error: HTTPException) -> str | None:
    """What the view said about this error, if it said more than the status's own text
    ("You do not work in this language.")."""
    if error.description and error.description != type(error).description:
        return error.description
    return None


def error_page(error: HTTPException) -> ResponseReturnValue:
    """An error as a page of the panel: what happened, and a way on (the user's home in
    the panel, the page they came from), with the panel's navigation when signed in."""
    if error.response is not None or not wants_a_page():
        # A response made for this error already (the sign-in page's "too many
        # attempts"), or Werkzeug's own for a machine.
        return error
    if isinstance(error, InternalServerError):
        return server_error_page(error)
    return render_error(error), error.code or 500


def server_error_page(error: InternalServerError) -> ResponseReturnValue:
    """The failure is logged already (Flask logs it before asking for this page). The
    page asks the database who is signed in: first end the transaction the failure may
    have broken, and should the page itself fail, answer Werkzeug's plain one."""
    try:
        db.session.rollback()
        return render_error(error), 500
    except Exception:
        log.exception("the error page failed too; answered the plain one")
        return error


def render_error(error: HTTPException) -> str:
    code = error.code or 500
    explanation = EXPLANATIONS.get(code) or Explanation(error.name, error.description or "")
    referrer = request.referrer or ""
    came_from = referrer if referrer.startswith(request.host_url) else None
    detail = description_given(error) if code in EXPLANATIONS else None
    return render_template(
        "errors/http_error.html",
        code=code,
        explanation=explanation,
        detail=detail,
        text=(explanation.after_reason or explanation.text) if detail else explanation.text,
        came_from=came_from if came_from != request.url else None,
    )
