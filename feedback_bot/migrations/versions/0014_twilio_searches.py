"""twilio searches: FORGET also finds, by number, what Twilio sent the member without our
learning its SID (the inline acknowledgement of a database outage, Advanced Opt-Out's
replies), and deletes it

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 23:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "twilio_search",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address_ciphertext", sa.Text(), nullable=True),
        sa.Column("owed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("searched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("found", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_twilio_search")),
    )
    op.create_index(
        op.f("ix_twilio_search_next_attempt_at"),
        "twilio_search",
        ["next_attempt_at"],
        unique=False,
    )


def downgrade():
    op.drop_index(op.f("ix_twilio_search_next_attempt_at"), table_name="twilio_search")
    op.drop_table("twilio_search")
