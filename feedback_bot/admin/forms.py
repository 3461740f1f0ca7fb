"""The panel's forms; every one carries a CSRF token and drops control characters
(``feedback_bot.forms.PanelForm``)."""

from __future__ import annotations

from typing import Any

from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    HiddenField,
    PasswordField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from .. import clock
from ..auth.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from ..forms import PanelForm, as_name
from ..models import Outcome, Role
from ..models.staff import email_problem
from ..refs import MAX_ID

NO_CHOICE = 0
# What the confirmation page sends in ``confirmed`` (``ConfirmedForm``).
CONFIRMED = "yes"
ROLE_CHOICES = [SelectChoice(role, role) for role in Role.ALL]
OUTCOME_CHOICES = [SelectChoice(value, label) for value, label in Outcome.LABELS.items()]
# An expected date is in these years: from the first, to so many years from now.
FIRST_EXPECTED_YEAR = 2000
EXPECTED_YEARS_AHEAD = 25
SUMMARY_LABEL = "Summary for members (sent by SMS; keep it short)"


def row_id(value: Any) -> int:
    """Coerce a submitted row id. Ids are 32-bit in the database: a larger number would
    fail the query (PostgreSQL) or overflow (SQLite) rather than match nothing."""
    number = int(value)
    if not 0 < number <= MAX_ID:
        raise ValueError("not a row id")
    return number


class ActionForm(PanelForm):
    """A button that changes something: only the CSRF token."""


class ConfirmedForm(PanelForm):
    """A form whose action may text members: the first POST shows what would be sent, and
    only a POST that says ``confirmed`` acts (``confirming``)."""

    confirmed = HiddenField()

    def is_confirmed(self) -> bool:
        return self.confirmed.data == CONFIRMED


class TagForm(PanelForm):
    topic_id = SelectField("Topic", coerce=int, default=NO_CHOICE)
    new_topic = StringField(
        "or a new topic", validators=[Optional(), Length(max=80)], filters=[as_name]
    )

    def validate(self, extra_validators: Any = None) -> bool:
        if not super().validate(extra_validators):
            return False
        if not self.topic_id.data and not (self.new_topic.data or "").strip():
            self.topic_id.errors.append("Choose a topic or name a new one.")
            return False
        return True


class LinkForm(ConfirmedForm):
    decision_id = SelectField("Decision", coerce=int)

    def validate_decision_id(self, field: SelectField) -> None:
        if not field.data:
            raise ValidationError("Choose a decision.")


class CloseForm(ConfirmedForm):
    # The reason is in the staff language and members read only what interpreters have
    # translated: they get a set message instead (``loop.close_no_action``).
    reason = TextAreaField(
        "Why no action (kept for staff; the member is told we read their feedback and are "
        "not taking it further, and asked whether they felt heard)",
        validators=[DataRequired(), Length(max=1000)],
    )


class BulkForm(ConfirmedForm):
    TAG, LINK, CLOSE, TRIAGE = "tag", "link", "close", "triage"

    # The choices are whatever the inbox page showed, so only the shape of an id is checked.
    item_ids = SelectMultipleField("Items", coerce=row_id, validate_choice=False)
    action = SelectField(
        "With the selected items",
        choices=[
            SelectChoice(TAG, "Tag with a topic"),
            SelectChoice(LINK, "Link to a decision"),
            SelectChoice(CLOSE, "Close as no action"),
            SelectChoice(TRIAGE, "Mark triaged"),
        ],
    )
    topic_id = SelectField("Topic", coerce=int, default=NO_CHOICE)
    new_topic = StringField(
        "or a new topic", validators=[Optional(), Length(max=80)], filters=[as_name]
    )
    decision_id = SelectField("Decision", coerce=int, default=NO_CHOICE)
    reason = TextAreaField("Reason", validators=[Optional(), Length(max=1000)])
    back = HiddenField(validators=[Optional(), Length(max=2000)])

    def validate(self, extra_validators: Any = None) -> bool:
        if not super().validate(extra_validators):
            return False
        if not self.item_ids.data:
            self.item_ids.errors.append("Select at least one item.")
        elif self.action.data == self.TAG and not (
            self.topic_id.data or (self.new_topic.data or "").strip()
        ):
            self.topic_id.errors.append("Choose a topic or name a new one.")
        elif self.action.data == self.LINK and not self.decision_id.data:
            self.decision_id.errors.append("Choose a decision.")
        elif self.action.data == self.CLOSE and not (self.reason.data or "").strip():
            self.reason.errors.append("Give the reason, for staff (members get a set message).")
        return not self.errors


