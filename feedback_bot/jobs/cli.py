"""``flask outbox sweep|status``: the sweeper by hand, and a look at what waits."""

from __future__ import annotations

from datetime import UTC

import click
from flask import Flask
from sqlalchemy import func, select

from .. import clock
from ..extensions import db
from ..models import Disposition, InboundMessage, OutboundMessage


@click.group("outbox", help="Inspect and sweep the outbox.")
def outbox_cli() -> None:
    pass


@outbox_cli.command("sweep")
def sweep_command() -> None:
    """Release stuck rows, re-enqueue lost ones and ingest the spool, once."""
    from .sweep import sweep

    click.echo(sweep())


@outbox_cli.command("status")
def status_command() -> None:
    """Count outbox rows by status, and stored messages not processed yet."""
    rows = db.session.execute(
        select(OutboundMessage.status, func.count()).group_by(OutboundMessage.status)
    ).all()
    # A message waits here, unanswered, until a worker's intake job processes it: with the
    # workers down the outbox stays empty and only this says that anything is waiting.
    waiting, oldest = db.session.execute(
        select(func.count(), func.min(InboundMessage.received_at)).where(
            InboundMessage.disposition == Disposition.RECEIVED
        )
    ).one()
    if not rows and not waiting:
        click.echo("nothing waiting")
        return
    for status, count in sorted(rows):
        click.echo(f"{status:12} {count}")
    if waiting:
        if oldest.tzinfo is None:  # SQLite hands it back naive; it is UTC
            oldest = oldest.replace(tzinfo=UTC)
        age = max(int((clock.now() - oldest).total_seconds()), 0)
        click.echo(f"inbound messages not processed yet: {waiting} (oldest {age}s ago)")


def register_cli(app: Flask) -> None:
    app.cli.add_command(outbox_cli)
