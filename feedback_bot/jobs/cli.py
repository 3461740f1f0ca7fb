"""``flask outbox sweep|status``: the sweeper by hand, and a look at the outbox."""

from __future__ import annotations

import click
from flask import Flask
from sqlalchemy import func, select

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
    """Count outbox rows by status."""
    rows = db.session.execute(
        select(OutboundMessage.status, func.count()).group_by(OutboundMessage.status)
    ).all()
    for status, count in sorted(rows):
        click.echo(f"{status:12} {count}")


def register_cli(app: Flask) -> None:
    app.cli.add_command(outbox_cli)
