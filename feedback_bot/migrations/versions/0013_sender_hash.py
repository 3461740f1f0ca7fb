"""sender hash: a stored message names its sender (keyed hash) until it is processed

The intake job processes the sender's earlier messages still waiting before its own, so
that a member's messages take effect in the order they were sent.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 07:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("inbound_message") as batch:
        batch.add_column(sa.Column("sender_hash", sa.String(length=64), nullable=True))
        batch.create_index(
            batch.f("ix_inbound_message_sender_hash"), ["sender_hash"], unique=False
        )


def downgrade():
    with op.batch_alter_table("inbound_message") as batch:
        batch.drop_index(batch.f("ix_inbound_message_sender_hash"))
        batch.drop_column("sender_hash")
