"""Handing mail to the SMTP server: implicit TLS (SMTPS) with a checked certificate."""

from __future__ import annotations

import ipaddress
import ssl
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.db import utcnow
from app.notifications.mail import Mailer, MailError, Rendered, build_message
from tests.notifications.smtp_sink import SmtpSink


def _self_signed(folder):  # noqa: ANN001, ANN202
    """A certificate for 127.0.0.1 that is its own authority; return (cert, key) paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "safe-report test mail")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(utcnow() - timedelta(hours=1))
            .not_valid_after(utcnow() + timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "mail.crt", folder / "mail.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def smtps(tmp_path):
    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = SmtpSink(ssl_context=context)
    server.start()
    try:
        yield server, cert
    finally:
        server.stop()


def _message():  # noqa: ANN202
    return build_message(sender="Safe Report <alerts@school.example>", to="lead@school.example",
                         rendered=Rendered("Case ABC-123 needs attention", "Words", "<p>W</p>"),
                         message_id="<tls-test@safe-report>")


def test_implicit_tls_sends_encrypted_and_only_to_a_trusted_certificate(smtps, monkeypatch):
    server, cert = smtps
    config = {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": server.port, "MAIL_USE_SSL": True,
              "MAIL_TIMEOUT_SECONDS": 5}

    # Not signed by an authority this host trusts: refused, and retried later as any
    # temporary error is (the operator can fix the certificate or the trust store).
    with Mailer(config) as mailer, pytest.raises(MailError) as error:
        mailer.send(_message())
    assert error.value.reason == "SSLCertVerificationError: could not reach the mail server"
    assert not error.value.is_permanent and server.ids() == []

    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # what the default context trusts
    with Mailer(config) as mailer:
        mailer.send(_message())

    assert server.ids() == ["<tls-test@safe-report>"]


def test_without_a_server_or_a_folder_nothing_is_written_and_the_send_is_retried():
    with Mailer({"MAIL_SERVER": None, "MAIL_OUTBOX_DIR": None}) as mailer, \
         pytest.raises(MailError) as error:
        mailer.send(_message())

    assert error.value.reason == "no MAIL_SERVER is set" and not error.value.is_permanent
