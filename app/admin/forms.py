from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length


class NewStaffForm(FlaskForm):
    name = StringField("Full name", validators=[DataRequired("Enter the person's name."),
                                                Length(max=200)])
    email = EmailField("Email address", validators=[DataRequired("Enter an email address."),
                                                    Length(max=254)])
    role = SelectField("Role", choices=[
        SelectChoice("counsellor", "Counsellor"),
        SelectChoice("lead", "Safeguarding lead"),
        SelectChoice("admin", "Admin (no case access)"),
        SelectChoice("lead_admin", "Safeguarding lead and admin"),
    ], validators=[DataRequired("Choose a role.")])


class ConfirmForm(FlaskForm):
    """An empty form: only the CSRF token."""
