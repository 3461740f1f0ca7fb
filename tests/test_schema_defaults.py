"""The models declare the same column defaults as the migrations create.

``tests/test_schema.py`` compares tables, columns, types and constraints; this compares the
server defaults too, so that a database made from the models (``db.create_all``) and one
made by the migrations fill an omitted column alike.
"""

from __future__ import annotations

import re
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import JSON

from feedback_bot.extensions import db

CAST = re.compile(r"::[a-z ]+$")


def same_json_default(
    context: Any,
    inspected_column: Any,
    metadata_column: Any,
    inspected_default: str | None,
    metadata_default: Any,
    rendered_metadata_default: str | None,
) -> bool | None:
    """PostgreSQL has no ``=`` for json, which Alembic's own comparison asks it to run:
    compare a JSON column's default as text (the database says ``'{}'::json`` or ``'{}'``,
    the model ``{}``). None leaves every other column to Alembic."""
    if not isinstance(metadata_column.type, JSON):
        return None
    return as_text(inspected_default) != as_text(rendered_metadata_default)


def as_text(default: str | None) -> str | None:
    return CAST.sub("", default).strip("'") if default is not None else None


def test_migrations_and_models_have_the_same_server_defaults(app):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "compare_server_default": same_json_default},
        )
        differences = compare_metadata(context, db.metadata)
    assert differences == []
