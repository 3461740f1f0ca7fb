"""decision revision on outbox rows; when a member's last STOP or START was sent; finished
outbox rows keep no number; closed items are unlinked

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 06:00:00

"""

import sqlalchemy as sa
from alembic import op

from feedback_bot.logs import redact

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

WHAT_NEXT_KINDS = ("what_next", "what_next_update")
# Statuses after which a row is never sent again (OutboundStatus, as of this revision).
FINAL = ("queued", "sent", "delivered", "read", "undelivered", "failed", "cancelled")


def upgrade():
    with op.batch_alter_table("outbound_message") as batch:
        batch.add_column(sa.Column("decision_revision", sa.Integer(), nullable=True))
    with op.batch_alter_table("contact") as batch:
        batch.add_column(sa.Column("opt_changed_at", sa.DateTime(timezone=True), nullable=True))

    bind = op.get_bind()
    outbox = sa.table(
        "outbound_message",
        sa.column("id", sa.Integer),
        sa.column("kind", sa.String),
        sa.column("idempotency_key", sa.String),
        sa.column("fallback_of_id", sa.Integer),
        sa.column("decision_revision", sa.Integer),
    )
    rows = bind.execute(
        sa.select(outbox.c.id, outbox.c.idempotency_key, outbox.c.fallback_of_id)
        .where(outbox.c.kind.in_(WHAT_NEXT_KINDS))
        # A follow-up is always newer than the row it follows: in id order, the row it
        # follows has its revision by the time the follow-up is reached.
        .order_by(outbox.c.id)
    ).all()
    # Keys of first sends read "what_next:decision:7:r2:item:42"; a follow-up (SMS fallback,
    # outside-window retry) carries the revision of the row it follows.
    revisions = {}
    for row_id, key, _ in rows:
        parts = key.split(":")
        if len(parts) > 3 and parts[1] == "decision" and parts[3].startswith("r"):
            revisions[row_id] = int(parts[3][1:])
    for row_id, _, original in rows:
        if row_id not in revisions and original in revisions:
            revisions[row_id] = revisions[original]
    for row_id, value in revisions.items():
        bind.execute(outbox.update().where(outbox.c.id == row_id).values(decision_revision=value))

    contact = sa.table(
        "contact",
        sa.column("opted_out_at", sa.DateTime(timezone=True)),
        sa.column("opt_changed_at", sa.DateTime(timezone=True)),
    )
    bind.execute(
        contact.update()
        .where(contact.c.opted_out_at.is_not(None))
        .values(opt_changed_at=contact.c.opted_out_at)
    )

    # Closing an item as "no action" now unlinks it from its decision; items closed before
    # would otherwise still be told it.
    bind.execute(sa.text("UPDATE feedback_item SET decision_id = NULL WHERE status = 'closed'"))

    # From now on a row drops its address when it ends and keeps Twilio's error texts with
    # numbers masked (they echo the "To" address); rows from before are brought in line.
    outbox_final = sa.table(
        "outbound_message",
        sa.column("id", sa.Integer),
        sa.column("status", sa.String),
        sa.column("to_ciphertext", sa.Text),
        sa.column("error_message", sa.Text),
    )
    bind.execute(
        outbox_final.update()
        .where(outbox_final.c.status.in_(FINAL), outbox_final.c.to_ciphertext.is_not(None))
        .values(to_ciphertext=None)
    )
    errors = bind.execute(
        sa.select(outbox_final.c.id, outbox_final.c.error_message).where(
            outbox_final.c.error_message.is_not(None)
        )
    ).all()
    for row_id, text in errors:
        masked = redact(text)
        if masked != text:
            bind.execute(
                outbox_final.update()
                .where(outbox_final.c.id == row_id)
                .values(error_message=masked)
            )


def downgrade():
    with op.batch_alter_table("contact") as batch:
        batch.drop_column("opt_changed_at")
    with op.batch_alter_table("outbound_message") as batch:
        batch.drop_column("decision_revision")
