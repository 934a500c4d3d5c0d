"""Sending to URLs that strangers gave us: only to public addresses, checked when we connect.

Customers register webhook URLs on the public status page and the worker POSTs to them. Without a
check, anyone could make the worker (which sits inside our network) call ``http://127.0.0.1:…``,
an intranet service on 10.x, or the cloud metadata service at 169.254.169.254, which hands out the
machine's credentials. So a URL is refused when its host is, or resolves to, any address that is
not public: loopback, private (RFC 1918, fc00::/7), link-local, carrier-grade NAT, unspecified,
multicast, reserved and the like, also when written in an IPv6 form that embeds such an IPv4
address (``::ffff:127.0.0.1``).

Checking the URL when it is registered is not enough: its DNS can point elsewhere later, or answer
differently from one query to the next (DNS rebinding). So :func:`post_pinned` resolves the name
at send time, checks every address, and connects to the checked address itself rather than
letting the HTTP client resolve the name again. The ``Host`` header and, for https, TLS (SNI and
certificate verification) still use the name. Redirects are never followed: a ``Location`` could
point anywhere.

``allow_private`` (the ``allow_private_webhooks`` setting) turns the address check off, for tests
and intranets where the receivers are private by design.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

# How much of a receiver's answer is read: enough to show why it refused, and a receiver cannot
# make us download more.
SNIPPET_BYTES = 300

_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")
_CARRIER_GRADE_NAT = ipaddress.IPv4Network("100.64.0.0/10")
_PRIVATE = (
    ipaddress.IPv4Network("10.0.0.0/8"),
    ipaddress.IPv4Network("172.16.0.0/12"),
    ipaddress.IPv4Network("192.168.0.0/16"),
    ipaddress.IPv6Network("fc00::/7"),
    ipaddress.IPv6Network("fec0::/10"),  # site-local: deprecated, but Python 3.11 calls it global
)
# The NAT64 well-known prefix: on an IPv6-only network with DNS64, an IPv4-only receiver resolves
# to one of these, so it is judged by the IPv4 address it carries (Python 3.11 calls it reserved).
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class Resolver(Protocol):
    """:func:`socket.getaddrinfo` as far as this module uses it; tests pass a fake."""

    def __call__(
        self, host: str, port: int, family: int = ..., type: int = ...
    ) -> Iterable[tuple[Any, Any, Any, Any, tuple[Any, ...]]]: ...


class AddressRefused(Exception):
    """A URL's host is, or resolves to, an address we do not send to; or it does not resolve.

    The message is one line naming the host and why. ``temporary`` is True only when the name
    did not resolve: DNS failures pass, so a sender waits them out, while an address in a refused
    range is refused for good (until the subscriber changes the URL or its DNS).
    """

    def __init__(self, message: str, *, host: str, address: str | None = None, temporary: bool = False) -> None:
        super().__init__(message)
        self.host = host
        self.address = address
        self.temporary = temporary


@dataclass(frozen=True)
class PostAnswer:
    """A receiver's answer as far as it was read: the status, the headers, and the body's first
    :data:`SNIPPET_BYTES` bytes (decoded as UTF-8, undecodable bytes replaced). ``address`` is the
    IP the request was sent to, for the delivery log."""

    status_code: int
    headers: httpx.Headers
    snippet: str
    address: str


def why_refused(ip: str) -> str | None:
    """None when ``ip`` is a public address, else what it is, with its article ("a loopback
    address"), to follow "resolves to 10.0.0.5, " in a message. Raises ValueError when ``ip`` is
    not an IP address."""
    return _why_refused(ipaddress.ip_address(ip))


def _why_refused(address: _IPAddress) -> str | None:
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv6 form of an IPv4 address reaches that IPv4 address, so it is judged by it: Python
        # 3.11 does not call ::ffff:127.0.0.1 loopback, nor 2002:7f00:1:: anything but global.
        for form, embedded in (
            ("IPv4-mapped", address.ipv4_mapped),
            ("NAT64", _nat64_embedded(address)),
            ("6to4", address.sixtofour),
        ):
            if embedded is not None:
                reason = _why_refused(embedded)
                return None if reason is None else f"{reason} in {form} form"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address in _THIS_NETWORK:
        # Connecting to 0.x.x.x reaches this host on Linux.
        return "an address in 0.0.0.0/8 (this host's network)"
    if address.is_link_local:
        return "a link-local address (cloud metadata services live there)"
    if address in _CARRIER_GRADE_NAT:
        return "a carrier-grade NAT address (100.64.0.0/10)"
    if address.is_multicast:
        return "a multicast address"
    if any(address in network for network in _PRIVATE):
        return "a private address"
    if address.is_reserved:
        return "a reserved address"
    if not address.is_global:
        # Documentation and benchmarking ranges, Teredo, 192.0.0.0/24 and the other special uses.
        return "a special-purpose address that is not publicly routable"
    return None


def _nat64_embedded(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address not in _NAT64:
        return None
    return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)


def check_host(host: str, port: int, *, allow_private: bool, resolve: Resolver = socket.getaddrinfo) -> list[str]:
    """The addresses to connect to for ``host``, in the resolver's order, each checked.

    An IP literal (``[::1]`` too) is taken as is; a name is resolved with ``resolve``. Every
    address must be allowed: if any one is refused the host is refused, since a name answering
    a public and a private address would otherwise reach the private one whenever a connection
    is made to it. Raises :class:`AddressRefused`, with ``temporary=True`` when the name does not
    resolve (DNS failures pass). ``allow_private`` skips the range check, not the resolving.
    """
    literal = _ip_literal(host)
    if literal is not None:
        if not allow_private and (reason := _why_refused(literal)) is not None:
            raise AddressRefused(
                f"{host} is {reason}; only public addresses are allowed", host=host, address=_shown(literal)
            )
        return [_shown(literal)]
    try:
        answers = resolve(host, port, type=socket.SOCK_STREAM)
        found = [ipaddress.ip_address(sockaddr[0]) for family, *_, sockaddr in answers if _is_inet(family)]
    except UnicodeError:
        # Python's IDNA codec refuses the name (an empty or over-long label): no DNS will help.
        raise AddressRefused(f"{host} is not a valid host name", host=host) from None
    except OSError as exc:
        why = exc.strerror or str(exc) or type(exc).__name__
        raise AddressRefused(f"{host} does not resolve ({why})", host=host, temporary=True) from exc
    if not found:
        raise AddressRefused(f"{host} does not resolve (no IPv4 or IPv6 address)", host=host, temporary=True)
    addresses = list(dict.fromkeys(found))
    if not allow_private:
        for address in addresses:
            if (reason := _why_refused(address)) is not None:
                raise AddressRefused(
                    f"{host} resolves to {_shown(address)}, {reason}; only public addresses are allowed",
                    host=host,
                    address=_shown(address),
                )
    return [_shown(address) for address in addresses]


def _ip_literal(host: str) -> _IPAddress | None:
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
    except ValueError:
        return None


def _shown(address: _IPAddress) -> str:
    """The address as people write it: Python 3.11 writes ::ffff:127.0.0.1 as ::ffff:7f00:1."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return str(address)


def _is_inet(family: Any) -> bool:
    return family in (socket.AF_INET, socket.AF_INET6)


def validate_public_url(url: str, *, allow_private: bool, resolve: Resolver = socket.getaddrinfo) -> None:
    """Refuse, when a URL is registered, one whose host is or resolves to a refused address, or
    does not resolve at all (a typo is better told now than found in the delivery log). The URL's
    shape (http or https, a host) is checked by the caller; this raises :class:`AddressRefused`
    for one it cannot read at all. Passing is no promise for later: :func:`post_pinned` checks
    again at each send."""
    target, host = _parse(url)
    check_host(host, _port(target), allow_private=allow_private, resolve=resolve)


def post_pinned(
    client: httpx.Client,
    url: str,
    *,
    content: bytes,
    headers: dict[str, str],
    allow_private: bool,
    resolve: Resolver = socket.getaddrinfo,
) -> PostAnswer:
    """POST ``content`` to ``url``, connecting only to an address :func:`check_host` allowed.

    The request goes to the checked IP itself, so a DNS answer that changes between the check
    and the connection cannot move it; the ``Host`` header keeps the URL's host (and port), and
    for https the name is passed to TLS as ``sni_hostname``, which httpcore uses both for SNI and
    for verifying the certificate. An https request says ``Connection: close``: httpcore's pool
    reuses a connection by scheme, IP and port only, so a TLS connection verified for one name
    would otherwise carry the next request for another name at the same IP, unverified.

    Redirects are not followed (a 3xx is returned like any answer), the body is asked for without
    compression and at most :data:`SNIPPET_BYTES` of it are read. When connecting to an address
    fails, the next resolved address is tried, as ``socket.create_connection`` would: nothing was
    sent yet. Raises :class:`AddressRefused` before sending anything; httpx's errors (time-outs,
    connection errors) propagate for the caller to classify.
    """
    target, host = _parse(url)
    addresses = check_host(host, _port(target), allow_private=allow_private, resolve=resolve)
    sent_headers = httpx.Headers(headers)
    shown_host = f"[{host}]" if ":" in host else host
    sent_headers["Host"] = shown_host if target.port is None else f"{shown_host}:{target.port}"
    sent_headers.setdefault("Accept-Encoding", "identity")
    extensions: dict[str, Any] = {}
    if target.scheme == "https":
        extensions["sni_hostname"] = host
        sent_headers["Connection"] = "close"
    failure: httpx.ConnectError | None = None
    for address in addresses:
        try:
            with client.stream(
                "POST",
                target.copy_with(host=address),
                content=content,
                headers=sent_headers,
                extensions=extensions,
                follow_redirects=False,
            ) as response:
                return PostAnswer(
                    status_code=response.status_code,
                    headers=response.headers,
                    snippet=_read_snippet(response),
                    address=address,
                )
        except httpx.ConnectError as exc:
            failure = exc
    assert failure is not None  # check_host returns at least one address
    raise failure


def _parse(url: str) -> tuple[httpx.URL, str]:
    """The URL as httpx reads it, and its host as sent on the wire (IDNA-encoded, no brackets)."""
    try:
        target = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise AddressRefused(f"the URL cannot be read ({exc})", host="") from None
    host = target.raw_host.decode("ascii")
    if target.scheme not in ("http", "https") or not host:
        raise AddressRefused(f"the URL is not http(s) with a host: {target.scheme}://{host}", host=host)
    return target, host


def _port(target: httpx.URL) -> int:
    return target.port or (443 if target.scheme == "https" else 80)


def _read_snippet(response: httpx.Response) -> str:
    # Raw bytes: we asked for no compression, and decoding a compressed answer could blow one
    # small read up to megabytes.
    if response.is_stream_consumed:
        # A response made in memory (httpx.MockTransport) was read whole when it was made.
        return response.content[:SNIPPET_BYTES].decode("utf-8", "replace")
    read = bytearray()
    for chunk in response.iter_raw():
        read += chunk
        if len(read) >= SNIPPET_BYTES:
            break
    return bytes(read[:SNIPPET_BYTES]).decode("utf-8", "replace")
