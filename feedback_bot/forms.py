"""What every panel form shares: a CSRF token (Flask-WTF) and text without control characters.

A form is how staff put text into the database, and PostgreSQL refuses a NUL character in
a text column (a 500 instead of a saved decision). No person types a control character on
purpose; one arrives pasted from another program or in a forged request. So every text
field drops them before it is validated, once here rather than in every view.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from flask_wtf import FlaskForm
from wtforms import Field, PasswordField
from wtforms.fields.core import UnboundField

# C0 controls and DEL, except tab and the line feed; a textarea's CR LF becomes LF first.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0d\x0e-\x1f\x7f]")


def without_controls(text: str) -> str:
    """``text`` without control characters; tabs and line breaks are kept, as LF (a browser
    sends CR LF, and a decision summary goes to members by SMS, where a CR is one more
    character, or shows as a stray box)."""
    return CONTROL_CHARACTERS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def drop_controls(data: Any) -> Any:
    """A WTForms filter: text loses its control characters, other data passes unchanged."""
    return without_controls(data) if isinstance(data, str) else data


# The joiners that shape letters in some scripts (Urdu, Persian, Indic) and emoji: kept.
JOINERS = {"\u200c", "\u200d"}


def as_name(data: Any) -> Any:
    """A WTForms filter for a name staff give something (a topic): one line, its spaces
    single, and without invisible format characters, so that a zero-width space is no
    name ("Tagged “”"), and "Bins  late" and "Bins late" are one topic."""
    if not isinstance(data, str):
        return data
    text = unicodedata.normalize("NFC", data)
    visible = "".join(ch for ch in text if ch in JOINERS or unicodedata.category(ch) != "Cf")
    words = visible.split()
    return " ".join(words) if any(set(word) - JOINERS for word in words) else ""


class PanelForm(FlaskForm):
    """The base of every panel form."""

    class Meta:
        def bind_field(self, form: Any, unbound_field: UnboundField, options: Any) -> Field:
            # A password is hashed, never stored as text, and must stay exactly as typed:
            # the CLI sets passwords without this filter.
            if issubclass(unbound_field.field_class, PasswordField):
                return unbound_field.bind(form=form, **options)
            # A new list: appending to the declared one would add the filter once per form.
            filters = [*unbound_field.kwargs.get("filters", ()), drop_controls]
            return unbound_field.bind(form=form, filters=filters, **options)
