"""What a password must be: one rule for the sign-in form, the panel's users and password
pages, and the CLI.

The limits must agree: a password the users page or ``flask users`` accepts but the sign-in
form refuses makes an account nobody can ever sign in to.
"""

from __future__ import annotations

MIN_PASSWORD_LENGTH = 12
# Hashing is deliberately slow (scrypt); the cap keeps a megabyte "password" from making
# every sign-in attempt expensive.
MAX_PASSWORD_LENGTH = 1024


def password_problem(password: str) -> str | None:
    """Why ``password`` cannot be used, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"the password must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"the password must be at most {MAX_PASSWORD_LENGTH} characters"
    return None
