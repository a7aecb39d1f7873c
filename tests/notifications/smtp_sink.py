"""A real SMTP server on loopback (aiosmtpd) that keeps every message it accepts."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from aiosmtpd.controller import Controller

# aiosmtpd logs every SMTP command at INFO: far too much for a test report.
logging.getLogger("mail.log").setLevel(logging.WARNING)


def free_port() -> int:
    """A TCP port nobody listens on right now (aiosmtpd's Controller refuses port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Received:
    at: float
    message_id: str
    rcpt: tuple[str, ...]
    raw: bytes
    #: The client's port: one per SMTP connection, so it tells senders apart.
    peer_port: int

    @property
    def message(self) -> EmailMessage:
        return BytesParser(policy=policy.default).parsebytes(self.raw)  # type: ignore[return-value]

    def texts(self) -> list[str]:
        """Everything a reader could see: headers and every decoded part."""
        msg = self.message
        out = [f"{k}: {v}" for k, v in msg.items()]
        for part in msg.walk():
            if part.get_content_maintype() == "text":
                out.append(part.get_content())
        return out


class _Handler:
    def __init__(self, sink: "SmtpSink") -> None:
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001, N802
        if address in self.sink.refuse:
            return self.sink.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, N802
        if self.sink.delay:
            await asyncio.sleep(self.sink.delay)
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode()
        msg = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
        self.sink.add(Received(at=time.time(), message_id=str(msg["Message-ID"] or ""),
                               rcpt=tuple(envelope.rcpt_tos), raw=raw,
                               peer_port=session.peer[1]))
        return "250 Message accepted"


class SmtpSink:
    """Start with :meth:`start`; :meth:`stop` closes the port (the "server down" case)."""

    def __init__(self, port: int | None = None, *, ssl_context=None) -> None:  # noqa: ANN001
        self.port = port or free_port()
        #: A server context: the sink then speaks SMTP over TLS from the first byte (SMTPS).
        self.ssl_context = ssl_context
        self.delay = 0.0
        #: Address -> the SMTP reply that refuses it at RCPT TO (say "550 No such user").
        self.refuse: dict[str, str] = {}
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    def add(self, item: Received) -> None:
        with self._lock:
            self.received.append(item)

    def start(self) -> None:
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port,
                                      ready_timeout=10, ssl_context=self.ssl_context)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def is_running(self) -> bool:
        return self._controller is not None

    def messages(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def ids(self) -> list[str]:
        return [m.message_id for m in self.messages()]

    def count(self, message_ids: set[str] | None = None) -> int:
        ids = self.ids()
        return len(ids) if message_ids is None else sum(1 for i in ids if i in message_ids)
