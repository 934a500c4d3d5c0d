"""One SMTP connection reused for the messages of a batch, and what the server's answers mean for
an outbox message. Every sender of email goes through it, so that they all reuse connections and
read the server's answers alike.

:class:`SmtpConnection` opens a connection on the first message and reuses it for the messages
that follow; one idle for longer than ``idle_seconds``, or that failed, is closed and the next
message opens a new one. A reused connection the server closed meanwhile is opened again once,
before anything of the message was sent.

:func:`classify` turns what :meth:`SmtpConnection.send` raised (:data:`FAILURES`) into an outbox
:class:`~statuspage.outbox.Outcome`:

- A 4xx answer (``421`` closing, ``451`` try later, a full mailbox), a refused connection, a
  time-out, a dropped connection: waited out, never a failed attempt, however long it lasts.
- A 5xx answer (``550`` no such user, a refused login, a message refused): it can never succeed,
  the message is dead.
- Any other answer: retried a few times (:data:`OTHER_ANSWER_ATTEMPTS`).

The connection is dropped by :meth:`~SmtpConnection.send` itself whenever the failure leaves it
unusable (any :class:`OSError`, a ``421``, an answer that is neither 4xx nor 5xx), so
:func:`classify` only reads the exception.
"""

from __future__ import annotations

import re
import smtplib
import ssl
import time

from statuspage.outbox import Outcome
from statuspage.smtp_url import SmtpTarget

IDLE_SECONDS = 10.0
OTHER_ANSWER_ATTEMPTS = 3
QUEUE_ID = re.compile(r"queued as\s+<?([A-Za-z0-9._@:+/=-]+)>?", re.IGNORECASE)


class SmtpAnswer(Exception):
    """The server answered a command with something other than success."""

    def __init__(self, stage: str, code: int, text: str) -> None:
        super().__init__(f"{code} {text}")
        self.stage, self.code, self.text = stage, code, text


# What SmtpConnection.send raises for a message the server did not take; classify reads each.
# (smtplib's exceptions are OSErrors.)
FAILURES: tuple[type[BaseException], ...] = (SmtpAnswer, OSError)


class SmtpConnection:
    """The connection of one worker to one SMTP server, for one message after another."""

    def __init__(self, target: SmtpTarget, *, idle_seconds: float = IDLE_SECONDS) -> None:
        self.target = target
        self.idle_seconds = idle_seconds
        self._conn: smtplib.SMTP | None = None
        self._last_used = 0.0
        # How many connections were opened, for the worker's log and for tests.
        self.connections = 0

    def send(self, sender: str, recipient: str, body: bytes) -> str:
        """One SMTP transaction; the server's final answer (``250 2.0.0 Ok: queued as …``).

        Raises :class:`SmtpAnswer` for a refused MAIL FROM, RCPT TO or DATA, and lets smtplib's
        exceptions and :class:`OSError` through; the connection is dropped first whenever it can
        no longer be used."""
        try:
            return self._transmit(sender, recipient, body)
        except SmtpAnswer as exc:
            if exc.code == 421 or not 400 <= exc.code < 600:
                self._drop()
            raise
        except OSError:
            self._drop()
            raise

    def close(self) -> None:
        """QUIT, if a connection is open."""
        self._drop(polite=True)

    def _transmit(self, sender: str, recipient: str, body: bytes) -> str:
        for _ in range(2):
            conn, fresh = self._connection()
            try:
                code, text = conn.mail(sender)
            except (smtplib.SMTPServerDisconnected, OSError):
                self._drop()
                if fresh:
                    raise
                continue  # the server closed the idle connection: nothing was sent, open another
            break
        if code != 250:
            self._reset(conn)
            raise SmtpAnswer("MAIL FROM", code, text_of(text))
        code, text = conn.rcpt(recipient)
        if code not in (250, 251):
            self._reset(conn)
            raise SmtpAnswer("RCPT TO", code, text_of(text))
        try:
            code, text = conn.data(body)
        except smtplib.SMTPDataError as exc:
            self._reset(conn)
            raise SmtpAnswer("DATA", exc.smtp_code, text_of(exc.smtp_error)) from None
        if code != 250:
            self._reset(conn)
            raise SmtpAnswer("the message", code, text_of(text))
        self._last_used = time.monotonic()
        return f"{code} {text_of(text)}"

    def _connection(self) -> tuple[smtplib.SMTP, bool]:
        if self._conn is not None and time.monotonic() - self._last_used > self.idle_seconds:
            self._drop(polite=True)
        if self._conn is not None:
            return self._conn, False
        target = self.target
        conn: smtplib.SMTP
        if target.tls:
            conn = smtplib.SMTP_SSL(target.host, target.port, timeout=target.timeout, context=ssl.create_default_context())
        else:
            conn = smtplib.SMTP(target.host, target.port, timeout=target.timeout)
        try:
            conn.ehlo()
            if target.starttls:
                conn.starttls(context=ssl.create_default_context())
                conn.ehlo()
            if target.user:
                conn.login(target.user, target.password or "")
        except BaseException:
            _close(conn)
            raise
        self._conn, self._last_used = conn, time.monotonic()
        self.connections += 1
        return conn, True

    def _reset(self, conn: smtplib.SMTP) -> None:
        try:
            code, _ = conn.rset()
        except (smtplib.SMTPException, OSError):
            code = 0
        if code != 250:
            self._drop()
        else:
            self._last_used = time.monotonic()

    def _drop(self, *, polite: bool = False) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if polite:
            try:
                conn.quit()
                return
            except (smtplib.SMTPException, OSError):
                pass
        _close(conn)


