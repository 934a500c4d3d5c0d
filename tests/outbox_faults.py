"""Faults for outbox tests: a worker that dies at the worst moment, after a message went out and
before it was recorded as delivered."""

from __future__ import annotations

from statuspage import outbox
from statuspage.context import WriteContext
from statuspage.db.models import OutboxMessage


class Crash(BaseException):
    """The worker process dying: not an error the worker handles."""


class CrashAfterSend:
    """The real sender, in a worker that dies right after the call, before recording it."""

    def __init__(self, inner: outbox.Sender) -> None:
        self.inner = inner

    def send(self, message: OutboxMessage, ctx: WriteContext) -> outbox.Outcome:
        self.inner.send(message, ctx)
        raise Crash

    def close(self) -> None:
        pass
