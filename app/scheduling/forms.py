"""Forms of the session pages. They parse; the services decide what is allowed."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional
from wtforms.widgets import NumberInput

from app.scheduling.models import SessionKind, SessionMode
from app.scheduling.services import (DEFAULT_DURATION, MAX_DURATION, MAX_LOCATION, MAX_TEXT,
                                     MIN_DURATION, SCORE_ITEMS, SCORE_MAX)


class Needed:
    """Mark a field as required on the page; the service checks it and words the message."""

    field_flags = {"required": True}

    def __call__(self, form, field) -> None:  # noqa: ANN001
        return None


class LocalDateTimeField(DateTimeLocalField):
    """A ``datetime-local`` input whose parse error says what to type."""

    def process_formdata(self, valuelist):  # noqa: ANN001, ANN201
        try:
            super().process_formdata(valuelist)
        except ValueError:
            self.data = None
            raise ValueError("Enter a date and time, for example 2025-03-14 10:30.") from None


def _choices(enum_cls) -> list[SelectChoice]:  # noqa: ANN001
    return [SelectChoice(value, label) for value, label in enum_cls.choices()]


def _duration_field() -> StringField:
    return StringField("Length in minutes", default=str(DEFAULT_DURATION),
                       widget=NumberInput(min=MIN_DURATION, max=MAX_DURATION, step=5))


def _location_field() -> StringField:
    return StringField("Where", validators=[Length(max=MAX_LOCATION, message=(
        f"Keep the place under {MAX_LOCATION} characters."))])


class ScheduleForm(FlaskForm):
    start = LocalDateTimeField("Starts", validators=[
        InputRequired("Choose the date and time the session starts.")])
    duration = _duration_field()
    kind = SelectField("Kind of session", choices=_choices(SessionKind), validate_choice=False,
                       validators=[Needed()])
    mode = SelectField("How you will meet", choices=_choices(SessionMode),
                       validate_choice=False, validators=[Needed()])
    location = _location_field()
    #: Only leads see this; a counsellor always schedules for themselves.
    counsellor_id = SelectField("Counsellor", choices=[], validate_choice=False,
                                validators=[Optional()])


class RescheduleForm(FlaskForm):
    start = LocalDateTimeField("New start", validators=[
        InputRequired("Choose the new date and time.")])
    duration = _duration_field()
    location = _location_field()


class CancelForm(FlaskForm):
    reason = TextAreaField("Reason (goes on the case chronology)", validators=[
        Length(max=MAX_TEXT, message=f"Keep it under {MAX_TEXT:,} characters.")])


class MissedForm(FlaskForm):
    """Only the CSRF token."""


class CompleteForm(FlaskForm):
    notes = TextAreaField("Session notes (confidential)", validators=[Needed()])
    strategies = TextAreaField("Strategies agreed")

    def outcome_fields(self) -> list:
        return [self[f"outcome_{i}"] for i in range(1, SCORE_ITEMS + 1)]

    def session_fields(self) -> list:
        return [self[f"session_{i}"] for i in range(1, SCORE_ITEMS + 1)]


# Rating fields are plain text so that the service, not WTForms, words every error.
for _i in range(1, SCORE_ITEMS + 1):
    setattr(CompleteForm, f"outcome_{_i}",
            StringField(f"Start-of-session rating {_i}",
                        widget=NumberInput(min=0, max=SCORE_MAX, step=1),
                        validators=[Needed()]))
    setattr(CompleteForm, f"session_{_i}",
            StringField(f"End-of-session rating {_i}",
                        widget=NumberInput(min=0, max=SCORE_MAX, step=1),
                        validators=[Needed()]))


class FeedForm(FlaskForm):
    """Only the CSRF token (create, rotate or revoke the calendar feed)."""
