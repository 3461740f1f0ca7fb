"""The panel's forms; every one carries a CSRF token (Flask-WTF)."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
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

from ..models import Outcome, Role

NO_CHOICE = 0
ROLE_CHOICES = [SelectChoice(role, role) for role in Role.ALL]
OUTCOME_CHOICES = [SelectChoice(value, label) for value, label in Outcome.LABELS.items()]


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


class TagForm(FlaskForm):
    topic_id = SelectField("Topic", coerce=int, default=NO_CHOICE)
    new_topic = StringField("or a new topic", validators=[Optional(), Length(max=80)])

    def validate(self, extra_validators: Any = None) -> bool:
        if not super().validate(extra_validators):
            return False
        if not self.topic_id.data and not (self.new_topic.data or "").strip():
            self.topic_id.errors.append("Choose a topic or name a new one.")
            return False
        return True


class LinkForm(FlaskForm):
    decision_id = SelectField("Decision", coerce=int)

    def validate_decision_id(self, field: SelectField) -> None:
        if not field.data:
            raise ValidationError("Choose a decision.")


class CloseForm(FlaskForm):
    reason = TextAreaField(
        "Why no action (the member is told this)",
        validators=[DataRequired(), Length(max=1000)],
    )


class BulkForm(FlaskForm):
    TAG, LINK, CLOSE, TRIAGE = "tag", "link", "close", "triage"

    item_ids = SelectMultipleField("Items", coerce=int, validate_choice=False)
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
    new_topic = StringField("or a new topic", validators=[Optional(), Length(max=80)])
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
            self.reason.errors.append("Give the reason the members will be told.")
        return not self.errors


class DecisionForm(FlaskForm):
    title = StringField("Title", validators=[DataRequired(), Length(max=200)])
    description = TextAreaField("Description (staff only)", validators=[Length(max=10_000)])
    outcome = SelectField("Outcome", choices=OUTCOME_CHOICES)
    reason = TextAreaField("Reason", validators=[Length(max=5_000)])
    responsible = StringField("Responsible", validators=[Length(max=200)])
    expected_date = DateField("Expected by", validators=[Optional()])
    summary = TextAreaField(
        "Summary for members (sent by SMS; keep it short)",
        validators=[Length(max=1_000)],
    )
    notify_told = BooleanField("Send an update to members already told", default=True)


class UserCreateForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    role = SelectField("Role", choices=ROLE_CHOICES)
    languages = StringField("Languages (interpreters, e.g. ar,ur)", validators=[Length(max=255)])
    password = PasswordField(
        "Initial password (at least 12 characters)", validators=[DataRequired(), Length(min=12)]
    )


class UserUpdateForm(FlaskForm):
    role = SelectField("Role", choices=ROLE_CHOICES)
    languages = StringField("Languages", validators=[Length(max=255)])
    active = BooleanField("Active")
