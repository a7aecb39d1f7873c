from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField
from wtforms.validators import DataRequired, Length


class NewStaffForm(FlaskForm):
    name = StringField("Full name", validators=[DataRequired("Enter the person's name."),
                                                Length(max=200)])
    email = EmailField("Email address", validators=[DataRequired("Enter an email address."),
                                                    Length(max=254)])
    role = SelectField("Role", choices=[
        ("counsellor", "Counsellor"),
        ("lead", "Safeguarding lead"),
        ("admin", "Admin (no case access)"),
        ("lead_admin", "Safeguarding lead and admin"),
    ], validators=[DataRequired("Choose a role.")])


class ConfirmForm(FlaskForm):
    """An empty form: only the CSRF token."""
