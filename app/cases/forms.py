from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from app.reporting.services import MAX_MESSAGE


class VersionedForm(FlaskForm):
    #: The case version the page showed; a stale one is refused.
    version = HiddenField()

    def version_value(self) -> int | None:
        try:
            return int(self.version.data) if self.version.data else None
        except ValueError:
            return -1


class TakeForm(VersionedForm):
    pass


class ReplyForm(VersionedForm):
    message = TextAreaField("Reply to the reporter", validators=[
        DataRequired("Write the reply first."),
        Length(max=MAX_MESSAGE, message=f"Keep it under {MAX_MESSAGE:,} characters.")])
    report_id = IntegerField(validators=[Optional()])


class RevealForm(FlaskForm):
    report_id = IntegerField(validators=[DataRequired()])
