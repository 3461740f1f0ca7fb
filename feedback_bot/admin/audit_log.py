"""The audit log as admins read it: each entry a sentence that names what staff know (an
item's ref, a decision's title, an account's email, a language's name), with links to
what still exists, and its other details as "key: value".

A page's entries are described together: what they refer to is loaded in one query per
kind (``Names.load``), whatever the number of entries. Only names are loaded, never what a
member wrote or their number: an entry shows nothing about a member the log does not hold
already, and the log holds no phone number (revealing one records the item it was on).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from babel.core import UnknownLocaleError
from flask import url_for
from sqlalchemy import select

from ..extensions import db
from ..messaging.language import native_name
from ..models import AuditEntry, Contact, Decision, FeedbackItem, InboundMessage, Topic, User
from ..models.decision import Outcome
from ..refs import MAX_ID, encode_ref
from . import KIND_LABELS, bp


@dataclass(frozen=True)
class Link:
    """Something an entry names: linked while it exists, its name alone once it does not."""

    text: str
    url: str | None = None


Part = str | Link


@dataclass(frozen=True)
class AuditLine:
    """One entry as the page shows it."""

    entry: AuditEntry
    parts: list[Part]
    details: list[tuple[str, str]]


# The kinds of row an entry may name, by its target_type and by the ids in its detail.
TARGET_KINDS = {
    "feedbackitem": "item",
    "decision": "decision",
    "user": "user",
    "topic": "topic",
    "inboundmessage": "message",
}
DETAIL_ID_KINDS = {
    "item_id": "item",
    "decision_id": "decision",
    "previous_decision_id": "decision",
    "unlinked_decision_id": "decision",
    "topic_id": "topic",
}


def _id(value: Any) -> int | None:
    """``value`` if it is a row id (a JSON detail may hold anything)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID:
        return value
    return None


def _detail(entry: AuditEntry) -> dict[str, Any]:
    return entry.detail if isinstance(entry.detail, dict) else {}


def _text(entry: AuditEntry, key: str) -> str:
    value = _detail(entry).get(key)
    return value if isinstance(value, str) else ""


def referenced(entry: AuditEntry) -> Iterable[tuple[str, int]]:
    """The rows ``entry`` names: (kind, id)."""
    kind = TARGET_KINDS.get(entry.target_type or "")
    target_id = _id(entry.target_id)
    if kind and target_id:
        yield kind, target_id
    for key, kind in DETAIL_ID_KINDS.items():
        row_id = _id(_detail(entry).get(key))
        if row_id:
            yield kind, row_id


@dataclass
class Names:
    """What a page of entries refers to, as staff know it."""

    items: set[int] = field(default_factory=set)  # the items that still exist
    decisions: dict[int, str] = field(default_factory=dict)  # title by id
    users: dict[int, str] = field(default_factory=dict)  # email by id
    topics: dict[int, str] = field(default_factory=dict)  # name by id
    message_items: dict[int, int] = field(default_factory=dict)  # a message's item

    @classmethod
    def load(cls, entries: Sequence[AuditEntry]) -> Names:
        """One query per kind that the entries name, and none for a kind they do not."""
        wanted: dict[str, set[int]] = {kind: set() for kind in TARGET_KINDS.values()}
        for entry in entries:
            for kind, row_id in referenced(entry):
                wanted[kind].add(row_id)
        names = cls()
        if wanted["message"]:
            rows = db.session.execute(
                select(InboundMessage.id, InboundMessage.item_id).where(
                    InboundMessage.id.in_(wanted["message"])
                )
            )
            names.message_items = {row.id: row.item_id for row in rows if row.item_id}
            wanted["item"] |= set(names.message_items.values())
        if wanted["item"]:
            names.items = set(
                db.session.scalars(
                    select(FeedbackItem.id).where(FeedbackItem.id.in_(wanted["item"]))
                )
            )
        if wanted["decision"]:
            names.decisions = _by_id(Decision.id, Decision.title, wanted["decision"])
        if wanted["user"]:
            names.users = _by_id(User.id, User.email, wanted["user"])
        if wanted["topic"]:
            names.topics = _by_id(Topic.id, Topic.name, wanted["topic"])
        return names

    def item(self, item_id: int | None) -> Part:
        if item_id is None:
            return "an item"
        url = url_for("admin.item_page", item_id=item_id) if item_id in self.items else None
        return Link(encode_ref(item_id), url)

    def decision(self, decision_id: int | None, recorded_title: str = "") -> list[Part]:
        """The decision in quotes, by its title now, and the one the entry recorded if it
        has changed since (or that alone, once the decision is gone)."""
        title = self.decisions.get(decision_id) if decision_id else None
        if title is None:
            return [f"“{recorded_title}”"] if recorded_title else ["a decision"]
        url = url_for("admin.decision_page", decision_id=decision_id)
        then = f" (then “{recorded_title}”)" if recorded_title and recorded_title != title else ""
        return ["“", Link(title, url), f"”{then}"]

    def user(self, user_id: int | None, recorded_email: str = "") -> str:
        return self.users.get(user_id or 0) or recorded_email or "an account"

    def topic(self, topic_id: int | None, recorded_name: str = "") -> str:
        name = self.topics.get(topic_id or 0) or recorded_name
        return f"“{name}”" if name else "a topic"


