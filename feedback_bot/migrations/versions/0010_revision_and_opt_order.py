"""decision revision on outbox rows; when a member's last STOP or START was sent

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 06:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

WHAT_NEXT_KINDS = ("what_next", "what_next_update")


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
        sa.select(outbox.c.id, outbox.c.idempotency_key, outbox.c.fallback_of_id).where(
            outbox.c.kind.in_(WHAT_NEXT_KINDS)
        )
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
        bind.execute(
            outbox.update().where(outbox.c.id == row_id).values(decision_revision=value)
        )

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


def downgrade():
    with op.batch_alter_table("contact") as batch:
        batch.drop_column("opt_changed_at")
    with op.batch_alter_table("outbound_message") as batch:
        batch.drop_column("decision_revision")
