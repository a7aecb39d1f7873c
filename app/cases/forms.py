"""Forms of the case page. Each carries the case version the page showed.

The forms check only what a browser can get wrong on its own (a missing
field, the CSRF token); the rules (allowed moves, lengths, who may act) are
the services', whose messages the view puts against the field they name.
Every form has its own prefix so that field ids stay unique on the page.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, NumberRange, Optional

from app.cases.people import MAX_HANDLE, MAX_NAME, ROLE_LABELS
from app.cases.vocabulary import Platform, Risk
from app.ids import MAX_ID


def choices(pairs) -> list[SelectChoice]:  # noqa: ANN001
    return [SelectChoice(value, label) for value, label in pairs]


class VersionedForm(FlaskForm):
    form_prefix = ""
    #: The case version the page showed; a stale one is refused.
    version = HiddenField()

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        kwargs.setdefault("prefix", self.form_prefix)
        super().__init__(*args, **kwargs)

    def version_value(self) -> int | None:
        try:
            return int(self.version.data) if self.version.data else None
        except ValueError:
            return -1


class TakeForm(VersionedForm):
    form_prefix = "take"


class ReplyForm(VersionedForm):
    form_prefix = "reply"
    message = TextAreaField("Reply to the reporter",
                            validators=[DataRequired("Write the reply first.")])
    report_id = IntegerField("Which report to answer", validators=[Optional()])


class StatusForm(VersionedForm):
    form_prefix = "status"
    to_status = SelectField("Move the case to", validate_choice=False,
                            validators=[DataRequired("Choose the status to move to.")])
    reason = TextAreaField("Why (a resolution summary is needed to resolve)")


class RiskForm(VersionedForm):
    form_prefix = "risk"
    risk = SelectField("New risk", choices=choices(Risk.choices()), validate_choice=False,
                       validators=[DataRequired("Choose the new risk.")])
    reason = TextAreaField("Why the risk is changing",
                           validators=[DataRequired("Write why the risk is changing.")])


class AssignForm(VersionedForm):
    form_prefix = "assign"
    assignee = SelectField("Assign to", validate_choice=False)


class NoteForm(VersionedForm):
    form_prefix = "note"
    body = TextAreaField("Note", validators=[DataRequired("Write the note first.")])
    is_restricted = BooleanField("Restricted: only me and the safeguarding leads can read it")


class _PersonForm(VersionedForm):
    role = SelectField("How they are involved",
                       choices=choices((r.value, label) for r, label in ROLE_LABELS.items()),
                       validators=[DataRequired("Choose how they are involved.")],
                       validate_choice=False)


class StudentForm(_PersonForm):
    form_prefix = "student"
    name = StringField("Student's name", validators=[DataRequired("Write the student's name.")],
                       render_kw={"maxlength": MAX_NAME, "autocomplete": "off"})
    year_group = SelectField("Year group",
                             choices=choices([("", "Not known")] + [(str(y), f"Year {y}")
                                                                    for y in range(1, 15)]),
                             validate_choice=False)


class AccountForm(_PersonForm):
    form_prefix = "account"
    platform = SelectField("Platform", choices=choices([("", "Choose the platform")] + Platform.choices()),
                           validators=[DataRequired("Choose the platform of the account.")],
                           validate_choice=False)
    handle = StringField("Account name (handle)",
                         validators=[DataRequired("Write the account name (handle).")],
                         render_kw={"maxlength": MAX_HANDLE, "autocomplete": "off"})


class MergeForm(VersionedForm):
    form_prefix = "merge"
    target = StringField("Reference of the case to move into",
                         validators=[DataRequired("Enter the reference of the other case.")],
                         render_kw={"autocomplete": "off"})
    report_id = SelectField("What to move", validate_choice=False)
    reason = TextAreaField("Why")


class RevealForm(FlaskForm):
    report_id = IntegerField(validators=[DataRequired(), NumberRange(min=1, max=MAX_ID)])
