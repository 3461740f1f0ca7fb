"""Decisions staff make, the topics that group feedback, and member-facing translations."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Date, ForeignKey, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .. import clock
from ..extensions import db
from .types import UTCDateTime


class Outcome:
    ADOPTED = "adopted"
    PARTLY = "partly_adopted"
    NOT_ADOPTED = "not_adopted"
    REFERRED = "referred"
    UNDER_REVIEW = "under_review"
    LABELS = {
        ADOPTED: "Adopted",
        PARTLY: "Partly adopted",
        NOT_ADOPTED: "Not adopted",
        REFERRED: "Referred elsewhere",
        UNDER_REVIEW: "Still under review",
    }


class ReviewState:
    DRAFT = "draft"
    NEEDS_REVIEW = "needs_review"
    REVIEWED = "reviewed"
    # The source changed after it was translated: never sent until translated again.
    OUTDATED = "outdated"
    ALL = (DRAFT, NEEDS_REVIEW, REVIEWED, OUTDATED)


item_topic = Table(
    "item_topic",
    db.metadata,
    Column("item_id", ForeignKey("feedback_item.id", ondelete="CASCADE"), primary_key=True),
    Column("topic_id", ForeignKey("topic.id", ondelete="CASCADE"), primary_key=True),
)


class Topic(db.Model):  # type: ignore[name-defined]
    __tablename__ = "topic"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)


class Decision(db.Model):  # type: ignore[name-defined]
    __tablename__ = "decision"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str] = mapped_column(String(32), default=Outcome.UNDER_REVIEW)
    reason: Mapped[str] = mapped_column(Text, default="")
    responsible: Mapped[str] = mapped_column(String(200), default="")
    expected_date: Mapped[date | None] = mapped_column(Date)
    # What members read, in STAFF_LOCALE; other languages in DecisionTranslation.
    summary: Mapped[str] = mapped_column(Text, default="")
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Bumped when staff send an update to members already told.
    revision: Mapped[int] = mapped_column(Integer, default=0)
    # The fan-out's own outbox: every change that may owe members a message counts a
    # request in its commit; a run of the fan-out records the count it started from. The
    # sweeper runs it again while a request is older than any finished run (the job lost
    # with Redis, or its worker killed).
    fan_out_requests: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    fan_out_done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    fan_out_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, onupdate=clock.now)

    translations: Mapped[list[DecisionTranslation]] = relationship(
        back_populates="decision", cascade="all, delete-orphan"
    )

    @property
    def published(self) -> bool:
        return self.published_at is not None

    def summary_in(self, locale: str, staff_locale: str) -> str | None:
        """The member-facing summary in ``locale``, or None while nobody has translated it."""
        if locale == staff_locale:
            return self.summary or None
        for translation in self.translations:
            if (
                translation.locale == locale
                and translation.summary.strip()
                and translation.state not in (ReviewState.OUTDATED, ReviewState.DRAFT)
            ):
                return translation.summary
        return None

    def title_in(self, locale: str, staff_locale: str) -> str | None:
        """The public page's title in ``locale``, or None while nobody has translated it
        as it stands (``DecisionTranslation.title_source``)."""
        if locale == staff_locale:
            return self.title
        translation = self._public_translation(locale)
        return translation.title if translation and translation.title_current else None

    def reason_in(self, locale: str, staff_locale: str) -> str | None:
        """The public page's "why" in ``locale``, as ``title_in``."""
        if locale == staff_locale:
            return self.reason or None
        translation = self._public_translation(locale)
        return translation.reason if translation and translation.reason_current else None

    def _public_translation(self, locale: str) -> DecisionTranslation | None:
        # Not a draft: nobody reads a draft. An outdated one is outdated by its summary,
        # and its title may still be the decision's (the sources say).
        return next(
            (t for t in self.translations if t.locale == locale and t.state != ReviewState.DRAFT),
            None,
        )


class DecisionTranslation(db.Model):  # type: ignore[name-defined]
    __tablename__ = "decision_translation"
    __table_args__ = (UniqueConstraint("decision_id", "locale"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decision.id", ondelete="CASCADE"))
    locale: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text)
    # The public page's title and "why" in this language, each with the staff text it
    # translates: shown only while that is still the decision's, so a title staff change
    # reads in the staff language until it is translated again. Members' messages carry
    # neither, so nobody waits for them.
    title: Mapped[str | None] = mapped_column(String(200))
    title_source: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    reason_source: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default=ReviewState.NEEDS_REVIEW)
    translated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, onupdate=clock.now)

    decision: Mapped[Decision] = relationship(back_populates="translations")

    @property
    def title_current(self) -> bool:
        """A translated title, of the decision's title as it stands."""
        return bool(self.title) and self.title_source == self.decision.title

    @property
    def reason_current(self) -> bool:
        """A translated reason, of the decision's reason as it stands."""
        return bool(self.reason) and self.reason_source == self.decision.reason
