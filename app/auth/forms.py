from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, Length


class LoginForm(FlaskForm):
    email = EmailField("Email address", validators=[DataRequired("Enter your email address."),
                                                    Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired("Enter your password."),
                                                     Length(max=200)])


class CodeForm(FlaskForm):
    code = StringField(
        "6-digit code from your authenticator app",
        validators=[DataRequired("Enter the 6-digit code."), Length(max=12)],
        render_kw={"inputmode": "numeric", "autocomplete": "one-time-code"},
    )


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField("Current password",
                                     validators=[DataRequired("Enter your current password."),
                                                 Length(max=200)])
    password = PasswordField("New password",
                             validators=[DataRequired("Enter a new password."), Length(max=200)],
                             render_kw={"autocomplete": "new-password"})
    confirm = PasswordField("New password again",
                            validators=[DataRequired("Type the new password again."),
                                        Length(max=200)],
                            render_kw={"autocomplete": "new-password"})

    def validate_confirm(self, field) -> None:  # noqa: ANN001
        from wtforms.validators import ValidationError

        if field.data != self.password.data:
            raise ValidationError("The two new passwords are not the same.")


__all__ = ["ChangePasswordForm", "CodeForm", "Email", "LoginForm"]
