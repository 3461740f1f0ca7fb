"""Saving what interpreters write, with the checks that keep members' messages whole."""

from __future__ import annotations

from sqlalchemy import select

from .. import audit, clock, loop
from ..extensions import db
from ..messaging.overrides import bump_version
from ..messaging.templates import KEYWORD_CONTEXT, KEYWORD_MSGIDS
from ..models import (
    Decision,
    DecisionTranslation,
    InboundMessage,
    MessageOverride,
    MessageTranslation,
    ReviewState,
    User,
)
from .catalogue_io import known_entries, member_texts
from .checks import ACTION_OF_KEYWORDS, translation_problems
from .keyword_mentions import dropped_word_problems


class TranslationRefused(ValueError):
    """The translation cannot be saved; the message says why, for the interpreter."""


class MessageErased(TranslationRefused):
    """The member asked to be forgotten while the interpreter was translating."""


def cleaned(text: str) -> str:
    """``text`` as typed, its line breaks plain LF: a browser sends a textarea's as CRLF,
    which would reach members as stray characters or blank lines."""
    return "\n".join(text.splitlines()).strip()


def save_override(
    user: User | None, locale: str, msgid: str, text: str, state: str, context: str = ""
) -> MessageOverride:
    if (context, msgid) not in known_entries(locale):
        raise TranslationRefused("This is not a message template.")
    text = cleaned(text)
    if not text:
        raise TranslationRefused("The translation is empty.")
    problems = translation_problems(context, msgid, locale, text)
    action = ACTION_OF_KEYWORDS.get(msgid) if context == KEYWORD_CONTEXT else None
    if action is not None and action in KEYWORD_MSGIDS and state != ReviewState.DRAFT:
        # A draft list is not matched, so it leaves every word members are told working.
        problems += dropped_word_problems(action, locale, text, member_texts(locale))
    if problems:
        raise TranslationRefused(" ".join(problems))
    override = db.session.scalars(
        select(MessageOverride).where(
            MessageOverride.locale == locale,
            MessageOverride.context == context,
            MessageOverride.msgid == msgid,
        )
    ).one_or_none()
    if override is None:
        override = MessageOverride(locale=locale, context=context, msgid=msgid)
        db.session.add(override)
    override.text = text
    override.state = state
    override.updated_by_id = user.id if user else None
    if state == ReviewState.REVIEWED:
        override.reviewed_by_id = user.id if user else None
        override.reviewed_at = clock.now()
    db.session.flush()
    audit.record("translation.template", override, locale=locale, msgid=msgid[:80], state=state)
    db.session.commit()
    bump_version()
    return override


def save_decision_summary(
    user: User | None,
    decision: Decision,
    locale: str,
    summary: str,
    state: str,
    title: str | None = None,
    reason: str | None = None,
) -> DecisionTranslation:
    """Store a summary translation; members waiting for it are then told, by themselves
    (unless it is a draft, which members never get).

    ``title`` and ``reason``, for the public page, are kept with the staff text they
    translate (``Decision.title_in``); "" removes one, None leaves it as it was."""
    summary = cleaned(summary)
    if not summary:
        raise TranslationRefused("The summary is empty.")
    translation = next((t for t in decision.translations if t.locale == locale), None)
    if translation is None:
        translation = DecisionTranslation(locale=locale, summary=summary)
        decision.translations.append(translation)
    translation.summary = summary
    translation.state = state
    if title is not None:
        translation.title = cleaned(title) or None
        translation.title_source = decision.title if translation.title else None
    if reason is not None:
        translation.reason = cleaned(reason) or None
        translation.reason_source = decision.reason if translation.reason else None
    translation.translated_by_id = user.id if user else None
    db.session.flush()
    audit.record("translation.decision", decision, locale=locale, state=state)
    tell = decision.published and state != ReviewState.DRAFT
    if tell:
        loop.owe_fan_out(decision)
    db.session.commit()
    if tell:
        loop.schedule_fan_out(decision)
    return translation


def save_message_translation(
    user: User | None,
    message: InboundMessage,
    locale: str,
    text: str,
    transcript: str | None = None,
    state: str = ReviewState.NEEDS_REVIEW,
) -> MessageTranslation:
    text = cleaned(text)
    if not text:
        raise TranslationRefused("The translation is empty.")
    # Locked and read afresh, as a FORGET locks the message before erasing its translations
    # (``members._erase``): one committing meanwhile is seen here, so no translation of
    # what the member said is saved after they asked us to erase it.
    db.session.refresh(message, with_for_update=True)
    if message.erased_at is not None:
        db.session.rollback()
        raise MessageErased("This message was erased at the member's request.")
    translation = db.session.scalars(
        select(MessageTranslation).where(
            MessageTranslation.message_id == message.id, MessageTranslation.locale == locale
        )
    ).one_or_none()
    if translation is None:
        translation = MessageTranslation(message_id=message.id, locale=locale, text=text)
        db.session.add(translation)
    translation.text = text
    translation.transcript = cleaned(transcript or "") or None
    translation.state = state
    translation.machine_draft = False
    translation.translated_by_id = user.id if user else None
    db.session.flush()
    audit.record("translation.feedback", message, locale=locale, state=state)
    db.session.commit()
    return translation
