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
        self.failing = False  # the last read of the version failed: pages are served from the cache
        self._refreshing: asyncio.Task[None] | None = None

    def invalidate(self) -> None:
        """Forget the cached version; the next request re-reads it (after a write in this process)."""
        self._checked_at = float("-inf")

    def known(self) -> int | None:
        """The version :meth:`current` answers without waiting for a read, or None when it must
        wait (never read, after a write in this process, or the last read is too old)."""
        age = self._monotonic() - self._checked_at
        if self._version is not None and age < self.check_interval:
            return self._version
        if self._version is not None and age < 2 * self.check_interval:
            # Due, but the known version is recent: answer with it and re-read in the background.
            # Under load the read waits for the GIL behind the event loop; making every request
            # queue behind it stalled all connections twice a second (p99 ~5x a bare app's).
            if self._refreshing is None or self._refreshing.done():
                self._refreshing = asyncio.ensure_future(self._refresh())
            return self._version
        return None

    async def current(self) -> int:
        version = self.known()
        if version is not None:
            return version
        await self._refresh()
        assert self._version is not None
        return self._version

    async def _refresh(self) -> None:
        async with self._lock:
            if self._version is None or self._monotonic() - self._checked_at >= self.check_interval:
                try:
                    self._version = await run_in_threadpool(self._read)
                except Exception as exc:
                    if self._version is None:
                        raise
                    # The database is unreachable: keep serving what was last rendered. Said once
                    # per outage, in one line: an outage must not flood the log with tracebacks.
                    if not self.failing:
                        log.warning("cannot read the data version (%s); serving cached pages", _one_line(exc))
                    self.failing = True
                else:
                    if self.failing:
                        log.warning("the data version can be read again; pages are current")
                    self.failing = False
                self._checked_at = self._monotonic()


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

    def current_entry(self, key: str) -> Rendered | None:
        """The entry :meth:`get` would return at once, without waiting for a version read or a
        render; None when it would wait, render, or fall back to a stale copy."""
        version = self.watcher.known()
        entry = self._entries.get(key)
        if version is None or not self._fresh(entry, version):
            return None
        self._entries.move_to_end(key)
        return entry

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
            except Exception as exc:
                if entry is None:
                    raise
                # Stale-if-error: the last good rendering beats an error page during an outage.
                log.warning("cannot render %s (%s); serving the copy from version %s", key, _one_line(exc), entry.version)
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


def _one_line(exc: BaseException) -> str:
    """The error's type and the first line of its message (a database error's message goes on
    for lines, with a link to SQLAlchemy's documentation)."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
