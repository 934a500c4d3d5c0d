"""A real SMTP server for the tests (aiosmtpd), with answers that can be made to fail.

``serve()`` starts one on a free local port and yields it; ``server.url`` is what
``STATUSPAGE_SMTP_URL`` takes. Every accepted message is kept (``server.messages``) and answered
``250 2.0.0 Ok: queued as Q00001`` (a queue id, like Postfix). ``server.fail("RCPT", "451 4.3.0
Try again later", times=1)`` answers the next such command with that instead; ``to=`` limits it
to one recipient; ``times=None`` keeps failing.

Run it on its own to watch what the worker sends: ``python -m tests.smtp_server --port 2525``,
then ``STATUSPAGE_SMTP_URL=smtp://127.0.0.1:2525 incident watch``; every message is printed.
"""

from __future__ import annotations

import argparse
import email
import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    queue_id: str

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    def part(self, subtype: str) -> str:
        body = self.message.get_body((subtype,))
        assert body is not None, f"no text/{subtype} part"
        return str(body.get_content())  # type: ignore[attr-defined]


@dataclass
class Fault:
    stage: str
    reply: str
    to: str | None
    times: int | None


class Handler:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[Received] = []
        self.faults: list[Fault] = []
        self.commands: list[tuple[str, str]] = []
        self._queue = itertools.count(1)

    def _fault(self, stage: str, address: str) -> str | None:
        with self.lock:
            self.commands.append((stage, address))
            for fault in self.faults:
                if fault.stage == stage and (fault.to is None or fault.to == address) and fault.times != 0:
                    if fault.times is not None:
                        fault.times -= 1
                    return fault.reply
        return None

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]) -> str:
        refused = self._fault("MAIL", address)
        if refused:
            return refused
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        refused = self._fault("RCPT", address)
        if refused:
            return refused
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        refused = self._fault("DATA", ",".join(envelope.rcpt_tos))
        if refused:
            return refused
        queue_id = f"Q{next(self._queue):05d}"
        data = envelope.original_content or envelope.content
        with self.lock:
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(data), queue_id))
        return f"250 2.0.0 Ok: queued as {queue_id}"


class SmtpServer:
    def __init__(self, controller: Controller, handler: Handler, port: int, user: str | None) -> None:
        self.controller = controller
        self.handler = handler
        self.port = port
        self.user = user

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def messages(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.messages)

    def to(self, address: str) -> list[Received]:
        return [m for m in self.messages if address in m.rcpt_tos]

    def fail(self, stage: str, reply: str, *, to: str | None = None, times: int | None = 1) -> None:
        with self.handler.lock:
            self.handler.faults.append(Fault(stage, reply, to, times))

    def clear_faults(self) -> None:
        with self.handler.lock:
            self.handler.faults.clear()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(*, port: int | None = None, logins: dict[str, str] | None = None) -> Iterator[SmtpServer]:
    """Start a server; with ``logins`` it offers AUTH (without TLS, for tests) and checks them."""
    handler = Handler()
    chosen = port or free_port()
    extra: dict[str, Any] = {}
    if logins is not None:

        def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
            ok = isinstance(auth_data, LoginPassword) and logins.get(auth_data.login.decode()) == auth_data.password.decode()
            return AuthResult(success=ok, handled=False)

        extra = {"authenticator": authenticator, "auth_require_tls": False, "auth_required": False}
    controller = Controller(handler, hostname="127.0.0.1", port=chosen, server_hostname="mx.test", **extra)
    controller.start()
    try:
        yield SmtpServer(controller, handler, chosen, None)
    finally:
        controller.stop()


@dataclass
class Silent:
    """A port that accepts connections and never says a word: an SMTP server that hangs."""

    port: int
    stop: Callable[[], None]

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?timeout=0.3"


def silent() -> Iterator[Silent]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not done.is_set():
            try:
                conn, _ = listener.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield Silent(int(listener.getsockname()[1]), done.set)
    finally:
        done.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        listener.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="A local SMTP server that prints what it receives.")
    parser.add_argument("--port", type=int, default=2525)
    args = parser.parse_args()
    for server in serve(port=args.port):
        print(f"listening on {server.url}; Ctrl-C to stop", flush=True)
        seen = 0
        try:
            while True:
                time.sleep(0.5)
                for message in server.messages[seen:]:
                    parsed = message.message
                    print(f"{message.queue_id} to {', '.join(message.rcpt_tos)}: {parsed['Subject']}", flush=True)
                    print(message.part("plain"), flush=True)
                seen = len(server.messages)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
