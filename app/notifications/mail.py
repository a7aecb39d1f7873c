"""Email: building messages and handing them to an SMTP server (or a folder, in development).

Settings are Flask-Mail style (``MAIL_SERVER``, ``MAIL_PORT``, ``MAIL_USE_TLS``,
``MAIL_USE_SSL``, ``MAIL_USERNAME``, ``MAIL_PASSWORD``, ``MAIL_DEFAULT_SENDER``).
With no ``MAIL_SERVER`` (development and tests only: production refuses to
start without one), messages are written as ``.eml`` files to
``MAIL_OUTBOX_DIR``, which the development mail page lists.
"""

from __future__ import annotations

import hashlib
import os
import re
import smtplib
import socket
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from app.db import utcnow

#: The domain part of every Message-ID we make.
MESSAGE_ID_DOMAIN = "safe-report"
_EML_NAME = re.compile(r"^[0-9]{8}T[0-9]{6}-[0-9a-f]{32}-[0-9a-f]{8}\.eml$")


def message_id_for(key: str) -> str:
    """Return the Message-ID of the outbox row ``key``: the same on every (re)send."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{MESSAGE_ID_DOMAIN}>"


@dataclass(frozen=True)
class Rendered:
    """An email's words, before addressing."""

    subject: str
    text: str
    html: str


def build_message(*, sender: str, to: str, rendered: Rendered, message_id: str) -> EmailMessage:
    """Return a plain-text + HTML message."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = rendered.subject
    msg["Message-ID"] = message_id
    msg["Date"] = format_datetime(utcnow())
    # Safeguarding mail should not be answered by autoresponders or threaded with others.
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    return msg


class MailError(Exception):
    """Sending failed; ``is_permanent`` when trying again cannot help."""

    def __init__(self, reason: str, *, is_permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason[:200]
        self.is_permanent = is_permanent


class Mailer:
    """Send messages over one SMTP connection, opened on first use and reused.

    Use as a context manager so the connection is closed at the end of a batch.
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.server: str | None = config.get("MAIL_SERVER")
        self.port = int(config.get("MAIL_PORT") or 25)
        self.use_tls = bool(config.get("MAIL_USE_TLS"))
        self.use_ssl = bool(config.get("MAIL_USE_SSL"))
        self.username: str | None = config.get("MAIL_USERNAME")
        self.password: str | None = config.get("MAIL_PASSWORD")
        self.sender: str = config.get("MAIL_DEFAULT_SENDER") or "Safe Report <no-reply@localhost>"
        self.timeout = float(config.get("MAIL_TIMEOUT_SECONDS") or 20)
        folder = config.get("MAIL_OUTBOX_DIR")
        self.folder: Path | None = Path(folder) if folder else None
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> "Mailer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def uses_folder(self) -> bool:
        return not self.server

    def send(self, msg: EmailMessage) -> None:
        """Deliver ``msg`` or raise :class:`MailError`."""
        if self.uses_folder:
            self._keep(msg)
            return
        try:
            smtp = self._connection()
            smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            self.close()
            codes = sorted({code for code, _ in exc.recipients.values()})
            # 5xx: the server will never take it (unknown mailbox); 4xx: try again later.
            permanent = all(code >= 500 for code in codes)
            raise MailError(f"recipient refused ({', '.join(map(str, codes))})",
                            is_permanent=permanent) from None
        except smtplib.SMTPResponseException as exc:
            self.close()
            raise MailError(f"SMTP error {exc.smtp_code}") from None
        except (smtplib.SMTPException, OSError) as exc:
            # The class name only: a server's message can echo addresses back.
            self.close()
            raise MailError(f"{type(exc).__name__}: could not reach the mail server") from None

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is not None:
            return self._smtp
        local_hostname = socket.gethostname() or "localhost"
        if self.use_ssl:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                self.server, self.port, timeout=self.timeout, local_hostname=local_hostname,
                context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(self.server, self.port, timeout=self.timeout,
                                local_hostname=local_hostname)
        try:
            # smtplib writes a command and its data in separate small packets; with Nagle's
            # algorithm and delayed ACKs each message then waits ~40 ms for nothing.
            smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.use_tls and not self.use_ssl:
                smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password or "")
        except BaseException:
            smtp.close()
            raise
        self._smtp = smtp
        return smtp

    def close(self) -> None:
        if self._smtp is None:
            return
        smtp, self._smtp = self._smtp, None
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def _keep(self, msg: EmailMessage) -> None:
        """Write ``msg`` into the mail folder, whole or not at all."""
        if self.folder is None:
            raise MailError("no MAIL_SERVER is set")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256(str(msg["Message-ID"]).encode()).hexdigest()[:32]
            name = f"{utcnow():%Y%m%dT%H%M%S}-{digest}-{os.urandom(4).hex()}.eml"
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                fh.write(msg.as_bytes())
            os.replace(tmp, self.folder / name)
        except OSError as exc:
            raise MailError(f"{type(exc).__name__}: could not write to the mail folder") from None


# -- the development mail folder -------------------------------------------------------
@dataclass(frozen=True)
class KeptMail:
    name: str
    subject: str
    to: str
    date: str
    message_id: str


def is_kept_mail_name(name: str) -> bool:
    """Whether ``name`` is a file :class:`Mailer` wrote (so it is safe to open)."""
    return bool(_EML_NAME.match(name))


def list_kept_mail(folder: Path, *, limit: int = 200) -> list[KeptMail]:
    """Return the newest messages in the mail folder."""
    from email import policy
    from email.parser import BytesHeaderParser

    if not folder.is_dir():
        return []
    names = sorted((n for n in os.listdir(folder) if is_kept_mail_name(n)), reverse=True)
    parser = BytesHeaderParser(policy=policy.default)
    kept = []
    for name in names[:limit]:
        with open(folder / name, "rb") as fh:
            headers = parser.parse(fh)
        kept.append(KeptMail(name=name, subject=str(headers["Subject"] or ""),
                             to=str(headers["To"] or ""), date=str(headers["Date"] or ""),
                             message_id=str(headers["Message-ID"] or "")))
    return kept


def read_kept_mail(folder: Path, name: str) -> tuple[KeptMail, str] | None:
    """Return the headers and the plain-text body of one kept message."""
    from email import policy
    from email.parser import BytesParser

    if not is_kept_mail_name(name) or not (folder / name).is_file():
        return None
    with open(folder / name, "rb") as fh:
        msg = BytesParser(policy=policy.default).parse(fh)
    body = msg.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    return KeptMail(name=name, subject=str(msg["Subject"] or ""), to=str(msg["To"] or ""),
                    date=str(msg["Date"] or ""), message_id=str(msg["Message-ID"] or "")), text
