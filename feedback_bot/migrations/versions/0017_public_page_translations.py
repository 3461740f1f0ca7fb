"""public page translations: a decision's title and "why" in each language

Interpreters translated only the summary, so the public page ("You said, we did") showed
every decision's title and reason in the staff language, whatever language it was read
in. Each translation now keeps the title and the reason it translates, with the staff text
of each it was made from (shown only while that is still the decision's).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08 00:10:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("decision_translation") as batch:
        batch.add_column(sa.Column("title", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("title_source", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("reason_source", sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table("decision_translation") as batch:
        batch.drop_column("reason_source")
        batch.drop_column("reason")
        batch.drop_column("title_source")
        batch.drop_column("title")
