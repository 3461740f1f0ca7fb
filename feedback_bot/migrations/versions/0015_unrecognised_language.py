"""unrecognised language: a sentence in no language we could place is marked so

A member's message with no detected language was taken to be in its item's, the language
the member is answered in: French from a member answered in English read as English
(staff's "Needs translation" never flagged it), and as Polish once the member's items
took Polish. Intake now stores "und" (BCP 47's undetermined language) as the language of
a sentence lingua could not place; this marks the messages stored before it the same way.
The rule is intake's (``messaging.language.is_sentence``), copied here as a migration
must not change when the code does: 40 letters or more, and no keyword.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 10:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

UNRECOGNISED = "und"
SENTENCE_LETTERS = 40
BATCH = 1000

messages = sa.table(
    "inbound_message",
    sa.column("id", sa.Integer),
    sa.column("body", sa.Text),
    sa.column("disposition", sa.String),
    sa.column("detected_locale", sa.String),
    sa.column("erased_at", sa.DateTime),
)


def upgrade():
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(
            sa.select(messages.c.id, messages.c.body)
            .where(
                messages.c.id > last,
                messages.c.detected_locale.is_(None),
                messages.c.erased_at.is_(None),
                # A keyword's language is its catalogue's; one not yet processed gets
                # intake's verdict.
                messages.c.disposition.not_in(("received", "keyword")),
                # Fewer characters than that cannot hold that many letters.
                sa.func.length(messages.c.body) >= SENTENCE_LETTERS,
            )
            .order_by(messages.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        last = rows[-1].id
        sentences = [
            row.id for row in rows if sum(ch.isalpha() for ch in row.body) >= SENTENCE_LETTERS
        ]
        if sentences:
            bind.execute(
                sa.update(messages)
                .where(messages.c.id.in_(sentences))
                .values(detected_locale=UNRECOGNISED)
            )


def downgrade():
    bind = op.get_bind()
    bind.execute(
        sa.update(messages)
        .where(messages.c.detected_locale == UNRECOGNISED)
        .values(detected_locale=None)
    )