def classify(exc: BaseException, *, target: SmtpTarget, recipient: str) -> Outcome:
    """What a failure of :meth:`SmtpConnection.send` to ``target`` means for the message to
    ``recipient``. ``exc`` is one of :data:`FAILURES`; anything else is raised again."""
    if isinstance(exc, SmtpAnswer):
        return _refused(exc, target=target, recipient=recipient)
    # The order matters: the smtplib exceptions and the TLS ones are all OSErrors.
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        detail = f"{target.display} refused the login: {exc.smtp_code} {text_of(exc.smtp_error)}"
        if 400 <= exc.smtp_code < 500:
            return Outcome.wait(detail)
        return Outcome.dead(f"{detail}; check STATUSPAGE_SMTP_URL")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return Outcome.dead(f"{target.display}: {exc}; change STATUSPAGE_SMTP_URL (starttls, smtps://)")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return Outcome.dead(f"the TLS certificate of {target.host} is not trusted: {exc.verify_message}")
    if isinstance(exc, smtplib.SMTPConnectError):
        detail = f"{target.display} refused the connection: {exc.smtp_code} {text_of(exc.smtp_error)}"
        return Outcome.dead(detail) if exc.smtp_code >= 500 else Outcome.wait(detail)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        if isinstance(exc.__context__, TimeoutError):
            return Outcome.wait(f"no answer from {target.display} within {target.timeout:g}s")
        return Outcome.wait(f"{target.display} closed the connection: {exc or 'no reason given'}")
    # Any other answer of the server (a STARTTLS refused with 554, say) means what its code says;
    # an SMTP error without one (no authentication method in common) cannot get better by waiting.
    if isinstance(exc, smtplib.SMTPResponseException):
        detail = f"{target.display} answered {exc.smtp_code} {text_of(exc.smtp_error)}"
        return Outcome.wait(detail) if 400 <= exc.smtp_code < 500 else Outcome.dead(detail)
    if isinstance(exc, smtplib.SMTPException):
        return Outcome.dead(f"{target.display}: {exc}")
    if isinstance(exc, TimeoutError):
        return Outcome.wait(f"no answer from {target.display} within {target.timeout:g}s")
    if isinstance(exc, OSError):
        return Outcome.wait(f"cannot reach {target.display}: {type(exc).__name__}: {exc}")
    raise exc


def _refused(exc: SmtpAnswer, *, target: SmtpTarget, recipient: str) -> Outcome:
    answer = f"{exc.code} {text_of(exc.text)}".strip()
    if exc.stage == "RCPT TO":
        detail = f"{target.display} refused {recipient}: {answer}"
    else:
        detail = f"{target.display} answered {exc.stage} with {answer}"
    if 400 <= exc.code < 500:
        return Outcome.wait(detail)  # a 421 closed the connection: send() dropped it
    if 500 <= exc.code < 600:
        return Outcome.dead(detail, result={"answer": answer})
    return Outcome.retry(detail, max_attempts=OTHER_ANSWER_ATTEMPTS)  # send() dropped the connection


def queue_id(answer: str) -> str | None:
    """The server's queue id in its final answer (``250 … queued as ABC123``), if it gave one."""
    match = QUEUE_ID.search(answer)
    return match.group(1) if match else None


def text_of(value: bytes | str | None) -> str:
    """A server's answer text on one line."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return " ".join((value or "").split())


def _close(conn: smtplib.SMTP) -> None:
    try:
        conn.close()
    except OSError:
        pass
