"""Actions that text members say so first, and act only once staff confirm.

A text cannot be taken back. So publishing a decision, linking feedback to a published one,
closing feedback as no action and sending an update to members already told each show a
page first: who will be texted, and what (``admin/_confirm.html``). Its button posts the
same values again with ``confirmed`` (``forms.ConfirmedForm``); an update's page has a
second one that saves without texting. Publishing, which has no values, asks on GET
instead. Stopping offering a language texts nobody, but changes what every new member is
offered, so it asks the same way (``admin/confirm_language.html``). No JavaScript is needed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import current_app, render_template
from wtforms import BooleanField, SelectMultipleField

from ..forms import PanelForm
from ..models import Decision, FeedbackItem
from .forms import CONFIRMED

# Never carried: the page has a fresh token of its own, and says ``confirmed`` itself.
NOT_CARRIED = ("csrf_token", "confirmed")


def carried(form: PanelForm, leave_out: Iterable[str] = ()) -> list[tuple[str, str]]:
    """The values of ``form``, validated, as hidden inputs for the confirming POST, with
    ``confirmed``. Rebuilt from the form's data, so what is confirmed is what was checked."""
    skipped = {*NOT_CARRIED, *leave_out}
    values: list[tuple[str, str]] = []
    for field in form:
        if field.name in skipped:
            continue
        if isinstance(field, SelectMultipleField):
            values += [(field.name, str(value)) for value in field.data or ()]
        elif isinstance(field, BooleanField):
            if field.data:
                values.append((field.name, "y"))
        elif field.data is not None:
            values.append((field.name, str(field.data)))
    values.append(("confirmed", CONFIRMED))
    return values


def ask(template: str, form: PanelForm, leave_out: Iterable[str] = (), **context: Any) -> str:
    """The confirmation page ``template`` (which extends ``admin/_confirm.html``) for
    the action ``form`` was submitted for."""
    return render_template(template, carried=carried(form, leave_out), **context)


@dataclass(frozen=True)
class Audience:
    """Whom an action on some items texts, for its confirmation page."""

    by_language: list[tuple[str, int]]  # members texted, by their language
    untranslated: dict[str, int]  # of those, waiting for a summary in their language
    silent: int  # members we never text: opted out, or asked to be forgotten

    @property
    def texted(self) -> int:
        return sum(count for _, count in self.by_language)


def audience(items: Iterable[FeedbackItem], decision: Decision | None = None) -> Audience:
    """The members of ``items``, by language; with ``decision``, which of them wait for its
    summary to be translated (``Decision.summary_in``). A member with two of the items
    counts once: the page says how many members it texts (each is sent a message per item).
    """
    languages: Counter[str] = Counter()
    silent = 0
    seen: set[int] = set()
    for item in items:
        contact = item.contact
        if contact is not None:
            if contact.id in seen:
                continue
            seen.add(contact.id)
        if contact is None or contact.forgotten or contact.opted_out:
            silent += 1
        else:
            languages[contact.locale] += 1
    staff_locale = current_app.config["STAFF_LOCALE"]
    untranslated = {
        locale: count
        for locale, count in languages.items()
        if decision is not None and decision.summary_in(locale, staff_locale) is None
    }
    return Audience(sorted(languages.items()), untranslated, silent)
