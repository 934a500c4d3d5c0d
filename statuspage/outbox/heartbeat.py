"""Keeping a live worker's claim on the messages it is sending."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import col

from statuspage.context import Process
from statuspage.db.models import OutboxMessage
from statuspage.outbox.store import PENDING, one_line

log = logging.getLogger(__name__)


class Heartbeat:
    """Renews a worker's claim on the messages it holds, every third of the lease, from a thread
    of its own, until stopped: the lease can then be short, so that a killed worker's messages
    (and every message queued behind them under the same ordering key) are taken over quickly.

    Each renewal moves ``claimed_until`` on only where it still holds the value this worker wrote
    last, so a claim another worker took over (after this one stalled past its lease) is never
    renewed by mistake; :meth:`holds` then says the message is no longer this worker's to send.
    """

    def __init__(self, runtime: Process, messages: Sequence[OutboxMessage], lease: timedelta) -> None:
        self.runtime = runtime
        self.lease = lease
        self._lock = threading.Lock()
        # Held for a whole renewal, so that a message taken for recording is not renewed meanwhile.
        self._renewing = threading.Lock()
        self._held: dict[int, datetime] = {
            m.id: m.claimed_until for m in messages if m.id is not None and m.claimed_until is not None
        }
        self._lost: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        if self._held:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def take(self, message: OutboxMessage) -> datetime | None:
        """Stop renewing ``message`` (its outcome is about to be recorded) and return the
        ``claimed_until`` this worker wrote last, or None if another worker has taken it over."""
        with self._renewing, self._lock:
            if message.id in self._lost:
                return None
            return self._held.pop(message.id or 0, message.claimed_until)

    def holds(self, message: OutboxMessage) -> bool:
        with self._lock:
            return message.id not in self._lost

    def _run(self) -> None:
        interval = max(self.lease.total_seconds() / 3, 0.05)
        while not self._stop.wait(interval):
            try:
                self.renew()
            except Exception as exc:  # noqa: BLE001 - a missed renewal only shortens the claim
                log.warning("could not renew the claim on outbox messages: %s", one_line(str(exc))[:200])

    def renew(self) -> None:
        with self._renewing:
            self._renew()

    def _renew(self) -> None:
        with self._lock:
            held = dict(self._held)
        if not held:
            return
        until = self.runtime.clock.now() + self.lease
        renewed: set[int] = set()
        with self.runtime.session() as session:
            try:
                for message_id, token in held.items():
                    result = session.exec(
                        update(OutboxMessage)
                        .where(
                            col(OutboxMessage.id) == message_id,
                            col(OutboxMessage.state) == PENDING,
                            col(OutboxMessage.claimed_until) == token,
                        )
                        .values(claimed_until=until)
                        .execution_options(synchronize_session=False)
                    )
                    if result.rowcount:
                        renewed.add(message_id)
                session.commit()
            except BaseException:
                session.rollback()
                raise
        with self._lock:
            for message_id in held:
                if message_id not in self._held:
                    continue  # recorded meanwhile
                if message_id in renewed:
                    self._held[message_id] = until
                else:
                    self._lost.add(message_id)
                    del self._held[message_id]
