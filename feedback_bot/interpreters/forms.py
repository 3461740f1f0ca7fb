from __future__ import annotations

from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from ..forms import PanelForm
from ..models import ReviewState

STATE_CHOICES = [
    SelectChoice(ReviewState.DRAFT, "Draft"),
    SelectChoice(ReviewState.NEEDS_REVIEW, "Needs review"),
    SelectChoice(ReviewState.REVIEWED, "Reviewed"),
]


class FeedbackTranslationForm(PanelForm):
    transcript = TextAreaField("What the voice note says (in its own language)", [Optional()])
    text = TextAreaField("Translation", [DataRequired(), Length(max=10_000)])
    state = SelectField("State", choices=STATE_CHOICES, default=ReviewState.NEEDS_REVIEW)


class SummaryTranslationForm(PanelForm):
    summary = TextAreaField("Summary for members", [DataRequired(), Length(max=1_600)])
    # The public page's, beside the summary; members are never texted either.
    title = StringField("Title, for the public page", [Optional(), Length(max=200)])
    reason = TextAreaField("Why, for the public page", [Optional(), Length(max=5_000)])
    state = SelectField("State", choices=STATE_CHOICES, default=ReviewState.NEEDS_REVIEW)
    # What the staff texts were when the page was opened (``source_marks``): a save after
    # staff changed one would pass off a translation of the old text as one of the new.
    sources = HiddenField(validators=[Optional(), Length(max=200)])


# Ten SMS segments of plain text; Twilio refuses a body over 1,600 characters.
TEMPLATE_MAX_LENGTH = 1_600


class TemplateTranslationForm(PanelForm):
    text = TextAreaField("Translation", [DataRequired(), Length(max=TEMPLATE_MAX_LENGTH)])
    state = SelectField("State", choices=STATE_CHOICES, default=ReviewState.NEEDS_REVIEW)


class CatalogueImportForm(PanelForm):
    catalogue = FileField("A .po file", [FileRequired(), FileAllowed(["po"], "Choose a .po file.")])
