"""lower-case emails: accounts store their address as sign-in looks it up

Sign-in compared SQL's lower() of the stored address with Python's lower() of the typed
one; SQL's leaves non-ASCII letters alone, so an account such as "Émile@example.org"
could not sign in. Addresses are now stored trimmed and lower-cased (in Python), and
found by equality.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 06:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

accounts = sa.table("user_account", sa.column("id", sa.Integer), sa.column("email", sa.String))


def upgrade():
    bind = op.get_bind()
    rows = bind.execute(sa.select(accounts.c.id, accounts.c.email)).all()
    owners: dict[str, int] = {}
    for account_id, email in rows:
        address = email.strip().lower()
        if address in owners:
            # Never merge accounts silently: each has its own role and password.
            raise RuntimeError(
                f"accounts {owners[address]} and {account_id} differ only in the case of "
                f"their email ({address}); rename or remove one, then upgrade again"
            )
        owners[address] = account_id
    for account_id, email in rows:
        address = email.strip().lower()
        if address != email:
            bind.execute(
                sa.update(accounts).where(accounts.c.id == account_id).values(email=address)
            )


def downgrade():
    pass  # lower-cased addresses sign in as before
