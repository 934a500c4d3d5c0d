"""Customer webhook URLs reach public addresses only: names are resolved by a fake resolver (no
DNS, no network), and post_pinned sends to the local receiver at the checked address with the
URL's name in ``Host``, or refuses before anything is sent."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from statuspage.public_addresses import (
    SNIPPET_BYTES,
    AddressRefused,
    check_host,
    post_pinned,
    validate_public_url,
    why_refused,
)
from tests.http_receiver import Receiver, serve

PUBLIC = "93.184.215.14"
PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"


def resolver(names: dict[str, list[str]]) -> Callable[..., list[tuple[Any, ...]]]:
    """A getaddrinfo that knows only ``names``, answering in the given order."""

    def getaddrinfo(host: str, port: int, family: int = 0, type: int = 0) -> list[tuple[Any, ...]]:  # noqa: A002
        if host not in names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        answers: list[tuple[Any, ...]] = []
        for ip in names[host]:
            if ":" in ip:
                answers.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (ip, port, 0, 0)))
            else:
                answers.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)))
        return answers

    return getaddrinfo


def no_dns(host: str, port: int, family: int = 0, type: int = 0) -> list[tuple[Any, ...]]:  # noqa: A002
    raise AssertionError(f"{host} was looked up, but an IP literal needs no DNS")


@pytest.mark.parametrize(
    ("ip", "words"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.8.9.10", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.0.0.5", "a private address"),
        ("172.16.3.4", "a private address"),
        ("192.168.1.1", "a private address"),
        ("fd00::1", "a private address"),
        ("169.254.169.254", "a link-local address (cloud metadata services live there)"),
        ("fe80::1", "a link-local address"),
        ("100.64.0.1", "a carrier-grade NAT address"),
        ("0.0.0.0", "an unspecified address"),
        ("::", "an unspecified address"),
        ("0.1.2.3", "an address in 0.0.0.0/8"),
        ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("192.0.2.7", "not publicly routable"),
        ("::ffff:127.0.0.1", "a loopback address in IPv4-mapped form"),
        ("::ffff:169.254.169.254", "a link-local address (cloud metadata services live there) in IPv4-mapped form"),
        ("64:ff9b::a00:5", "a private address in NAT64 form"),
        ("2002:7f00:1::", "a loopback address in 6to4 form"),
    ],
)
def test_a_name_resolving_to_a_refused_range_is_refused_for_good(ip: str, words: str) -> None:
    with pytest.raises(AddressRefused) as refused:
        check_host("hooks.example.com", 443, allow_private=False, resolve=resolver({"hooks.example.com": [ip]}))
    message = str(refused.value)
    assert message.startswith(f"hooks.example.com resolves to {ip}, ")
    assert words in message
    assert message.endswith("; only public addresses are allowed")
    assert "\n" not in message
    assert refused.value.temporary is False
    assert refused.value.host == "hooks.example.com"
    assert refused.value.address == ip


def test_the_message_reads_as_one_sentence() -> None:
    with pytest.raises(AddressRefused) as refused:
        check_host("hooks.example.com", 443, allow_private=False, resolve=resolver({"hooks.example.com": ["10.0.0.5"]}))
    assert str(refused.value) == (
        "hooks.example.com resolves to 10.0.0.5, a private address; only public addresses are allowed"
    )


@pytest.mark.parametrize("ip", [PUBLIC, PUBLIC_V6, f"::ffff:{PUBLIC}", "64:ff9b::5db8:d70e"])
def test_a_public_address_is_allowed(ip: str) -> None:
    assert check_host("hooks.example.com", 443, allow_private=False, resolve=resolver({"hooks.example.com": [ip]})) == [
        ip
    ]
    assert why_refused(ip) is None


def test_one_refused_address_among_public_ones_refuses_the_name() -> None:
    # Round-robin DNS: whichever answer a later connection picked could be the private one.
    resolve = resolver({"hooks.example.com": [PUBLIC, PUBLIC, "10.0.0.5", PUBLIC_V6]})
    with pytest.raises(AddressRefused, match=r"^hooks\.example\.com resolves to 10\.0\.0\.5, a private address"):
        check_host("hooks.example.com", 443, allow_private=False, resolve=resolve)


def test_every_public_address_is_returned_once_in_the_resolvers_order() -> None:
    resolve = resolver({"hooks.example.com": [PUBLIC_V6, PUBLIC, PUBLIC_V6]})
    assert check_host("hooks.example.com", 443, allow_private=False, resolve=resolve) == [PUBLIC_V6, PUBLIC]


@pytest.mark.parametrize(
    ("host", "ip", "message"),
    [
        ("127.0.0.1", "127.0.0.1", "127.0.0.1 is a loopback address"),
        ("[::1]", "::1", "[::1] is a loopback address"),
        ("::ffff:10.0.0.5", "::ffff:10.0.0.5", "::ffff:10.0.0.5 is a private address in IPv4-mapped form"),
        ("169.254.169.254", "169.254.169.254", "169.254.169.254 is a link-local address"),
    ],
)
def test_an_ip_literal_is_judged_without_dns(host: str, ip: str, message: str) -> None:
    with pytest.raises(AddressRefused) as refused:
        check_host(host, 80, allow_private=False, resolve=no_dns)
    assert str(refused.value).startswith(message)
    assert str(refused.value).endswith("; only public addresses are allowed")
    assert check_host(host, 80, allow_private=True, resolve=no_dns) == [ip]


def test_allow_private_turns_the_check_off() -> None:
    resolve = resolver({"hooks.test": ["127.0.0.1", "10.0.0.5"]})
    assert check_host("hooks.test", 80, allow_private=True, resolve=resolve) == ["127.0.0.1", "10.0.0.5"]


def test_a_name_that_does_not_resolve_is_refused_for_now() -> None:
    with pytest.raises(AddressRefused) as refused:
        check_host("nowhere.example.com", 443, allow_private=False, resolve=resolver({}))
    assert str(refused.value) == "nowhere.example.com does not resolve (Name or service not known)"
    assert refused.value.temporary is True
    with pytest.raises(AddressRefused, match="does not resolve") as empty:
        check_host("empty.example.com", 443, allow_private=False, resolve=resolver({"empty.example.com": []}))
    assert empty.value.temporary is True


def test_why_refused_wants_an_ip() -> None:
    assert why_refused("10.1.2.3") == "a private address"
    with pytest.raises(ValueError):
        why_refused("hooks.example.com")


def test_a_url_is_validated_by_its_host_when_registered() -> None:
    resolve = resolver(
        {"hooks.example.com": [PUBLIC], "inside.example.com": ["10.0.0.5"], "xn--bcher-kva.example": [PUBLIC]}
    )
    validate_public_url("https://hooks.example.com/status", allow_private=False, resolve=resolve)
    # The name is looked up as it goes on the wire: IDNA-encoded.
    validate_public_url("https://bücher.example/x", allow_private=False, resolve=resolve)
    with pytest.raises(AddressRefused, match=r"^inside\.example\.com resolves to 10\.0\.0\.5, a private address"):
        validate_public_url("https://inside.example.com:8443/x?token=s3cret", allow_private=False, resolve=resolve)
    with pytest.raises(AddressRefused, match=r"^::1 is a loopback address"):
        validate_public_url("http://[::1]:8080/x", allow_private=False, resolve=no_dns)
    with pytest.raises(AddressRefused, match=r"^typo\.example\.com does not resolve"):
        validate_public_url("https://typo.example.com/x", allow_private=False, resolve=resolve)
    with pytest.raises(AddressRefused, match=r"^typo\.example\.com does not resolve"):
        validate_public_url("https://typo.example.com/x", allow_private=True, resolve=resolve)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    yield from serve()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    # trust_env=False: a proxy set in the environment must not carry the test's requests.
    with httpx.Client(timeout=5.0, trust_env=False) as c:
        yield c


def test_a_literal_loopback_url_is_refused_and_nothing_is_sent(receiver: Receiver, client: httpx.Client) -> None:
    receiver.requests.clear()
    with pytest.raises(AddressRefused, match=r"^127\.0\.0\.1 is a loopback address"):
        post_pinned(
            client,
            f"http://127.0.0.1:{receiver.port}/hook",
            content=b"{}",
            headers={},
            allow_private=False,
            resolve=no_dns,
        )
    assert receiver.requests == []


def test_a_name_is_sent_to_the_checked_address_with_its_own_host_header(
    receiver: Receiver, client: httpx.Client
) -> None:
    receiver.requests.clear()
    receiver.answer(202, b"x" * (SNIPPET_BYTES * 20))
    answer = post_pinned(
        client,
        f"http://hooks.test:{receiver.port}/x?a=1",
        content=b'{"hello": "world"}',
        headers={"Content-Type": "application/json", "host": "evil.test"},
        allow_private=True,
        resolve=resolver({"hooks.test": ["127.0.0.1"]}),
    )
    assert (answer.status_code, answer.address) == (202, "127.0.0.1")
    assert answer.headers["content-type"] == "application/json"
    assert answer.snippet == "x" * SNIPPET_BYTES
    [request] = receiver.requests
    assert request.path == "/x?a=1"
    assert request.headers["host"] == f"hooks.test:{receiver.port}"
    assert request.headers["accept-encoding"] == "identity"
    assert request.body == b'{"hello": "world"}'


def test_a_public_first_answer_does_not_hide_a_loopback_second(receiver: Receiver, client: httpx.Client) -> None:
    receiver.requests.clear()
    with pytest.raises(AddressRefused, match=r"^hooks\.test resolves to 127\.0\.0\.1, a loopback address") as refused:
        post_pinned(
            client,
            f"http://hooks.test:{receiver.port}/x",
            content=b"{}",
            headers={},
            allow_private=False,
            resolve=resolver({"hooks.test": [PUBLIC, "127.0.0.1"]}),
        )
    assert refused.value.temporary is False
    assert receiver.requests == []


def mock_client(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler), trust_env=False)


def test_https_goes_to_the_ip_with_the_name_for_tls_and_a_fresh_connection() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    with mock_client(handler) as client:
        answer = post_pinned(
            client,
            "https://hooks.example.com/hook",
            content=b"{}",
            headers={"Connection": "keep-alive"},
            allow_private=False,
            resolve=resolver({"hooks.example.com": [PUBLIC_V6, PUBLIC]}),
        )
    assert answer.status_code == 204
    [request] = seen
    assert str(request.url) == f"https://[{PUBLIC_V6}]/hook"
    assert request.headers["host"] == "hooks.example.com"
    assert request.headers["connection"] == "close"
    assert request.extensions["sni_hostname"] == "hooks.example.com"


def test_a_redirect_is_returned_not_followed() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})

    with mock_client(handler) as client:
        answer = post_pinned(
            client,
            "https://hooks.example.com/hook",
            content=b"{}",
            headers={},
            allow_private=False,
            resolve=resolver({"hooks.example.com": [PUBLIC]}),
        )
    assert answer.status_code == 302
    assert len(seen) == 1


def test_an_address_that_refuses_the_connection_gives_way_to_the_next() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == PUBLIC_V6:
            raise httpx.ConnectError("Network is unreachable", request=request)
        return httpx.Response(200, content=b"ok")

    resolve = resolver({"hooks.example.com": [PUBLIC_V6, PUBLIC]})
    with mock_client(handler) as client:
        answer = post_pinned(
            client, "http://hooks.example.com/", content=b"{}", headers={}, allow_private=False, resolve=resolve
        )
        assert (answer.address, answer.snippet) == (PUBLIC, "ok")
        with pytest.raises(httpx.ConnectError):
            post_pinned(
                client,
                "http://hooks.example.com/",
                content=b"{}",
                headers={},
                allow_private=False,
                resolve=resolver({"hooks.example.com": [PUBLIC_V6]}),
            )
