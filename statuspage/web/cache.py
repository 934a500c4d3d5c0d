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

Two stores hold the renderings. The LRU (``max_entries``) holds whatever was rendered last,
error pages included. Beside it, :class:`LastGood` holds the last good (2xx) rendering of every
canonical public URL (see :class:`statuspage.web.fastpath.CacheKeys`): the site's own pages, and,
evicted oldest first when it is full, incident permalinks, history pages and per-component
views. Nothing a visitor puts in a URL can push a good page out of it (a junk value's error page
lands in the LRU only), so it is both a cache hit while current and, when the database is
unreachable, the copy served in its place (stale-if-error). An address this process never
rendered, asked for while the database is unreachable, raises :class:`Unavailable` (a 503).
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
from typing import Literal

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.concurrency import run_in_threadpool

MIN_GZIP_BYTES = 512
# What a database that cannot be reached raises (a refused connection, a dropped one, a pool that
# cannot hand one out in time). Other errors are faults in the page and stay 500s.
OUTAGE_ERRORS = (DBAPIError, SQLAlchemyTimeoutError)
log = logging.getLogger(__name__)

# How a rendering is kept besides the LRU: "page", one of the site's own pages (evicted last);
# "view", an incident permalink, a history page, a per-component view (evicted oldest first);
# None, not a canonical URL (the LRU only).
Keep = Literal["page", "view"] | None


class Unavailable(Exception):
    """The database cannot be read and this process holds no copy of the address."""


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

    @property
    def size(self) -> int:
        return len(self.produced.body) + len(self.gzipped or b"")


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
        """The data version; :class:`Unavailable` when it was never read and cannot be now."""
        version = self.known()
        if version is not None:
            return version
        await self._refresh()
        if self._version is None:
            raise Unavailable("the data version cannot be read")
        return self._version

    async def _refresh(self) -> None:
        async with self._lock:
            if self._monotonic() - self._checked_at < self.check_interval:
                return  # read (or tried) meanwhile; a failed first read is not retried sooner
            try:
                self._version = await run_in_threadpool(self._read)
            except Exception as exc:
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


class LastGood:
    """The last 2xx rendering of each canonical URL, bounded by count and bytes: when full, the
    oldest "view" goes first, a "page" only when no view is left."""

    def __init__(self, max_entries: int = 2048, max_bytes: int = 64 << 20) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._pages: OrderedDict[str, Rendered] = OrderedDict()
        self._views: OrderedDict[str, Rendered] = OrderedDict()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._pages) + len(self._views)

    def get(self, key: str) -> Rendered | None:
        entry = self._pages.get(key)
        return entry if entry is not None else self._views.get(key)

    def put(self, key: str, entry: Rendered, keep: Literal["page", "view"]) -> None:
        self.discard(key)
        store = self._pages if keep == "page" else self._views
        store[key] = entry
        self.bytes += entry.size
        while len(self) > self.max_entries or (self.bytes > self.max_bytes and len(self) > 1):
            _, old = (self._views or self._pages).popitem(last=False)
            self.bytes -= old.size

    def discard(self, key: str) -> None:
        """Forget ``key`` (it now renders an error: the page is gone, or no longer public)."""
        old = self._pages.pop(key, None) or self._views.pop(key, None)
        if old is not None:
            self.bytes -= old.size

    def clear(self) -> None:
        self._pages.clear()
        self._views.clear()
        self.bytes = 0


class PageCache:
    """A bounded LRU of :class:`Rendered` entries, backed by :class:`LastGood`."""

    def __init__(
        self,
        watcher: VersionWatcher,
        *,
        max_entries: int = 512,
        max_age: float = 30.0,
        last_good: LastGood | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.watcher = watcher
        self.max_entries = max_entries
        self.max_age = max_age
        self.last_good = last_good or LastGood()
        self._monotonic = monotonic
        self._entries: OrderedDict[str, Rendered] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self.renders = 0  # how many times a producer ran; tests and benchmarks read it

    def _fresh(self, entry: Rendered | None, version: int) -> bool:
        return entry is not None and entry.version == version and self._monotonic() - entry.rendered_at < self.max_age

    def _lookup(self, key: str) -> Rendered | None:
        """The newest rendering of ``key`` held (the LRU's, else the last good one)."""
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            return entry
        return self.last_good.get(key)

    def current_entry(self, key: str) -> Rendered | None:
        """The entry :meth:`get` would return at once, without waiting for a version read or a
        render; None when it would wait, render, or fall back to a stale copy."""
        version = self.watcher.known()
        if version is None:
            return None
        entry = self._lookup(key)
        return entry if self._fresh(entry, version) else None

    async def get(self, key: str, produce: Callable[[], Produced], *, keep: Keep = None) -> Rendered:
        """The current rendering of ``key``, rendered by ``produce`` when there is none; the last
        one held when the database fails; :class:`Unavailable` when none is held."""
        try:
            version = await self.watcher.current()
        except Unavailable:
            entry = self._lookup(key)
            if entry is None:
                raise
            return entry
        entry = self._lookup(key)
        if self._fresh(entry, version):
            assert entry is not None
            return entry
        lock = self._locks.get(key)
        if lock is None:
            if len(self._locks) >= 2 * self.max_entries:
                self._locks = {k: held for k, held in self._locks.items() if held.locked()}
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            entry = self._lookup(key)
            if self._fresh(entry, version):
                assert entry is not None
                return entry
            try:
                produced = await run_in_threadpool(produce)
            except Exception as exc:
                if entry is None:
                    if isinstance(exc, OUTAGE_ERRORS):
                        log.warning("cannot render %s (%s) and hold no copy of it", key, _one_line(exc))
                        raise Unavailable(f"cannot render {key}") from exc
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
            if keep is not None and 200 <= produced.status_code < 300:
                self.last_good.put(key, entry, keep)
            else:
                self.last_good.discard(key)
            return entry

    def clear(self) -> None:
        self._entries.clear()
        self.last_good.clear()


def _one_line(exc: BaseException) -> str:
    """The error's type and the first line of its message (a database error's message goes on
    for lines, with a link to SQLAlchemy's documentation)."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
