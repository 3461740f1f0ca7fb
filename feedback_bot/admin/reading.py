"""Members' words as the signed-in user may read them: the one place that decides.

A member may type their phone number into their message ("Please call me on 07911 123456
about the lift") for staff to call them back. Staff and admins read it as written. Whoever
may not see contact details (``may("see_contacts")``: interpreters) reads it with every
number blanked out (``privacy.redact_phone_numbers``), wherever the panel shows it: the
inbox, an item's timeline with its translations and transcripts, the translation
workspace, and what the inbox's search finds (``queries.matching_item_ids``).

Which text is a member's is said where it is stored: a column marked ``MEMBER_WORDS``
(``models.types``), on a model that says whose region the words were written in
(``writer_region``). Templates never have to remember anything: the app's Jinja
environment (``PanelEnvironment``) passes every attribute and item a template reads
through ``shown``, so ``{{ m.body }}``, ``m["body"]``, ``m|attr("body")`` and
``messages|map(attribute="body")``, on today's pages or one added tomorrow, are already
what the reader may see, and a filter (``truncate``) only ever gets that. Python that puts
members' words in a response by itself asks the same question: ``AsRead`` for a form
filled in from a row, ``readable`` for anything else.

The environment knows members' words by the model they are read from: a page that selects
the column alone (``select(InboundMessage.body)``) hands its template a plain string, no
different from any other, so it passes the rows instead, or ``readable`` the text. (The
CSV export does select the text alone, and blanks numbers out for everyone: its file
leaves the panel.)

Nothing is stored redacted: members' words are kept as written, for staff, and only what
each reader is shown differs. With nobody signed in (outside a request) the words are
redacted, the safe answer when there is nobody to ask about.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from flask.templating import Environment
from sqlalchemy import inspect
from sqlalchemy.orm import Mapper

from ..models.types import MEMBER_WORDS
from ..privacy import redact_phone_numbers
from . import may


def may_read_numbers() -> bool:
    """Whether the signed-in user reads members' words with the numbers typed in them."""
    return may("see_contacts")


def readable(text: str, region: str | None) -> str:
    """``text``, a member's words written in ``region`` (their number's), as the signed-in
    user may read them."""
    return text if may_read_numbers() else redact_phone_numbers(text, region)


@cache
def member_word_attributes(cls: type) -> frozenset[str]:
    """The attributes of ``cls`` that hold members' words (``MEMBER_WORDS``); none for
    anything that is not a model."""
    mapper: object = inspect(cls, raiseerr=False)
    if not isinstance(mapper, Mapper):
        return frozenset()
    names = frozenset(
        prop.key
        for prop in mapper.column_attrs
        if any(column.info.get(MEMBER_WORDS) for column in prop.columns)
    )
    if names and not hasattr(cls, "writer_region"):
        # Without the region, a number written the national way ("0601 234 567") is not
        # recognised: refuse to guess, loudly, on the first page that reads one.
        raise TypeError(f"{cls.__name__} holds members' words but says no writer_region")
    return names


def shown(obj: Any, attribute: str, value: Any) -> Any:
    """``value``, just read as ``obj.attribute``, as the signed-in user may see it."""
    if not isinstance(value, str):
        return value
    cls: type = type(obj)
    return readable(value, obj.writer_region) if attribute in member_word_attributes(cls) else value


class AsRead:
    """``row`` with its members' words as the signed-in user may read them, for code that
    reads a row's attributes itself: a form filled in from it (``Form(obj=AsRead(row))``)
    shows an interpreter what they may read, and what they save is what they saw."""

    def __init__(self, row: object) -> None:
        self._row = row

    def __getattr__(self, name: str) -> Any:
        return shown(self._row, name, getattr(self._row, name))


class PanelEnvironment(Environment):
    """Flask's Jinja environment, through which every template reads members' words as
    its reader may (``shown``). Set as the app's ``jinja_environment`` before anything
    builds the environment (``create_app``)."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        return shown(obj, attribute, super().getattr(obj, attribute))

    def getitem(self, obj: Any, argument: Any) -> Any:
        value = super().getitem(obj, argument)
        return shown(obj, argument, value) if isinstance(argument, str) else value
