"""Staff accounts: signing in and out, the login rate limit, changing one's own password,
and ``flask users ...``.

``init_app`` binds Flask-Login and Flask-Limiter to the app; the blueprint carries the
login pages and, as its CLI group, the ``users`` commands.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from ..extensions import db, login_manager
from ..models import User

bp = Blueprint("auth", __name__, cli_group="users")

# Limits live in the app's Redis, so they hold across every web process. The storage URI
# is read from the app's config in ``init_app``.
limiter = Limiter(key_func=get_remote_address)

# Sign-in attempts from one address, whatever account they name.
LOGIN_LIMIT = "10 per minute"
# Failed sign-ins naming one account, from any address: a guesser spread over many
# addresses is held to this. Failures only, so that signing in often costs nothing; and
# high enough that the account's owner, mistyping, does not reach it. The price: someone
# who knows the address can keep its owner out for up to an hour on purpose. For a panel
# of a few staff accounts that beats unlimited guessing; an admin has other accounts.
ACCOUNT_LOGIN_LIMIT = "20 per hour"


def limiter_storage_uri(redis_url: str) -> str:
    """The ``limits`` library spells a Redis socket ``redis+unix://``; redis-py ``unix://``."""
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url[len("unix://") :]
    return redis_url


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to see that page."
    login_manager.login_message_category = "info"

    # Tests sign in over and over; they turn the limit on only to test it.
    app.config.setdefault("RATELIMIT_ENABLED", not app.testing)
    app.config.setdefault("RATELIMIT_STORAGE_URI", limiter_storage_uri(app.config["REDIS_URL"]))
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "feedback-bot")
    # If Redis is down, staff can still sign in (passwords are still checked): an outage
    # should not lock out the people who have to deal with it.
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    limiter.init_app(app)


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """The user a session or remember-me cookie names, if it still names them.

    Flask-Login stores ``User.get_id()``, and all of it must still match: with a digest of
    the password hash in it (Flask-Login's "alternative tokens"), a session or cookie from
    before a password change is signed out. The row id comes first, before any ``:``.
    """
    try:
        user = db.session.get(User, int(session_id.partition(":")[0]))
    except ValueError:
        return None
    if user is None or not hmac.compare_digest(user.get_id().encode(), session_id.encode()):
        return None
    return user


from . import account, cli, routes  # noqa: E402,F401
