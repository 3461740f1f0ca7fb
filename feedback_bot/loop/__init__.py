"""Closing the loop: decisions reach every member who gave feedback, in their language.

Service functions for the panel and the jobs, one module per part of the loop:

- ``decisions``: linking feedback to a decision, publishing it, changing it later;
- ``fan_out``: "what happened next" owed to every member linked to it, once each;
- ``closing``: an item closed as no action, and its member told so;
- ``ratings``: "Did we listen?", asked once a member is told, and its answers;
- ``interim``: the update of a member who still waits for a decision;
- ``progress``: what a decision's page counts.

Each function that changes something commits first and only then enqueues, so a job can
never look for a row that is not there yet.
"""

from .closing import closable, close_no_action
from .decisions import link, mark_translations_outdated, publish, told, told_of, update_outcome
from .fan_out import (
    TEXT_CHANGED,
    UNSENT,
    WHAT_NEXT_KINDS,
    cancel_unsent,
    fan_out_for_member,
    lock_for_batch,
    notify_decision,
    owe_fan_out,
    schedule_fan_out,
    unfinished_fan_outs,
)
from .interim import awaits_decision, owe_interim_updates, waits_in_silence
from .progress import (
    awaiting_translation,
    awaiting_whatsapp_template,
    progress,
    questions_awaiting_whatsapp_template,
)
from .ratings import (
    asked_about,
    leads_somewhere,
    rating_item,
    rating_of,
    record_rating,
    record_told,
)

__all__ = [
    "TEXT_CHANGED",
    "UNSENT",
    "WHAT_NEXT_KINDS",
    "asked_about",
    "awaiting_translation",
    "awaiting_whatsapp_template",
    "awaits_decision",
    "cancel_unsent",
    "closable",
    "close_no_action",
    "fan_out_for_member",
    "leads_somewhere",
    "link",
    "lock_for_batch",
    "mark_translations_outdated",
    "notify_decision",
    "owe_fan_out",
    "owe_interim_updates",
    "progress",
    "publish",
    "questions_awaiting_whatsapp_template",
    "rating_item",
    "rating_of",
    "record_rating",
    "record_told",
    "schedule_fan_out",
    "told",
    "told_of",
    "unfinished_fan_outs",
    "update_outcome",
    "waits_in_silence",
]
