"""forgotten numbers: a FORGET is remembered, by keyed hash, while earlier messages wait

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 06:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "forgotten_number",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone_hash", sa.String(length=64), nullable=False),
        sa.Column("forgot_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forgotten_number")),
    )
    op.create_index(
        op.f("ix_forgotten_number_phone_hash"), "forgotten_number", ["phone_hash"], unique=False
    )


def downgrade():
    op.drop_index(op.f("ix_forgotten_number_phone_hash"), table_name="forgotten_number")
    op.drop_table("forgotten_number")
