"""The admin API's record of refused requests, written off the request path.

A refusal (401, 403, 405, or 503 while the database is away) is answered before any handler runs,
and must stay cheap: one audit row per anonymous request let anyone fill the audit log (10,000
bad requests, 10,000 rows), and writing it made every refusal wait out a held SQLite write lock
(30 s each, until the thread pool was full and /healthz stopped answering).

So refusals are only noted in memory here, and a background thread writes them every few seconds
(and at shutdown, see :meth:`RefusalLog.close`):

- anonymous ones (no known token) as counts: one ``api.refused`` audit event per client address,
  minute, status and reason (per process), with how many there were, when the first and the last
  came, and the commonest requests (method and path); a flush within the same minute adds to the
  event it wrote before;
- attributable ones (a revoked token still in use, a read token on a write) each as its own
  ``api.request`` event, as the access audit records every request of a known token.

While the database cannot be written, what is pending is kept and written at the next flush that
succeeds. Memory is bounded: past :data:`MAX_PENDING` keys, new addresses are counted under no
address, and attributable events past it are counted like anonymous ones.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from statuspage.db.engine import new_session
from statuspage.db.models import AuditEvent
from statuspage.domain.enums import Source
from statuspage.retention import REFUSED_ACTION

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 5.0
MAX_PENDING = 10_000
# The commonest requests kept per count; the rest are only counted.
MAX_REQUESTS = 5
MAX_REQUEST_TEXT = 200

# (client address, minute, status, reason)
Key = tuple[str | None, datetime, int, str]


@dataclass
class Tally:
    count: int
    first_at: datetime
    last_at: datetime
    requests: Counter[str] = field(default_factory=Counter)
    other_requests: int = 0

    def note(self, request: str, n: int = 1) -> None:
        if request in self.requests or len(self.requests) < MAX_REQUESTS:
            self.requests[request] += n
        else:
            self.other_requests += n

    def copy(self) -> Tally:
        return Tally(self.count, self.first_at, self.last_at, Counter(self.requests), self.other_requests)

    def merge(self, other: Tally) -> None:
        self.count += other.count
        self.first_at = min(self.first_at, other.first_at)
        self.last_at = max(self.last_at, other.last_at)
        for request, n in other.requests.items():
            self.note(request, n)
        self.other_requests += other.other_requests


class RefusalLog:
    """Refused admin API requests, counted in memory and written by a background thread."""

    def __init__(self, engine: Engine, *, interval: float = FLUSH_INTERVAL, max_pending: int = MAX_PENDING) -> None:
        self.engine = engine
        self.interval = interval
        self.max_pending = max_pending
        self._lock = threading.Lock()
        self._tallies: dict[Key, Tally] = {}
        self._events: list[dict[str, Any]] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._failing = False
        # One flush at a time, and what it wrote for each recent key (the row's id and its total),
        # so that the next flush in the same minute adds to that row instead of adding a row.
        self._flushing = threading.Lock()
        self._written: dict[Key, tuple[int, Tally]] = {}

    # On the request path: memory only, never the database.

    def count(self, *, client: str | None, status: int, reason: str, request: str, at: datetime) -> None:
        """One anonymous refusal."""
        with self._lock:
            self._count(client, status, reason, request[:MAX_REQUEST_TEXT], at)
        self._ensure_thread()

    def add(self, event: AuditEvent) -> None:
        """One attributable refusal, written as the event it is."""
        data = event.model_dump(exclude={"id"})
        with self._lock:
            if len(self._events) < self.max_pending:
                self._events.append(data)
            else:
                after = data.get("after") or {}
                request = f"{after.get('method')} {after.get('path')}"[:MAX_REQUEST_TEXT]
                self._count(after.get("client"), int(after.get("status") or 0), str(after.get("problem") or ""), request, data["at"])
        self._ensure_thread()

    def _count(self, client: str | None, status: int, reason: str, request: str, at: datetime) -> None:
        key: Key = (client, at.replace(second=0, microsecond=0), status, reason)
        if key not in self._tallies and len(self._tallies) >= self.max_pending:
            key = (None, *key[1:])  # too many addresses at once: count them together
        tally = self._tallies.get(key)
        if tally is None:
            tally = self._tallies[key] = Tally(0, at, at)
        tally.count += 1
        tally.first_at = min(tally.first_at, at)
        tally.last_at = max(tally.last_at, at)
        tally.note(request)

    def pending(self) -> int:
        """How many refusals wait to be written."""
        with self._lock:
            return len(self._events) + sum(t.count for t in self._tallies.values())

    # Off the request path.

    def flush(self) -> int:
        """Write what is pending in one transaction; the number of audit events written or added
        to. On a database error everything is kept for the next flush."""
        with self._flushing:
            with self._lock:
                tallies, self._tallies = self._tallies, {}
                events, self._events = self._events, []
            if not tallies and not events:
                return 0
            try:
                written = self._write(tallies, events)
            except SQLAlchemyError as exc:
                self._put_back(tallies, events)
                if not self._failing:
                    log.warning("could not record refused admin API requests yet; kept for the next try: %s", exc)
                self._failing = True
                return 0
            if self._failing:
                log.info("recorded the refused admin API requests kept while the database was away")
            self._failing = False
            self._remember(written)
            return len(events) + len(tallies)

    def _write(self, tallies: dict[Key, Tally], events: list[dict[str, Any]]) -> dict[Key, tuple[AuditEvent, Tally]]:
        written: dict[Key, tuple[AuditEvent, Tally]] = {}
        with new_session(self.engine) as session:
            session.add_all(AuditEvent(**data) for data in events)
            for key, tally in sorted(tallies.items(), key=lambda item: item[1].first_at):
                total = tally.copy()
                row: AuditEvent | None = None
                if key in self._written:
                    row_id, before = self._written[key]
                    total = before.copy()
                    total.merge(tally)
                    row = session.get(AuditEvent, row_id)  # None once pruned: start a new one
                if row is None:
                    row = AuditEvent(
                        actor="anonymous",
                        source=Source.API.value,
                        action=REFUSED_ACTION,
                        subject_type="client",
                        subject_id=(key[0] or "many")[:64],
                    )
                    session.add(row)
                row.at = total.first_at
                row.after = _counted(key, total)
                written[key] = (row, total)
            session.commit()
        return written

    def _remember(self, written: dict[Key, tuple[AuditEvent, Tally]]) -> None:
        for key, (row, total) in written.items():
            assert row.id is not None
            self._written[key] = (row.id, total)
        if not self._written:
            return
        # Only the last minutes can get more: time moves on (the clock is the site's).
        newest = max(key[1] for key in self._written)
        for key in [key for key in self._written if key[1] < newest - timedelta(minutes=2)]:
            del self._written[key]
        if len(self._written) > self.max_pending:
            self._written.clear()

    def _put_back(self, tallies: dict[Key, Tally], events: list[dict[str, Any]]) -> None:
        with self._lock:
            for key, tally in tallies.items():
                if key in self._tallies:
                    self._tallies[key].merge(tally)
                elif len(self._tallies) < self.max_pending:
                    self._tallies[key] = tally
                else:
                    folded = (None, *key[1:])
                    self._tallies.setdefault(folded, Tally(0, tally.first_at, tally.last_at)).merge(tally)
            self._events[:0] = events[: max(0, self.max_pending - len(self._events))]

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop = threading.Event()
            # The thread holds the log weakly: an app that is dropped without being shut down
            # (a test's) does not keep a thread and an engine alive for ever.
            self._thread = threading.Thread(
                target=_flush_every, args=(weakref.ref(self), self._stop, self.interval), name="refusal-log", daemon=True
            )
            self._thread.start()

    def close(self) -> None:
        """Stop the thread and write what is pending (at shutdown). Counting afterwards starts
        the thread again."""
        thread = self._thread
        self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=60)
        self._thread = None
        self.flush()


def _flush_every(ref: weakref.ref[RefusalLog], stop: threading.Event, interval: float) -> None:
    while not stop.wait(interval):
        refusals = ref()
        if refusals is None:
            return
        try:
            refusals.flush()
        except Exception:  # noqa: BLE001 - the thread must outlive any one failure
            log.exception("recording refused admin API requests failed")
        del refusals


def _counted(key: Key, tally: Tally) -> dict[str, Any]:
    """The ``after`` of an ``api.refused`` event: never a secret, only what the server said."""
    client, minute, status, reason = key
    after: dict[str, Any] = {
        "client": client,
        "status": status,
        "problem": reason,
        "count": tally.count,
        "minute": minute.isoformat(),
        "first_at": tally.first_at.isoformat(),
        "last_at": tally.last_at.isoformat(),
        "requests": dict(tally.requests.most_common()),
    }
    if tally.other_requests:
        after["other_requests"] = tally.other_requests
    return after
