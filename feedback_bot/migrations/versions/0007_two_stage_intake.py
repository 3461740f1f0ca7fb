"""two-stage intake: the webhook stores, a job processes

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 04:10:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

RECEIVED = sa.text("disposition = 'received'")


def upgrade():
    with op.batch_alter_table("inbound_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pending_payload", sa.Text(), nullable=True))
    op.create_index(
        "ix_inbound_message_received",
        "inbound_message",
        ["id"],
        unique=False,
        postgresql_where=RECEIVED,
        sqlite_where=RECEIVED,
    )


def downgrade():
    op.drop_index("ix_inbound_message_received", table_name="inbound_message")
    with op.batch_alter_table("inbound_message", schema=None) as batch_op:
        batch_op.drop_column("pending_payload")
