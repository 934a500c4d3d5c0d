"""Revalidations answered in front of routing: a 304 for a cached page from precomputed headers.

Browsers and CDNs that already hold a page ask again with ``If-None-Match``. When the page is
cached and current, the answer is a bodiless 304 whose headers are known in advance; sending it
through the middlewares, the route table and ``Request``/``Response`` objects cost more than the
answer itself (the path reached half a bare app's throughput). :class:`NotModifiedFastPath`
answers it before all that, and only when the normal path would have sent the same 304 at once:

- the request is a GET or HEAD whose cache key (:func:`cache_key`) the normal path served, and the
  page cache would return that very entry without waiting (:meth:`PageCache.current_entry`: the
  data version the watcher knows, not expired, no version read pending after a write);
- the version can be read (while the database is down, everything takes the normal path);
- ``If-None-Match`` matches by the normal rule (:func:`etag_matches`), and the headers are those
  the normal path makes for the same entry, variant (:func:`wants_gzip`) and ``Cache-Control``,
  recorded by :meth:`Revalidations.remember` when it served the entry.

Everything else goes to the application unchanged.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from statuspage.web.cache import PageCache, Rendered

RawHeaders = list[tuple[bytes, bytes]]


def cache_key(scope: Scope) -> str:
    """The page cache key of a request: its path and query string."""
    query = scope["query_string"]
    return scope["path"] + ("?" + query.decode("latin-1") if query else "")


def wants_gzip(entry: Rendered, accept_encoding: str) -> bool:
    return entry.gzipped is not None and "gzip" in accept_encoding.lower()


def gzip_etag(entry: Rendered) -> str:
    return entry.etag[:-1] + '-gzip"'


def etag_matches(if_none_match: str | None, etags: tuple[str, ...]) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    offered = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return any(tag in offered for tag in etags)


@dataclass(frozen=True, slots=True)
class _Served:
    entry: Rendered
    cache_control: str
    etags: tuple[str, str]
    headers: tuple[RawHeaders, RawHeaders]  # the 304's headers: identity, gzip


class Revalidations:
    """The 304 headers of the entries the normal path served, by cache key (bounded like the cache)."""

    def __init__(self, cache: PageCache, headers_304: Callable[[Rendered, bool, str], RawHeaders]) -> None:
        self.cache = cache
        self._headers_304 = headers_304
        self._served: OrderedDict[str, _Served] = OrderedDict()

    def remember(self, key: str, entry: Rendered, cache_control: str) -> None:
        if entry.produced.status_code != 200:  # error pages are never revalidated
            return
        served = self._served.get(key)
        if served is not None and served.entry is entry and served.cache_control == cache_control:
            return
        headers = (self._headers_304(entry, False, cache_control), self._headers_304(entry, True, cache_control))
        self._served[key] = _Served(entry, cache_control, (entry.etag, gzip_etag(entry)), headers)
        self._served.move_to_end(key)
        while len(self._served) > self.cache.max_entries:
            self._served.popitem(last=False)

    def answer(self, scope: Scope) -> RawHeaders | None:
        """The headers of the 304 the normal path would send at once, or None."""
        if_none_match = accept_encoding = None
        for name, value in scope["headers"]:  # the first of each, as Request.headers.get
            if name == b"if-none-match" and if_none_match is None:
                if_none_match = value
            elif name == b"accept-encoding" and accept_encoding is None:
                accept_encoding = value
        if not if_none_match:
            return None
        key = cache_key(scope)
        served = self._served.get(key)
        if served is None or self.cache.watcher.failing or self.cache.current_entry(key) is not served.entry:
            return None
        if not etag_matches(if_none_match.decode("latin-1"), served.etags):
            return None
        return served.headers[wants_gzip(served.entry, accept_encoding.decode("latin-1") if accept_encoding else "")]


class NotModifiedFastPath:
    """ASGI middleware: answers what :meth:`Revalidations.answer` can, passes on the rest."""

    def __init__(self, app: ASGIApp, revalidations: Revalidations) -> None:
        self.app = app
        self.revalidations = revalidations

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            headers = self.revalidations.answer(scope)
            if headers is not None:
                await send({"type": "http.response.start", "status": 304, "headers": headers})
                await send({"type": "http.response.body", "body": b""})
                return
        await self.app(scope, receive, send)
