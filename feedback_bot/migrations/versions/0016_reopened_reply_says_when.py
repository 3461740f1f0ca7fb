"""reopened reply says when: interpreters' versions of the old wording move to the new one

The answer to a "3" ("Did we listen?" - no) said a person would look at the feedback
again, not when. It now says when the member will hear from us, within
INTERIM_UPDATE_DAYS (as the interim update it leads to does), so its msgid changed and it
has a form per number of days. An interpreter's version of the old wording would be left
under a msgid nothing reads, and members of a language the catalogues do not ship would
get English. It becomes their version of the whole new message, which ``overrides.translate``
uses for every form until they save the forms, and goes back to "needs review": it does
not say when yet. The msgids are copied here, as a migration must not change when the code
does.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 21:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

OLD = (
    "Thank you for telling us. A person will look at your feedback %(ref)s again. "
    "Reply STOP to stop."
)
NEW = (
    "Thank you for telling us. A person will look at your feedback %(ref)s again "
    "and write to you within %(days)s days. Reply STOP to stop."
)
NEEDS_REVIEW = "needs_review"
REVIEWED = "reviewed"

overrides = sa.table(
    "message_override",
    sa.column("context", sa.String),
    sa.column("msgid", sa.Text),
    sa.column("state", sa.String),
)


def upgrade():
    op.get_bind().execute(
        sa.update(overrides)
        .where(overrides.c.msgid == OLD, overrides.c.context == "")
        .values(
            msgid=NEW,
            # A draft stays a draft; a version members got is theirs until it is redone.
            state=sa.case((overrides.c.state == REVIEWED, NEEDS_REVIEW), else_=overrides.c.state),
        )
    )


def downgrade():
    # The forms saved since have no place in the old message; the whole-message version
    # goes back to it.
    op.get_bind().execute(
        sa.update(overrides)
        .where(overrides.c.msgid == NEW, overrides.c.context == "")
        .values(msgid=OLD)
    )