class DecisionForm(ConfirmedForm):
    title = StringField("Title", validators=[DataRequired(), Length(max=200)])
    description = TextAreaField("Description (staff only)", validators=[Length(max=10_000)])
    outcome = SelectField("Outcome", choices=OUTCOME_CHOICES)
    reason = TextAreaField("Reason", validators=[Length(max=5_000)])
    responsible = StringField("Responsible", validators=[Length(max=200)])
    expected_date = DateField("Expected by", validators=[Optional()])
    summary = TextAreaField(SUMMARY_LABEL, validators=[Length(max=1_000)])
    # Unticked unless staff mean it: a fixed typo is no news, and an update texts everyone
    # told (after a confirmation page that says how many).
    notify_told = BooleanField("Send an update to members already told", default=False)

    def validate_expected_date(self, field: DateField) -> None:
        # A mistyped year (0001, 9999) is no date a service expects anything by, and a year
        # before 1000 came back empty on the next edit (a date input reads four digits).
        first, last = FIRST_EXPECTED_YEAR, clock.now().year + EXPECTED_YEARS_AHEAD
        if field.data and not first <= field.data.year <= last:
            raise ValidationError(f"Enter a date between {first} and {last}.")


class PublishedDecisionForm(DecisionForm):
    """Editing a decision members have been told of. They are sent its summary (the outcome
    is only on the public page), so the summary stays, and only a new one is news."""

    summary = TextAreaField(
        SUMMARY_LABEL,
        validators=[
            DataRequired("Members have been sent this summary: change it, but do not empty it."),
            Length(max=1_000),
        ],
    )

    def validate_notify_told(self, field: BooleanField) -> None:
        # ``object_data`` is what the decision held before this edit (the form is built
        # with ``obj=decision``).
        outcome_changed = self.outcome.data != self.outcome.object_data
        summary_changed = (self.summary.data or "").strip() != (self.summary.object_data or "")
        if field.data and outcome_changed and not summary_changed:
            raise ValidationError(
                "Members are sent only the summary, so an update would repeat what they "
                "were told. Say in the summary what changed, or untick this to save the new "
                "outcome without telling them."
            )


class UserCreateForm(PanelForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    # No role chosen until an admin chooses one: a default would be what an admin in a
    # hurry hands out, and any default but the least is a risk.
    role = SelectField(
        "Role",
        choices=[SelectChoice("", "Choose a role"), *ROLE_CHOICES],
        validators=[DataRequired("Choose what this account may do.")],
    )
    languages = StringField("Languages (interpreters, e.g. ar,ur)", validators=[Length(max=255)])
    password = PasswordField(
        f"Initial password (at least {MIN_PASSWORD_LENGTH} characters)",
        validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH)],
    )

    def validate_email(self, field: EmailField) -> None:
        # The page does not let the browser check (``novalidate``), so that every problem
        # is shown at once, by each field, in the panel's words.
        problem = email_problem(field.data or "")
        if problem:
            raise ValidationError(f"Enter an email address, such as name@example.org. {problem}")


class UserUpdateForm(PanelForm):
    role = SelectField("Role", choices=ROLE_CHOICES)
    languages = StringField("Languages", validators=[Length(max=255)])
    active = BooleanField("Active")
