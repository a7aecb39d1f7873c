"""The student forms. Plain words; every field has a label; nothing needs JavaScript.

Choices a forged request could break (kinds, platforms, handles) are checked by
the service, which names the field in plain words; the form only renders them.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (BooleanField, EmailField, FieldList, Form, FormField, RadioField,
                     SelectField, SelectMultipleField, StringField, TextAreaField, widgets)
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from app.cases.vocabulary import IncidentKind, Platform, ReporterRole
from app.reporting.services import MAX_MESSAGE, MAX_SHORT, MAX_TEXT


def _choices(pairs) -> list[SelectChoice]:  # noqa: ANN001
    return [SelectChoice(value, label) for value, label in pairs]


YES_NO = [("yes", "Yes"), ("no", "No")]
WHEN = [("today", "Today"), ("this_week", "This week"), ("this_month", "This month"),
        ("earlier", "Longer ago")]
YEAR_GROUPS = [("", "Choose your year")] + [(str(y), f"Year {y}") for y in range(7, 14)]
#: What a forged or garbled answer to a radio question gets.
CHOOSE_AN_ANSWER = "Choose one of the answers shown."


class MultiCheckboxField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class HandleForm(Form):
    platform = SelectField("App or site", choices=_choices([("", "Choose")] + Platform.choices()),
                           validate_choice=False)
    handle = StringField("Their username or name on it", render_kw={"maxlength": MAX_SHORT})


class ReportForm(FlaskForm):
    is_danger = RadioField("Is anyone in danger right now?", choices=_choices(YES_NO),
                           invalid_choice_message=CHOOSE_AN_ANSWER,
                           validators=[DataRequired("Tell us if anyone is in danger right now.")])
    is_self_harm = RadioField("Is anyone thinking about hurting themselves?",
                              choices=_choices(YES_NO), invalid_choice_message=CHOOSE_AN_ANSWER,
                              validators=[DataRequired(
                                  "Tell us if anyone is thinking about hurting themselves.")])
    details = TextAreaField("What happened?",
                            validators=[DataRequired("Tell us what happened."),
                                        Length(max=MAX_TEXT, message=(
                                            f"Keep it under {MAX_TEXT:,} characters."))])
    kinds = MultiCheckboxField("What kind of bullying is it?",
                               choices=_choices(IncidentKind.choices()), validate_choice=False)
    platforms = MultiCheckboxField("Where did it happen?", choices=_choices(Platform.choices()),
                                   validate_choice=False)
    occurred_period = RadioField("When did it happen?", choices=_choices(WHEN),
                                 invalid_choice_message=CHOOSE_AN_ANSWER, validators=[Optional()])
    is_ongoing = RadioField("Is it still going on?",
                            choices=_choices(YES_NO + [("not_sure", "Not sure")]),
                            invalid_choice_message=CHOOSE_AN_ANSWER, validators=[Optional()])
    involved = TextAreaField("Who was involved?", validators=[
        Optional(), Length(max=MAX_TEXT, message=f"Keep it under {MAX_TEXT:,} characters.")])
    handles = FieldList(FormField(HandleForm), min_entries=3, max_entries=10)
    reporter_role = RadioField("Who is reporting?", choices=_choices(ReporterRole.choices()),
                               invalid_choice_message=CHOOSE_AN_ANSWER,
                               validators=[DataRequired("Tell us who is reporting.")])
    identity = RadioField("Do you want to give your name?", choices=_choices([
        ("anonymous", "No, keep me anonymous. Nobody, not even staff, will know who sent this."),
        ("confidential", "Yes. Only the staff who help with this will see my name."),
    ]), default="anonymous", invalid_choice_message=CHOOSE_AN_ANSWER,
        validators=[DataRequired("Choose whether to give your name.")])
    reporter_name = StringField("Your name", validators=[Optional(), Length(max=MAX_SHORT)])
    year_group = SelectField("Your year group", choices=_choices(YEAR_GROUPS),
                             invalid_choice_message="Choose your year group from the list.",
                             validators=[Optional()])
    contact = StringField("How can staff reach you?",
                          validators=[Optional(), Length(max=MAX_SHORT)])
    reply_email = EmailField("Email, only to tell you when there is a reply",
                             validators=[Optional(), Length(max=254)])


class KeyForm(FlaskForm):
    # No length check here: an over-long key must get the same generic answer as any
    # other wrong key (and count as a failed attempt); the service cuts it short.
    case_key = StringField("Your case key", validators=[DataRequired("Type your case key.")],
                           render_kw={"autocomplete": "off", "autocapitalize": "none",
                                      "spellcheck": "false", "maxlength": 400})


class MessageForm(FlaskForm):
    message = TextAreaField("Send a message to the school", validators=[
        DataRequired("Write a message first."),
        Length(max=MAX_MESSAGE, message=f"Keep it under {MAX_MESSAGE:,} characters.")])


class EvidenceForm(FlaskForm):
    file = FileField("Add a screenshot or PDF")


class ReplyEmailForm(FlaskForm):
    reply_email = EmailField("Email, only to tell you when there is a reply",
                             validators=[Optional(), Length(max=254)])
    delete = BooleanField("Delete my email address")


class EndForm(FlaskForm):
    """Sign out of the case: only the CSRF token."""
