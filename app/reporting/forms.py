"""The student forms. Plain words; every field has a label; nothing needs JavaScript."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (BooleanField, EmailField, FieldList, Form, FormField, RadioField,
                     SelectField, SelectMultipleField, StringField, TextAreaField, widgets)
from wtforms.validators import DataRequired, Length, Optional

from app.cases.vocabulary import IncidentKind, Platform, ReporterRole
from app.reporting.services import MAX_MESSAGE, MAX_SHORT, MAX_TEXT

YES_NO = [("yes", "Yes"), ("no", "No")]
WHEN = [("today", "Today"), ("this_week", "This week"), ("this_month", "This month"),
        ("earlier", "Longer ago")]
YEAR_GROUPS = [("", "Choose your year")] + [(str(y), f"Year {y}") for y in range(7, 14)]


class MultiCheckboxField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class HandleForm(Form):
    platform = SelectField("App or site", choices=[("", "Choose")] + Platform.choices(),
                           validators=[Optional()])
    handle = StringField("Their username or name on it",
                         validators=[Optional(), Length(max=MAX_SHORT)])


class ReportForm(FlaskForm):
    is_danger = RadioField("Is anyone in danger right now?", choices=YES_NO,
                           validators=[DataRequired("Tell us if anyone is in danger right now.")])
    is_self_harm = RadioField("Is anyone thinking about hurting themselves?", choices=YES_NO,
                              validators=[DataRequired(
                                  "Tell us if anyone is thinking about hurting themselves.")])
    details = TextAreaField("What happened?",
                            validators=[DataRequired("Tell us what happened."),
                                        Length(max=MAX_TEXT, message=(
                                            f"Keep it under {MAX_TEXT:,} characters."))])
    kinds = MultiCheckboxField("What kind of bullying is it?", choices=IncidentKind.choices())
    platforms = MultiCheckboxField("Where did it happen?", choices=Platform.choices())
    occurred_period = RadioField("When did it happen?", choices=WHEN, validators=[Optional()])
    is_ongoing = RadioField("Is it still going on?", choices=YES_NO + [("not_sure", "Not sure")],
                            validators=[Optional()])
    involved = TextAreaField("Who was involved?", validators=[
        Optional(), Length(max=MAX_TEXT, message=f"Keep it under {MAX_TEXT:,} characters.")])
    handles = FieldList(FormField(HandleForm), min_entries=3, max_entries=10)
    reporter_role = RadioField("Who is reporting?", choices=ReporterRole.choices(),
                               validators=[DataRequired("Tell us who is reporting.")])
    identity = RadioField("Do you want to give your name?", choices=[
        ("anonymous", "No, keep me anonymous. Nobody, not even staff, will know who sent this."),
        ("confidential", "Yes. Only the staff who help with this will see my name."),
    ], default="anonymous", validators=[DataRequired("Choose whether to give your name.")])
    reporter_name = StringField("Your name", validators=[Optional(), Length(max=MAX_SHORT)])
    year_group = SelectField("Your year group", choices=YEAR_GROUPS, validators=[Optional()])
    contact = StringField("How can staff reach you?",
                          validators=[Optional(), Length(max=MAX_SHORT)])
    reply_email = EmailField("Email, only to tell you when there is a reply",
                             validators=[Optional(), Length(max=254)])


class KeyForm(FlaskForm):
    case_key = StringField("Your case key", validators=[
        DataRequired("Type your case key."), Length(max=400)],
        render_kw={"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"})


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
