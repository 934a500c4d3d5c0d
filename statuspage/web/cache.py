"""Rendered pages and JSON, cached in memory per process and keyed by the data version.

Every write transaction bumps ``site_state.data_version`` (see :mod:`statuspage.context`). Each
worker process keeps the bytes it rendered together with the version they were rendered at, and
reads the current version from the database at most once per ``check_interval`` — reading it on
every request would cost two thirds of the throughput, while checking twice a second still shows
a change on every worker of a multi-process deployment within a second.

An entry also expires after ``max_age`` seconds even when nothing was written, because some
content moves with the clock alone (the day in the uptime bars, a maintenance window beginning).

Concurrent requests for a missing entry wait for one render instead of each rendering (no
stampede when a thousand customers reload at the moment an incident is declared).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool

MIN_GZIP_BYTES = 512
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Produced:
    """What a page producer returns: the bytes to cache and how to send them."""

    body: bytes
    media_type: str
    status_code: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Rendered:
    """One cached representation, ready to send: the body, its gzip form and its strong ETag."""

    version: int
    rendered_at: float
    produced: Produced
    etag: str
    gzipped: bytes | None

    @classmethod
    def make(cls, version: int, produced: Produced, now: float) -> Rendered:
        body = produced.body
        digest = hashlib.blake2b(body, digest_size=12).hexdigest()
        gzipped = gzip.compress(body, compresslevel=6, mtime=0) if len(body) >= MIN_GZIP_BYTES else None
        return cls(version, now, produced, f'"{digest}"', gzipped)


class VersionWatcher:
    """The data version, re-read from the database at most every ``check_interval`` seconds."""

    def __init__(self, read_version: Callable[[], int], check_interval: float = 0.5, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._read = read_version
        self.check_interval = check_interval
        self._monotonic = monotonic
        self._version: int | None = None
        self._checked_at = float("-inf")
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        """Forget the cached version; the next request re-reads it (after a write in this process)."""
        self._checked_at = float("-inf")

    async def current(self) -> int:
        if self._version is not None and self._monotonic() - self._checked_at < self.check_interval:
            return self._version
        async with self._lock:
            if self._version is None or self._monotonic() - self._checked_at >= self.check_interval:
                try:
                    self._version = await run_in_threadpool(self._read)
                except Exception:
                    if self._version is None:
                        raise
                    # The database is unreachable: keep serving what was last rendered.
                    log.warning("cannot read the data version; serving cached pages", exc_info=True)
                self._checked_at = self._monotonic()
            return self._version


class PageCache:
    """A bounded LRU of :class:`Rendered` entries; query strings are visitor-controlled, so the
    number of entries is capped."""

    def __init__(self, watcher: VersionWatcher, *, max_entries: int = 512, max_age: float = 30.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.watcher = watcher
        self.max_entries = max_entries
        self.max_age = max_age
        self._monotonic = monotonic
        self._entries: OrderedDict[str, Rendered] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self.renders = 0  # how many times a producer ran; tests and benchmarks read it

    def _fresh(self, entry: Rendered | None, version: int) -> bool:
        return entry is not None and entry.version == version and self._monotonic() - entry.rendered_at < self.max_age

    async def get(self, key: str, produce: Callable[[], Produced]) -> Rendered:
        version = await self.watcher.current()
        entry = self._entries.get(key)
        if self._fresh(entry, version):
            self._entries.move_to_end(key)
            assert entry is not None
            return entry
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            entry = self._entries.get(key)
            if self._fresh(entry, version):
                assert entry is not None
                return entry
            try:
                produced = await run_in_threadpool(produce)
            except Exception:
                if entry is None:
                    raise
                # Stale-if-error: the last good rendering beats an error page during an outage.
                log.warning("cannot render %s; serving the copy from version %s", key, entry.version, exc_info=True)
                return entry
            self.renders += 1
            entry = Rendered.make(version, produced, self._monotonic())
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                old_key, _ = self._entries.popitem(last=False)
                self._locks.pop(old_key, None)
            return entry

    def clear(self) -> None:
        self._entries.clear()
