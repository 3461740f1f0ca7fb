"""twilio erasures: FORGET deletes Twilio's copies of the member's messages too

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 06:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "twilio_erasure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("owed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_twilio_erasure")),
        sa.UniqueConstraint("sid", name=op.f("uq_twilio_erasure_sid")),
    )
    op.create_index(
        op.f("ix_twilio_erasure_next_attempt_at"),
        "twilio_erasure",
        ["next_attempt_at"],
        unique=False,
    )


def downgrade():
    op.drop_index(op.f("ix_twilio_erasure_next_attempt_at"), table_name="twilio_erasure")
    op.drop_table("twilio_erasure")
