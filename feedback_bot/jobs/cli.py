"""``flask outbox sweep|status``: the sweeper by hand, and a look at what waits."""

from __future__ import annotations

import click
from flask import Flask
from sqlalchemy import func, select

from .. import clock
from ..extensions import db
from ..models import OutboundMessage


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
    from ..health.checks import intake_backlog

    waiting, age = intake_backlog(clock.now())
    if not rows and not waiting:
        click.echo("nothing waiting")
        return
    for status, count in sorted(rows):
        click.echo(f"{status:12} {count}")
    if waiting:
        click.echo(f"inbound messages not processed yet: {waiting} (oldest {int(age)}s ago)")


def register_cli(app: Flask) -> None:
    app.cli.add_command(outbox_cli)
