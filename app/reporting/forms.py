"""The student forms. Plain words; every field has a label; nothing needs JavaScript.

Choices a forged request could break (kinds, platforms, handles) are checked by
the service, which names the field in plain words; the form only renders them.
"""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (BooleanField, EmailField, FieldList, Form, FormField, RadioField,
                     SelectField, SelectMultipleField, StringField, TextAreaField, widgets)
from wtforms.fields import SelectChoice
from wtforms.fields.core import UnboundField
from wtforms.validators import DataRequired, Length, Optional
from werkzeug.datastructures import MultiDict

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


def not_chosen() -> Optional:
    """Optional for a choice field: only an empty or absent answer counts as not given.

    Plain ``Optional()`` also takes a blank one (" ", a tab, U+3000) for "not
    given" and clears the field's "not one of the choices" error, so the blank
    went on as the answer: ``int(" ")`` for a year group was a 500.
    """
    return Optional(strip_whitespace=False)


class MultiCheckboxField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


def row_numbers(prefix: str, formdata) -> set[int]:  # noqa: ANN001
    """The row numbers a post names for a FieldList (``prefix``, one separator, digits).

    ASCII digits only: WTForms takes any Unicode digit ("²") for one and then
    fails on ``int()``, so a crafted field name answered 500. Such a field is
    ignored, as any other name that is not the form's.
    """
    numbers = set()
    for key in formdata:
        if key.startswith(prefix):
            index = key[len(prefix) + 1:].split("-", 1)[0]
            if index.isdigit() and index.isascii():
                numbers.add(int(index))
    return numbers


class HandleList(FieldList):
    """A FieldList that reads its row numbers with :func:`row_numbers`."""

    def _extract_indices(self, prefix, formdata):  # noqa: ANN001, ANN202
        return row_numbers(prefix, formdata)


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
                                 invalid_choice_message=CHOOSE_AN_ANSWER, validators=[not_chosen()])
    is_ongoing = RadioField("Is it still going on?",
                            choices=_choices(YES_NO + [("not_sure", "Not sure")]),
                            invalid_choice_message=CHOOSE_AN_ANSWER, validators=[not_chosen()])
    involved = TextAreaField("Who was involved?", validators=[
        Optional(), Length(max=MAX_TEXT, message=f"Keep it under {MAX_TEXT:,} characters.")])
    handles = HandleList(FormField(HandleForm), min_entries=3, max_entries=10)
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
                             validators=[not_chosen()])
    contact = StringField("How can staff reach you?",
                          validators=[Optional(), Length(max=MAX_SHORT)])
    reply_email = EmailField("Email, only to tell you when there is a reply",
                             validators=[Optional(), Length(max=254)])


class _Rule:
    """What ReportForm does with one of its fields, read off the field's definition."""

    def __init__(self, unbound: UnboundField) -> None:
        kwargs = unbound.kwargs
        self.kind = unbound.field_class
        # Fields read as submitted text; anything else (a coercion, a filter, another
        # kind of field) is a rule this reader does not know: teach it first.
        if (not issubclass(self.kind, (SelectField, SelectMultipleField, StringField))
                or kwargs.get("coerce", str) is not str or kwargs.get("filters")):
            raise TypeError(f"quick_report_data cannot read {self.kind.__name__} as defined")
        self.default = kwargs.get("default")
        self.choices = ({choice.value for choice in kwargs["choices"]}
                        if "choices" in kwargs and kwargs.get("validate_choice", True) else None)
        self.required = self.longest = None
        for validator in kwargs.get("validators", ()):
            if isinstance(validator, DataRequired):
                self.required = True
            elif isinstance(validator, Length) and validator.min in (-1, 0):
                self.longest = validator.max
            elif not isinstance(validator, Optional):
                # A check this reader does not know: teach it, or it would let bad data by.
                raise TypeError(f"quick_report_data cannot apply {validator!r}")

    def read(self, formdata: MultiDict, name: str) -> tuple[bool, Any]:
        """``(True, data)`` as the field would hold it, or ``(False, None)``: ask ReportForm."""
        values = formdata.getlist(name)
        if issubclass(self.kind, SelectMultipleField):
            return self.choices is None, values
        if len(values) > 1:
            return False, None
        value = values[0] if values else self.default
        if self.choices is not None and value not in self.choices:
            # Absent and optional is fine (the field stays empty); anything else gets the
            # form's own message.
            return (value is None and not self.required and not values), value
        if self.required and not (value and value.strip()):
            return False, None
        if self.longest is not None and value and len(value) > self.longest:
            return False, None
        return True, value


_HANDLES = ReportForm.handles
_HANDLE_FIELDS = tuple(name for name, value in vars(HandleForm).items()
                       if isinstance(value, UnboundField))
_RULES = {name: _Rule(value) for name, value in vars(ReportForm).items()
          if isinstance(value, UnboundField) and name != "handles"}


def quick_report_data(formdata: MultiDict) -> dict[str, Any] | None:
    """``ReportForm(formdata).data`` for a report that passes every check of the form.

    Building the form's twenty-five fields (three handle sub-forms among them)
    was the largest part of a submission's web time that was not the database
    (bench/README.md). A report that fills the form as the page offers it is
    read here; anything else (an answer not among the choices, a required
    answer missing, text too long, a repeated field) returns ``None``, and the
    view validates with ReportForm, which gives the student its messages. The
    rules are read off ReportForm itself, so they cannot drift apart, and
    tests/reporting/test_quick_form.py checks both agree. The CSRF token is
    checked for every POST by CSRFProtect, before the view.
    """
    data: dict[str, Any] = {}
    for name, rule in _RULES.items():
        ok, data[name] = rule.read(formdata, name)
        if not ok:
            return None
    # As HandleList: every row named, in order, up to max_entries; then rows up to
    # min_entries, which read the next numbers too.
    handles = []
    for index in sorted(row_numbers("handles", formdata))[:_HANDLES.kwargs["max_entries"]]:
        handles.append(_handle_entry(formdata, index))
    while len(handles) < _HANDLES.kwargs["min_entries"]:
        handles.append(_handle_entry(formdata, len(handles)))
    if None in handles:
        return None
    data["handles"] = handles
    return data


def _handle_entry(formdata: MultiDict, index: int) -> dict[str, str | None] | None:
    entry = {}
    for field in _HANDLE_FIELDS:
        values = formdata.getlist(f"handles-{index}-{field}")
        if len(values) > 1:
            return None
        entry[field] = values[0] if values else None
    return entry


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