def _by_id(id_column: Any, name_column: Any, ids: set[int]) -> dict[int, str]:
    return dict(db.session.execute(select(id_column, name_column).where(id_column.in_(ids))).all())


def language(code: str) -> str:
    """A language as the languages page names it: "Polski (pl)"."""
    try:
        return f"{native_name(code)} ({code})"
    except (ValueError, UnknownLocaleError):  # not a locale Babel knows: the code alone
        return code or "a language"


# ------------------------------------------------------------------------------ actions

Say = Callable[[AuditEntry, Names], list[Part]]


@dataclass(frozen=True)
class Action:
    label: str  # what the action filter offers: "Item linked to a decision"
    say: Say
    said: tuple[str, ...]  # the detail keys the sentence says, not repeated below it


ACTIONS: dict[str, Action] = {}


def action(name: str, label: str, *said: str) -> Callable[[Say], Say]:
    def register(say: Say) -> Say:
        ACTIONS[name] = Action(label, say, said)
        return say

    return register


def _item(entry: AuditEntry, names: Names) -> Part:
    return names.item(_id(entry.target_id))


def _decision(entry: AuditEntry, names: Names) -> list[Part]:
    return names.decision(_id(entry.target_id), _text(entry, "title"))


def _user(entry: AuditEntry, names: Names) -> str:
    return names.user(_id(entry.target_id), _text(entry, "email"))


@action("auth.login", "Signed in")
def _signed_in(entry: AuditEntry, names: Names) -> list[Part]:
    return ["Signed in."]


@action("user.create", "Account created", "email", "role")
def _user_created(entry: AuditEntry, names: Names) -> list[Part]:
    role = _text(entry, "role")
    return [
        f"Created the {role} account " if role else "Created the account ",
        _user(entry, names),
        ".",
    ]


@action("user.role_change", "Account's role changed", "before", "after")
def _role_changed(entry: AuditEntry, names: Names) -> list[Part]:
    before, after = _text(entry, "before"), _text(entry, "after")
    return [f"Changed the role of {_user(entry, names)} from {before} to {after}."]


@action("user.languages", "Account's languages changed", "before", "after")
def _languages_changed(entry: AuditEntry, names: Names) -> list[Part]:
    def listed(key: str) -> str:
        codes = [code for code in _text(entry, key).split(",") if code]
        return ", ".join(language(code) for code in codes) or "none"

    return [
        f"Changed the languages of {_user(entry, names)} from {listed('before')} "
        f"to {listed('after')}."
    ]


@action("user.activate", "Account reactivated")
def _activated(entry: AuditEntry, names: Names) -> list[Part]:
    return [f"Reactivated the account {_user(entry, names)}."]


@action("user.deactivate", "Account deactivated")
def _deactivated(entry: AuditEntry, names: Names) -> list[Part]:
    return [f"Deactivated the account {_user(entry, names)}."]


@action("user.password_set", "Password set")
def _password_set(entry: AuditEntry, names: Names) -> list[Part]:
    return [f"Set a new password for {_user(entry, names)}."]


@action("topic.create", "Topic created", "name")
def _topic_created(entry: AuditEntry, names: Names) -> list[Part]:
    return [f"Created the topic {names.topic(_id(entry.target_id), _text(entry, 'name'))}."]


@action("item.tag", "Item tagged", "topic", "topic_id")
def _tagged(entry: AuditEntry, names: Names) -> list[Part]:
    topic = names.topic(_id(_detail(entry).get("topic_id")), _text(entry, "topic"))
    return ["Tagged ", _item(entry, names), f" {topic}."]


@action("item.untag", "Topic removed from an item", "topic", "topic_id")
def _untagged(entry: AuditEntry, names: Names) -> list[Part]:
    topic = names.topic(_id(_detail(entry).get("topic_id")), _text(entry, "topic"))
    return [f"Removed the topic {topic} from ", _item(entry, names), "."]


@action("item.triage", "Item marked triaged")
def _triaged(entry: AuditEntry, names: Names) -> list[Part]:
    return ["Marked ", _item(entry, names), " triaged."]


