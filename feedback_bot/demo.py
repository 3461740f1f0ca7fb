"""``flask demo seed``: a few weeks of believable activity, for development and screenshots.

Everything goes through the real paths (intake, the outbox, the send job on the console
transport, the loop), with the clock moved along so that the dashboard has real durations.
It refuses to run in production.
"""

from __future__ import annotations

import secrets
import string
from datetime import UTC, datetime, timedelta

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import func, or_, select

from . import clock, loop
from .extensions import db
from .intake import accept
from .jobs.send import send_outbound
from .models import Decision, DecisionTranslation, FeedbackItem, Outcome, Role, Topic, User
from .outbox import due_rows
from .testing.fake_twilio import random_sid
from .webhooks.payload import InboundPayload

MEMBERS = [
    ("+447911123456", "sms", "The lift in Block C has been broken for three weeks."),
    ("+447911123457", "sms", "Block C lift again. My mum can't get down the stairs."),
    ("+48512345678", "sms", "Winda w bloku C nie działa od trzech tygodni."),
    ("+201001234567", "whatsapp", "المصعد في المبنى C معطل منذ ثلاثة أسابيع."),
    ("+447911123458", "sms", "The night bus stops at 11pm, so I cannot get home from work."),
    ("+34612345678", "sms", "El autobús nocturno termina demasiado pronto para los turnos."),
    ("+380501234567", "whatsapp", "Нічний автобус закінчується занадто рано."),
    ("+923001234567", "whatsapp", "پارک میں روشنی نہیں ہے، شام کو ڈر لگتا ہے۔"),
    ("+447911123459", "sms", "Thank you for fixing the playground swings!"),
    ("+8801712345678", "whatsapp", "আমাদের রাস্তায় আবর্জনা তোলা হয়নি।"),
    ("+40721234567", "sms", "Gunoiul nu a fost ridicat de două săptămâni."),
    ("+447911123460", "sms", "Can the library open on Sundays?"),
]

DEMO_ACCOUNTS = (
    ("admin@example.org", Role.ADMIN, ""),
    ("staff@example.org", Role.STAFF, ""),
    ("interpreter@example.org", Role.INTERPRETER, "ar,cy,pl,ur"),
)
# Letters and digits only: typed back as ``--demo-password``, a generated password that
# began with "-" (as ``secrets.token_urlsafe``'s can) would be taken for an option.
PASSWORD_ALPHABET = string.ascii_letters + string.digits
PASSWORD_LENGTH = 14  # about 83 bits


def generated_password() -> str:
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))


def at(days_ago: float, hour: int = 10) -> datetime:
    today = datetime.now(UTC).replace(hour=hour, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago)


def send_everything_due() -> None:
    """What the worker would do, inline: the console transport answers at once."""
    for _ in range(10):
        rows = due_rows(1000)
        if not rows:
            return
        for row_id, *_ in rows:
            send_outbound(row_id)


def member_writes(number: str, channel: str, text: str, when: datetime) -> None:
    clock.freeze(when)
    sender = number
    to = current_app.config["TWILIO_WHATSAPP_FROM" if channel == "whatsapp" else "TWILIO_SMS_FROM"]
    accept(
        InboundPayload(
            message_sid=random_sid("SM"),
            channel=channel,
            sender=sender,
            sender_valid=True,
            to=to,
            body=text,
        )
    )
    clock.freeze(when + timedelta(seconds=3 + len(text) % 7))
    send_everything_due()


def items_matching(*phrases: str) -> list[FeedbackItem]:
    from .models import InboundMessage

    return list(
        db.session.scalars(
            select(FeedbackItem)
            .join(InboundMessage, InboundMessage.item_id == FeedbackItem.id)
            .where(or_(*(InboundMessage.body.contains(phrase) for phrase in phrases)))
            .distinct()
        )
    )


def publish(decision: Decision, items: list[FeedbackItem], when: datetime) -> None:
    clock.freeze(when)
    db.session.add(decision)
    db.session.commit()
    loop.link(decision, items)
    loop.publish(decision)
    loop.notify_decision(decision.id)
    clock.freeze(when + timedelta(seconds=20))
    send_everything_due()


def how_to_sign_in() -> str:
    """For a database seeded before (or filled by hand): the password printed then is the
    one thing a newcomer has lost, and a new ``--password`` is not applied to it."""
    emails = [email for email, _, _ in DEMO_ACCOUNTS]
    found = set(db.session.scalars(select(User.email).where(User.email.in_(emails))))
    if found:
        first = next(email for email in emails if email in found)
        return (
            "The demo accounts keep the password printed when they were made; to choose "
            f"another: python3 dev.py flask users set-password {first}"
        )
    return (
        "It has no demo accounts: create one with python3 dev.py flask users create "
        "you@example.org --role admin, or delete the database to start over."
    )


@click.group("demo", help="Demo data for development.")
def demo_cli() -> None:
    pass


@demo_cli.command("seed")
@click.option("--password", help="Password for the demo accounts (default: generated).")
@with_appcontext
def seed(password: str | None) -> None:
    """Create demo accounts, feedback, decisions and ratings (development only)."""
    if current_app.config["FEEDBACK_ENV"] == "production":
        raise click.ClickException("demo data is for development only")
    if db.session.scalar(select(func.count()).select_from(FeedbackItem)):
        click.echo(f"The database already has feedback; nothing seeded. {how_to_sign_in()}")
        return
    password = password or generated_password()
    for email, role, languages in DEMO_ACCOUNTS:
        user = User(email=email, role=role, languages=languages)
        user.set_password(password)
        db.session.add(user)
    db.session.commit()
    try:
        for index, (number, channel, text) in enumerate(MEMBERS):
            member_writes(number, channel, text, at(24 - 2 * index, hour=9 + index % 8))

        housing = Topic(name="Housing repairs")
        db.session.add(housing)
        lift_items = items_matching("Block C", "bloku C", "المبنى C")
        for item in lift_items:
            item.topics.append(housing)
        lift = Decision(
            title="Repair the lift in Block C",
            description="Contractor booked; parts ordered.",
            outcome=Outcome.ADOPTED,
            reason="Residents with mobility needs were stuck at home.",
            responsible="Housing team",
            summary="We will repair the Block C lift by Friday and check it every week.",
            translations=[
                DecisionTranslation(
                    locale="pl",
                    summary="Naprawimy windę w bloku C do piątku i co tydzień ją sprawdzimy.",
                    state="reviewed",
                ),
                DecisionTranslation(
                    locale="ar",
                    summary="سنصلح مصعد المبنى C بحلول يوم الجمعة وسنفحصه كل أسبوع.",
                    state="reviewed",
                ),
            ],
        )
        publish(lift, lift_items, at(6, hour=11))
        bus = Decision(
            title="Later night buses",
            outcome=Outcome.REFERRED,
            reason="Bus times are set by the regional transport authority.",
            summary="We have asked the transport authority to run buses until 1am.",
        )
        publish(bus, items_matching("bus", "autobús", "автобус"), at(3, hour=14))
        for number, reply, days in (("+447911123456", "1", 5), ("+48512345678", "2", 5)):
            member_writes(number, "sms", reply, at(days, hour=15))
        member_writes("+447911123457", "sms", "3", at(4, hour=16))
    finally:
        clock.freeze(None)
    click.echo(
        "Seeded demo data. Sign in as admin@example.org, staff@example.org or "
        f"interpreter@example.org with the password: {password}"
    )


def init_app(app: Flask) -> None:
    app.cli.add_command(demo_cli)
