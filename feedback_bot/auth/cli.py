"""``flask users create EMAIL --role ROLE`` and ``flask users set-password EMAIL``."""

from __future__ import annotations

import click

from .. import audit
from ..extensions import db
from ..languages import available_locales
from ..models import Role, User
from ..models.staff import email_problem
from . import bp
from .passwords import password_problem
from .routes import find_user

# An interpreter sees only work in their languages: with none, they would see nothing.
NO_LANGUAGES = "An interpreter needs at least one language to translate, such as ar,ur."


def locale_key(code: str) -> str:
    """How a typed code and a catalogue's name are compared: "ES" and "es", "pt-br" and
    "pt_BR" are the same language, whatever the case or separator."""
    return code.strip().replace("-", "_").casefold()


def parse_languages(value: str, shipped: tuple[str, ...]) -> list[str]:
    """``"ar, UR"`` as ``["ar", "ur"]``, each code spelled as its catalogue is ("pt-br" as
    Babel's "pt_BR"), so that it matches the members' locales; ValueError naming any
    locale we do not ship."""
    spelling = {locale_key(code): code for code in shipped}
    typed = [code.strip() for code in value.split(",") if code.strip()]
    codes = [spelling.get(locale_key(code), code) for code in typed]
    unknown = [code for code in codes if code not in shipped]
    if unknown:
        raise ValueError(f"unknown language {', '.join(unknown)}; use {', '.join(shipped)}")
    return list(dict.fromkeys(codes))


@bp.cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(Role.ALL), required=True)
@click.option("--password", help="Prompted for (hidden, twice) when not given.")
@click.option("--languages", default="", help="Interpreters: locales they work in, e.g. ar,ur.")
def create_user(email: str, role: str, password: str | None, languages: str) -> None:
    """Create a staff account."""
    email = email.strip()
    problem = email_problem(email)
    if problem:
        raise click.BadParameter(f"not an email address: {problem}", param_hint="EMAIL")
    if find_user(email) is not None:
        raise click.ClickException(f"an account for {email} already exists")
    try:
        codes = parse_languages(languages, available_locales())
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--languages") from exc
    if role == Role.INTERPRETER and not codes:
        raise click.BadParameter(NO_LANGUAGES, param_hint="--languages")
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    problem = password_problem(password)
    if problem:
        raise click.BadParameter(problem, param_hint="--password")

    user = User(email=email, role=role, languages=",".join(codes), active=True)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    audit.record("user.create", user, email=email, role=role, via="cli")
    db.session.commit()
    click.echo(f"Created {role} {email}")


@bp.cli.command("set-password")
@click.argument("email")
@click.option("--password", help="Prompted for (hidden, twice) when not given.")
def set_password(email: str, password: str | None) -> None:
    """Set a new password for an account (for example an admin who forgot theirs)."""
    user = find_user(email)
    if user is None:
        raise click.ClickException(f"no account for {email}")
    if password is None:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    problem = password_problem(password)
    if problem:
        raise click.BadParameter(problem, param_hint="--password")
    user.set_password(password)
    audit.record("user.password_set", user, via="cli")
    db.session.commit()
    click.echo(f"Password changed for {user.email}")