@action(
    "item.link",
    "Item linked to a decision",
    "decision_id",
    "decision",
    "previous_decision_id",
    "reopened",
)
def _linked(entry: AuditEntry, names: Names) -> list[Part]:
    detail = _detail(entry)
    parts: list[Part] = ["Linked ", _item(entry, names), " to "]
    parts += names.decision(_id(detail.get("decision_id")), _text(entry, "decision"))
    previous = _id(detail.get("previous_decision_id"))
    if previous:
        parts += [", moving it from ", *names.decision(previous)]
    if detail.get("reopened"):
        parts.append(", reopening it (it had been closed as no action)")
    return [*parts, "."]


@action("item.close", "Item closed as no action", "unlinked_decision_id")
def _closed(entry: AuditEntry, names: Names) -> list[Part]:
    parts: list[Part] = ["Closed ", _item(entry, names), " as no action"]
    unlinked = _id(_detail(entry).get("unlinked_decision_id"))
    if unlinked:
        parts += [", unlinking it from ", *names.decision(unlinked)]
    return [*parts, "."]


@action("member.stop", "Messages to a member stopped at their request", "contact_id")
def _stopped(entry: AuditEntry, names: Names) -> list[Part]:
    return [f"Stopped messages to {_member(entry)}, as they asked on ", _item(entry, names), "."]


@action("member.forget", "Member erased at their request", "contact_id")
def _forgotten(entry: AuditEntry, names: Names) -> list[Part]:
    return [f"Erased {_member(entry)}, as they asked on ", _item(entry, names), "."]


def _member(entry: AuditEntry) -> str:
    contact_id = _id(_detail(entry).get("contact_id"))
    return Contact.label_of(contact_id) if contact_id else "a member"


@action("contact.reveal", "Member's number revealed", "item_id")
def _revealed(entry: AuditEntry, names: Names) -> list[Part]:
    # The number itself is in no entry: the member by pseudonym, and the item it was on.
    contact_id = _id(entry.target_id)
    member = Contact.label_of(contact_id) if contact_id else "a member"
    item_id = _id(_detail(entry).get("item_id"))
    if item_id is None:
        return [f"Revealed the phone number of {member}."]
    return [f"Revealed the phone number of {member}, on ", names.item(item_id), "."]


@action("decision.create", "Decision created", "title")
def _decision_created(entry: AuditEntry, names: Names) -> list[Part]:
    return ["Created the decision ", *_decision(entry, names), "."]


@action("decision.edit", "Decision edited", "changed")
def _decision_edited(entry: AuditEntry, names: Names) -> list[Part]:
    return ["Edited ", *_decision(entry, names), _changed(entry), "."]


@action("decision.update_outcome", "Published decision changed", "changed", "notify_told")
def _decision_updated(entry: AuditEntry, names: Names) -> list[Part]:
    told = (
        " and sent an update to the members already told"
        if _detail(entry).get("notify_told")
        else " without texting the members already told"
    )
    return ["Changed the published decision ", *_decision(entry, names), _changed(entry), told, "."]


@action("decision.publish", "Decision published", "title")
def _published(entry: AuditEntry, names: Names) -> list[Part]:
    return ["Published ", *_decision(entry, names), "."]


def _changed(entry: AuditEntry) -> str:
    changed = _detail(entry).get("changed")
    if not isinstance(changed, list) or not changed:
        return ""
    fields = [f"the {FIELD_LABELS.get(str(name), str(name))}" for name in changed]
    listed = fields[0] if len(fields) == 1 else f"{', '.join(fields[:-1])} and {fields[-1]}"
    return f": changed {listed}"


@action("translation.template", "Message template translated", "locale")
def _template_translated(entry: AuditEntry, names: Names) -> list[Part]:
    return [f"Saved the {language(_text(entry, 'locale'))} translation of a message template."]


@action("translation.decision", "Decision summary translated", "locale")
def _summary_translated(entry: AuditEntry, names: Names) -> list[Part]:
    parts: list[Part] = [f"Saved the {language(_text(entry, 'locale'))} summary of "]
    return [*parts, *_decision(entry, names), "."]


@action("translation.feedback", "Feedback translated", "locale")
def _feedback_translated(entry: AuditEntry, names: Names) -> list[Part]:
    item_id = names.message_items.get(_id(entry.target_id) or 0)
    into = f" into {language(_text(entry, 'locale'))}"
    if item_id is None:
        return [f"Translated a member's message{into}."]
    return ["Translated a message of ", names.item(item_id), f"{into}."]


@action("export.items", "Feedback downloaded", "rows")
def _items_exported(entry: AuditEntry, names: Names) -> list[Part]:
    return [f"Downloaded the feedback items as a spreadsheet{_rows(entry)}."]


@action("export.decisions", "Decisions downloaded", "rows")
def _decisions_exported(entry: AuditEntry, names: Names) -> list[Part]:
    return [f"Downloaded the decisions as a spreadsheet{_rows(entry)}."]


