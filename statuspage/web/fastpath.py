"""Requests put in canonical form in front of routing, and cache hits answered there.

**Canonical cache keys.** A cached public page is keyed by its path and the query parameters it
reads, nothing else: ``/?cb=123``, ``/?utm_source=mail`` and ``/`` are one page, one cache entry,
one ETag. Each cached route is registered with the parameters it reads and how each value is put
in canonical form (:class:`CacheKeys`, filled in by :mod:`statuspage.web.app`); in front of
routing the request is rewritten to that form — unknown parameters dropped, the last of repeated
ones kept (the one ``request.query_params`` returns), empty ones dropped (the pages read them as
absent), the rest in a fixed order, ids in their one spelling (``/incidents/007`` is
``/incidents/7``, ``?component=API`` is ``?component=api``). The handler, the page producer, the
cache and the fast path below all see the same canonical request, so a key always stands for the
bytes produced from it. A value the page refuses (``?page=abc``) is kept as written, so that the
400 still quotes it; its error page is cached under that key in the bounded LRU only, where it
cannot push out a good page (see :class:`statuspage.web.cache.PageCache`).

Unknown parameters are ignored rather than answered with a redirect to the canonical URL: links
carrying tracking or cache-busting parameters are followed by browsers, feed readers, badge
``<img>`` tags and API clients alike, and most of those do not follow redirects or would pay a
round trip for every visit; a redirect answer would also be one more response to cache per junk
URL. The page is the same either way, and its links never echo the query string. A path that is
not registered (a route added later) keeps its raw query string as its key: correct, only not
shared.

Computing the key costs a dict lookup for a page without parameters (the query string is dropped
unread) and one parse of the query string for a page with some; it never touches the database.

**Cache hits answered in front of everything.** While a page is cached and current, what the
site sends for it is known in advance: the body (or its gzip form) and headers that depend only
on the entry, the encoding asked for and whether ``If-None-Match`` matches. Sending that through
Starlette's error middleware, our three middlewares, the route table (scanned in order, a regular
expression per route) and ``Request``/``Response`` objects cost three times the work of a bare app
sending the same bytes. :class:`FastPath` sends it before all that, from raw headers made once per
entry, and only when the normal path would have sent the very same answer at once:

- the request is a GET or HEAD whose cache key (:func:`request_key`) the normal path served with
  a 200, and the page cache would return that very entry without waiting
  (:meth:`PageCache.current_entry`: the data version the watcher knows, not expired, no version
  read pending after a write);
- the version can be read (while the database is down, everything takes the normal path);
- the answer is a 304 when ``If-None-Match`` matches by the normal rule (:func:`etag_matches`),
  else the 200; identity or gzip as :func:`wants_gzip` chooses; the headers are those the normal
  path makes for the same entry, variant and ``Cache-Control`` (security and cross-origin
  headers included), made by its own code when :meth:`CachedAnswers.remember` recorded the entry.

Everything else goes to the application, in canonical form for a registered path, else unchanged.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote

from starlette.routing import get_route_path
from starlette.types import Scope, Send

from statuspage.web.cache import PageCache, Rendered

RawHeaders = list[tuple[bytes, bytes]]
# A value as the request gave it (never empty) → its canonical spelling; None: as if absent.
Normaliser = Callable[[str], str | None]
# The scope entry that carries a canonical request's cache key from here to Site.respond.
CACHE_KEY = "statuspage.cache_key"


def cache_key(scope: Scope) -> str:
    """The page cache key of a request as it is: its path and query string."""
    query = scope["query_string"]
    return scope["path"] + ("?" + query.decode("latin-1") if query else "")


def request_key(scope: Scope) -> str:
    """The key a request is cached under: the canonical one :class:`CacheKeys` put in the scope,
    or, for a path it does not know, the path and query string as they are."""
    key: str | None = scope.get(CACHE_KEY)
    return key if key is not None else cache_key(scope)


@dataclass(frozen=True, slots=True)
class _Rule:
    params: tuple[tuple[str, Normaliser], ...]  # by name, in the order the canonical query lists them
    path_value: Normaliser | None  # for the {placeholder} of a pattern


class CacheKeys:
    """The cached public routes: which query parameters each reads, and how each is normalised."""

    def __init__(self) -> None:
        self._exact: dict[str, _Rule] = {}
        self._patterns: list[tuple[str, str, _Rule]] = []  # (prefix, suffix, rule), first match wins
        self.fixed: set[str] = set()  # the paths without a placeholder: the site's own pages

    def register(self, path: str, params: Mapping[str, Normaliser] | None = None, path_value: Normaliser | None = None) -> None:
        """Register a route path (``/history`` or ``/incidents/{incident_id}``, one placeholder at
        most, matched within one path segment). Register a more specific pattern first."""
        rule = _Rule(tuple(sorted((params or {}).items())), path_value)
        if "{" in path:
            prefix, _, rest = path.partition("{")
            self._patterns.append((prefix, rest.partition("}")[2], rule))
        else:
            self._exact[path] = rule
            self.fixed.add(path)

    def canonical(self, scope: Scope) -> Scope:
        """The request in canonical form, with its key in ``scope[CACHE_KEY]``: ``scope`` itself
        when it already is, else a copy (the server keeps the request as it came, for its log).
        A path that is not registered is returned as it is, without a key."""
        path: str = scope["path"]
        route_path = path
        if scope.get("root_path"):
            route_path = get_route_path(scope)
        rule = self._exact.get(route_path)
        canonical_path = path
        if rule is None:
            for prefix, suffix, candidate in self._patterns:
                if route_path.startswith(prefix) and route_path.endswith(suffix):
                    value = route_path[len(prefix) : len(route_path) - len(suffix)]
                    if value and "/" not in value:
                        rule = candidate
                        if candidate.path_value is not None:
                            value = candidate.path_value(value) or value
                            canonical_path = path[: len(path) - len(route_path)] + prefix + value + suffix
                        break
            if rule is None:
                return scope
        query: bytes = scope["query_string"]
        canonical_query = _canonical_query(rule, query) if query else b""
        key = canonical_path + ("?" + canonical_query.decode("ascii") if canonical_query else "")
        if canonical_path == path and canonical_query == query:
            scope[CACHE_KEY] = key
            return scope
        return {**scope, "path": canonical_path, "query_string": canonical_query, CACHE_KEY: key}


def _canonical_query(rule: _Rule, query: bytes) -> bytes:
    if not rule.params:
        return b""
    # Parsed as Starlette's QueryParams does; dict() keeps the last of repeated names, as .get().
    values = dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True))
    parts = []
    for name, normalise in rule.params:
        raw = values.get(name)
        value = normalise(raw) if raw else None
        if value:
            parts.append(f"{name}={quote(value, safe='')}")
    return "&".join(parts).encode("ascii")


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


# What the fast path sends: status, raw headers, body.
Answer = tuple[int, RawHeaders, bytes]
# The raw headers the normal path sends for an entry: (path, entry, gzip?, Cache-Control, 304?).
HeaderMaker = Callable[[str, Rendered, bool, str, bool], RawHeaders]


@dataclass(frozen=True, slots=True)
class _Served:
    entry: Rendered
    cache_control: str
    etags: tuple[str, str]
    answers: tuple[Answer, Answer, Answer, Answer]  # 200 identity, 200 gzip, 304 identity, 304 gzip


class CachedAnswers:
    """The answers (200 and 304, identity and gzip) of the entries the normal path served, by
    cache key, bounded like the cache."""

    def __init__(self, cache: PageCache, make_headers: HeaderMaker, keys: CacheKeys | None = None) -> None:
        self.cache = cache
        self.keys = keys or CacheKeys()
        self._make_headers = make_headers
        self._served: OrderedDict[str, _Served] = OrderedDict()

    def remember(self, key: str, path: str, entry: Rendered, cache_control: str) -> None:
        if entry.produced.status_code != 200:  # error pages always take the normal path
            return
        served = self._served.get(key)
        if served is not None and served.entry is entry and served.cache_control == cache_control:
            return
        make = self._make_headers
        body, gzipped = entry.produced.body, entry.gzipped
        answers = (
            (200, make(path, entry, False, cache_control, False), body),
            (200, make(path, entry, True, cache_control, False), gzipped if gzipped is not None else body),
            (304, make(path, entry, False, cache_control, True), b""),
            (304, make(path, entry, True, cache_control, True), b""),
        )
        self._served[key] = _Served(entry, cache_control, (entry.etag, gzip_etag(entry)), answers)
        self._served.move_to_end(key)
        while len(self._served) > self.cache.max_entries:
            self._served.popitem(last=False)

    def answer(self, scope: Scope) -> Answer | None:
        """What the normal path would send at once for this request, or None."""
        key = request_key(scope)
        served = self._served.get(key)
        if served is None or self.cache.watcher.failing or self.cache.current_entry(key) is not served.entry:
            return None
        if_none_match = accept_encoding = None
        for name, value in scope["headers"]:  # the first of each, as Request.headers.get
            if name == b"if-none-match" and if_none_match is None:
                if_none_match = value
            elif name == b"accept-encoding" and accept_encoding is None:
                accept_encoding = value
        use_gzip = wants_gzip(served.entry, accept_encoding.decode("latin-1") if accept_encoding else "")
        if if_none_match and etag_matches(if_none_match.decode("latin-1"), served.etags):
            return served.answers[2 + use_gzip]
        return served.answers[use_gzip]


class FastPath:
    """Puts GET and HEAD requests in canonical form (:meth:`CacheKeys.canonical`) and sends what
    :meth:`CachedAnswers.answer` can; called by the application before anything else."""

    def __init__(self, answers: CachedAnswers) -> None:
        self.answers = answers
        self.keys = answers.keys

    async def __call__(self, scope: Scope, send: Send) -> Scope | None:
        """None when answered; else the request for the application, in canonical form."""
        if scope["method"] not in ("GET", "HEAD"):
            return scope
        scope = self.keys.canonical(scope)
        answer = self.answers.answer(scope)
        if answer is None:
            return scope
        status, headers, body = answer
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return None