def _rows(entry: AuditEntry) -> str:
    rows = _detail(entry).get("rows")
    if not isinstance(rows, int) or isinstance(rows, bool):
        return ""
    return f" ({rows} row{'' if rows == 1 else 's'})"


@action("language.enable", "Language offered", "code")
def _language_on(entry: AuditEntry, names: Names) -> list[Part]:
    return [f"Offered {language(_text(entry, 'code'))} to members."]


@action("language.disable", "Language no longer offered", "code")
def _language_off(entry: AuditEntry, names: Names) -> list[Part]:
    return [f"Stopped offering {language(_text(entry, 'code'))} to members."]


@action("whatsapp_template.save", "WhatsApp template saved", "kind", "locale")
def _whatsapp_saved(entry: AuditEntry, names: Names) -> list[Part]:
    return [f"Saved the WhatsApp template for {_template(entry)}."]


@action("whatsapp_template.delete", "WhatsApp template removed", "kind", "locale")
def _whatsapp_removed(entry: AuditEntry, names: Names) -> list[Part]:
    return [f"Removed the WhatsApp template for {_template(entry)}."]


def _template(entry: AuditEntry) -> str:
    kind = _text(entry, "kind")
    return f"“{KIND_LABELS.get(kind, kind)}” in {language(_text(entry, 'locale'))}"


def _unknown(entry: AuditEntry, names: Names) -> list[Part]:
    """An action without a sentence of its own: its name, and what it was done to."""
    parts: list[Part] = [entry.action]
    target_id = _id(entry.target_id)
    kind = TARGET_KINDS.get(entry.target_type or "")
    if kind == "item":
        parts += [" on ", names.item(target_id)]
    elif kind == "decision":
        parts += [" on ", *names.decision(target_id)]
    elif kind == "user":
        parts.append(f" on {names.user(target_id)}")
    elif entry.target_type:
        parts.append(f" on a {entry.target_type}")
    return parts


# ------------------------------------------------------------------------------ details

DETAIL_LABELS = {
    "reason": "Reason",
    "before": "Before",
    "after": "After",
    "via": "Done from",
    "state": "Review state",
    "msgid": "Message",
    "content_sid": "Content SID",
    "from": "Received from",
    "to": "Received to",
    "locale": "Language",
    "code": "Language",
}
# A decision's fields, as its form names them (``decision.edit`` records their old values).
FIELD_LABELS = {
    "title": "title",
    "description": "description",
    "outcome": "outcome",
    "reason": "reason",
    "responsible": "responsible",
    "expected_date": "expected date",
    "summary": "summary for members",
}
VIA = {"cli": "the command line"}
STATES = {"draft": "Draft", "needs_review": "Needs review", "reviewed": "Reviewed"}


def details(entry: AuditEntry, said: Sequence[str]) -> list[tuple[str, str]]:
    """The entry's details the sentence does not say, as (label, value)."""
    rows: list[tuple[str, str]] = []
    for key, value in _detail(entry).items():
        if key in said:
            continue
        if isinstance(value, dict):  # "before": a decision's fields before an edit
            for name, old in value.items():
                field_label = FIELD_LABELS.get(str(name), str(name)).capitalize()
                shown = Outcome.LABELS.get(old, old) if name == "outcome" else old
                rows.append((f"{field_label} {_label(key).lower()}", _value(shown)))
        elif key == "via":
            rows.append((DETAIL_LABELS[key], VIA.get(str(value), str(value))))
        elif key == "state":
            rows.append((DETAIL_LABELS[key], STATES.get(str(value), str(value))))
        elif key in ("locale", "code") and isinstance(value, str):
            rows.append((DETAIL_LABELS[key], language(value)))
        else:
            rows.append((_label(key), _value(value)))
    return rows


def _label(key: str) -> str:
    return DETAIL_LABELS.get(key) or key.replace("_", " ").capitalize()


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None or value == "":
        return "—"
    if isinstance(value, list):
        return ", ".join(_value(item) for item in value) or "—"
    return str(value)


# ---------------------------------------------------------------------------- the page


def describe(entry: AuditEntry, names: Names) -> AuditLine:
    known = ACTIONS.get(entry.action)
    if known is None:
        return AuditLine(entry, _unknown(entry, names), details(entry, ()))
    return AuditLine(entry, known.say(entry, names), details(entry, known.said))


@bp.app_template_global()
def audit_lines(entries: Sequence[AuditEntry]) -> list[AuditLine]:
    """The entries of one page of the log, described."""
    names = Names.load(entries)
    return [describe(entry, names) for entry in entries]


@bp.app_template_global()
def audit_action_label(name: str) -> str:
    """An action as the filter offers it: "Item linked to a decision (item.link)"."""
    known = ACTIONS.get(name)
    return f"{known.label} ({name})" if known else name
