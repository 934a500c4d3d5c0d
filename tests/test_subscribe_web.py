"""Subscribing on the page: the form (cross-site token, same answer for every address, errors
next to their field, throttling), the confirmation link that only a button press confirms, the
manage page, and RFC 8058 one-click unsubscribe; never a 500, whatever is sent."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from bs4 import BeautifulSoup
from sqlmodel import col, select
from starlette.testclient import TestClient

from statuspage.clock import FixedClock
from statuspage.db.models import OutboxMessage
from statuspage.db.subscriber_models import Subscriber
from statuspage.incidents import ack_links
from statuspage.runtime import Runtime
from statuspage.settings import Settings
from statuspage.subscribers import service, tokens
from statuspage.web.app import create_app

FORM = "/subscribe"
ANA = "ana@customer.example"
LINK_HEADERS = {"cache-control": "no-store", "referrer-policy": "no-referrer", "x-robots-tag": "noindex"}


def app_with(settings: Settings, runtime: Runtime, clock: FixedClock, **subscriptions: object) -> TestClient:
    config = settings.config
    if subscriptions:
        changed = config.subscriptions.model_copy(update=subscriptions)
        settings = dataclasses.replace(settings, config=config.model_copy(update={"subscriptions": changed}))
    return TestClient(create_app(settings, runtime.engine, clock=clock))


@pytest.fixture
def client(settings: Settings, runtime: Runtime, clock: FixedClock) -> Iterator[TestClient]:
    with app_with(settings, runtime, clock, per_client=4) as c:
        yield c


def said(html: str) -> str:
    found = BeautifulSoup(html, "html.parser").select_one("main")
    assert found is not None
    return " ".join(found.get_text(" ").split())


def csrf_of(client: TestClient) -> str:
    shown = client.get(FORM)
    assert shown.status_code == 200
    found = BeautifulSoup(shown.text, "html.parser").select_one('input[name="csrf"]')
    assert found is not None
    return str(found["value"])


def subscribe(client: TestClient, email: str = ANA, **fields: Any) -> Any:
    return client.post(FORM, data={"email": email, "csrf": csrf_of(client), **fields})


def subscribers(runtime: Runtime) -> list[Subscriber]:
    with runtime.session() as session:
        return list(session.exec(select(Subscriber).order_by(col(Subscriber.id))).all())


def link_messages(runtime: Runtime) -> list[OutboxMessage]:
    with runtime.session() as session:
        return list(
            session.exec(
                select(OutboxMessage).where(OutboxMessage.channel == service.EMAIL_CHANNEL).order_by(col(OutboxMessage.id))
            ).all()
        )


def confirm_link(runtime: Runtime) -> str:
    """The link of the latest confirmation email, made as the email makes it."""
    message = [m for m in link_messages(runtime) if m.event == service.CONFIRM_EVENT][-1]
    with runtime.session() as session:
        key = ack_links.signing_key(session, runtime.settings.secret_key, create=True)
    assert key is not None
    expires = datetime.fromisoformat(message.payload["expires"])
    return tokens.CONFIRM_PATH + tokens.confirm_token(key, int(message.target), message.payload["nonce"], expires)


def subscribed(client: TestClient, runtime: Runtime, **fields: object) -> str:
    """Subscribe and confirm; the manage link the confirmation page shows."""
    assert subscribe(client, **fields).status_code == 200
    done = client.post(confirm_link(runtime))
    assert done.status_code == 200, done.text
    manage = BeautifulSoup(done.text, "html.parser").find("a", string="Choose components or unsubscribe")
    assert manage is not None
    return str(manage["href"])


def test_the_form_lists_the_components_and_every_page_links_to_it(client: TestClient) -> None:
    assert client.get("/").status_code == 200
    link = BeautifulSoup(client.get("/").text, "html.parser").select_one('nav a[href="/subscribe"]')
    assert link is not None and link.get_text() == "Subscribe"
    shown = client.get(FORM)
    assert shown.status_code == 200 and shown.headers["cache-control"] == "no-store"
    cookie = shown.headers["set-cookie"]
    assert cookie.startswith(tokens.CSRF_COOKIE + "=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Path=/subscribe" in cookie and "Secure" not in cookie
    dom = BeautifulSoup(shown.text, "html.parser")
    boxes = {str(box["value"]) for box in dom.select('input[type="checkbox"][name="component"]')}
    assert {"api", "web", "checkout", "phone-support", "help-center"} <= boxes
    assert not dom.select('input[name="component"][checked]')
    legends = [legend.get_text() for legend in dom.select(".subscribe-group legend")]
    assert len(legends) >= 2
    assert dom.select_one('label[for="url"]').get_text(" ").startswith(  # type: ignore[union-attr]
        "or a webhook URL — the address above then only hears about failures"
    )


def test_with_subscriptions_off_there_is_no_form_and_no_link(settings: Settings, runtime: Runtime, clock: FixedClock) -> None:
    with app_with(settings, runtime, clock, enabled=False) as off:
        assert 'href="/subscribe"' not in off.get("/").text
        assert off.get(FORM).status_code == 404
        assert off.post(FORM, data={"email": ANA}).status_code == 404
        assert off.get(tokens.CONFIRM_PATH + "c.1.1.x").status_code == 404
    assert subscribers(runtime) == []


def test_posts_from_another_site_are_refused(client: TestClient, runtime: Runtime) -> None:
    csrf = csrf_of(client)
    assert client.post(FORM, data={"email": ANA}).status_code == 403
    assert client.post(FORM, data={"email": ANA, "csrf": csrf + "x"}).status_code == 403
    foreign = client.post(FORM, data={"email": ANA, "csrf": csrf}, headers={"origin": "https://attacker.example"})
    assert foreign.status_code == 403 and "another site" in said(foreign.text)
    assert client.post(FORM, data={"email": ANA, "csrf": csrf}, headers={"sec-fetch-site": "cross-site"}).status_code == 403
    assert client.post(FORM, data={"email": ANA, "csrf": csrf}, headers={"origin": "null", "sec-fetch-site": "cross-site"}).status_code == 403
    # The form's cookie stays on this site: without it, the token alone is not enough.
    client.cookies.clear()
    assert client.post(FORM, data={"email": ANA, "csrf": csrf}).status_code == 403
    assert subscribers(runtime) == [] and link_messages(runtime) == []
    # Its own origin, as the request reached the server or as configured, is fine.
    for origin in ("http://testserver", "http://127.0.0.1:8000"):
        assert client.post(FORM, data={"email": ANA, "csrf": csrf_of(client)}, headers={"origin": origin}).status_code == 200


def test_every_address_gets_the_same_answer(client: TestClient, runtime: Runtime) -> None:
    first = subscribe(client, component=["api", "web"])
    assert first.status_code == 200
    answer = said(first.text)
    assert service.SUBSCRIBE_ANSWER in answer
    (row,) = subscribers(runtime)
    assert (row.state, row.email, row.all_components) == ("pending", ANA, False)
    (message,) = link_messages(runtime)
    assert (message.event, message.state, message.target) == (service.CONFIRM_EVENT, "pending", str(row.id))
    # Again (a new link), after confirming (a manage link), and for another address: the same words.
    assert said(subscribe(client, ANA.upper()).text) == answer
    client.post(confirm_link(runtime))
    assert said(subscribe(client).text) == answer
    assert said(subscribe(client, "ben@customer.example").text) == answer
    assert [(s.address_key, s.state) for s in subscribers(runtime)] == [(ANA, "active"), ("ben@customer.example", "pending")]


def test_a_mistake_is_shown_next_to_its_field_and_nothing_is_written(client: TestClient, runtime: Runtime) -> None:
    typed = '<b>not</b> "an" address'
    wrong = subscribe(client, typed, url="", component="api")
    assert wrong.status_code == 422
    dom = BeautifulSoup(wrong.text, "html.parser")
    assert dom.select_one("#email-error").get_text() == "that is not an email address like name@example.com"  # type: ignore[union-attr]
    assert dom.select_one("#email")["aria-describedby"] == "email-error"  # type: ignore[index]
    assert dom.select_one("#email")["value"] == typed and dom.select_one("main b") is None  # type: ignore[index]
    assert dom.select_one('input[value="api"]').has_attr("checked")  # type: ignore[union-attr]
    assert dom.select_one('input[name="csrf"]')["value"]  # type: ignore[index]
    bad_url = subscribe(client, url="ftp://hooks.example")
    assert bad_url.status_code == 422 and "http://" in dom_text(bad_url.text, "#url-error")
    unknown = subscribe(client, component="no-such-thing")
    assert unknown.status_code == 422 and "no-such-thing" in dom_text(unknown.text, "#component-error")
    assert subscribers(runtime) == [] and link_messages(runtime) == []


def dom_text(html: str, selector: str) -> str:
    found = BeautifulSoup(html, "html.parser").select_one(selector)
    assert found is not None, selector
    return found.get_text()


def test_one_client_is_throttled(client: TestClient, runtime: Runtime) -> None:
    for n in range(4):  # per_client: 4
        assert subscribe(client, f"person{n}@customer.example").status_code == 200
    refused = subscribe(client, "person9@customer.example")
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) == 3600
    assert "try again in 60 minutes" in said(refused.text)
    assert len(subscribers(runtime)) == 4


def test_the_confirmation_link_asks_first_then_confirms_once(client: TestClient, runtime: Runtime) -> None:
    subscribe(client, component="checkout")
    link = confirm_link(runtime)
    for _ in range(2):  # a person, or a mail scanner opening every link
        shown = client.get(link)
        assert shown.status_code == 200
    assert {k: shown.headers[k] for k in LINK_HEADERS} == LINK_HEADERS
    assert "Checkout and payments" in said(shown.text) and ANA in said(shown.text)
    assert BeautifulSoup(shown.text, "html.parser").select_one("main form[method=post] button") is not None
    assert subscribers(runtime)[0].state == "pending"

    assert client.post(link, headers={"origin": "https://attacker.example"}).status_code == 403
    # A page that sends no Referer has its own forms sent with "Origin: null".
    done = client.post(link, headers={"origin": "null", "sec-fetch-site": "same-origin"})
    assert done.status_code == 200 and said(done.text).startswith("Subscribed")
    assert subscribers(runtime)[0].state == "active"
    again = client.post(link)
    assert again.status_code == 410 and "confirmed already" in said(again.text)
    assert BeautifulSoup(again.text, "html.parser").select_one('main a[href="/subscribe"]') is not None
    assert client.get(tokens.CONFIRM_PATH + "c.1.99.AAAA").status_code == 404


def test_the_manage_page_changes_what_is_followed(client: TestClient, runtime: Runtime) -> None:
    manage = subscribed(client, runtime)
    shown = client.get(manage)
    assert shown.status_code == 200 and "Every component" in said(shown.text)
    assert {k: shown.headers[k] for k in LINK_HEADERS} == LINK_HEADERS
    assert client.post(manage, data={"action": "save", "component": ["api", "auth"]}, headers={"origin": "https://x.example"}).status_code == 403
    saved = client.post(manage, data={"action": "save", "component": ["api", "auth"]})
    assert saved.status_code == 200 and "Saved." in said(saved.text)
    checked = {str(box["value"]) for box in BeautifulSoup(saved.text, "html.parser").select('input[name="component"][checked]')}
    assert checked == {"api", "auth"}
    with runtime.session() as session:
        (row,) = session.exec(select(Subscriber)).all()
        assert service.components_of(session, row) == ["api", "auth"]
    assert client.post(manage, data={"action": "save", "component": "nowhere"}).status_code == 422
    left = client.post(manage, data={"action": "unsubscribe"})
    assert left.status_code == 200 and said(left.text).startswith("Unsubscribed")
    assert subscribers(runtime)[0].state == "removed"
    gone = client.get(manage)
    assert gone.status_code == 404 and "you may already be unsubscribed" in said(gone.text)


def test_one_click_unsubscribe_needs_no_cookie_and_no_origin(client: TestClient, runtime: Runtime) -> None:
    manage = subscribed(client, runtime)
    target = manage.replace(tokens.MANAGE_PATH, tokens.UNSUBSCRIBE_PATH)
    asked = client.get(target)
    assert asked.status_code == 200 and subscribers(runtime)[0].state == "active"
    client.cookies.clear()
    done = client.post(
        target,
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded", "origin": "https://mail.provider.example", "sec-fetch-site": "cross-site"},
    )
    assert done.status_code == 200 and said(done.text).startswith("Unsubscribed")
    (row,) = subscribers(runtime)
    assert (row.state, row.email, row.manage_nonce) == ("removed", None, None)
    again = client.post(target, content=b"List-Unsubscribe=One-Click", headers={"content-type": "application/x-www-form-urlencoded"})
    assert again.status_code == 404 and "you may already be unsubscribed" in said(again.text)


def test_no_input_makes_a_500(client: TestClient, runtime: Runtime) -> None:
    csrf = csrf_of(client)
    form = {"content-type": "application/x-www-form-urlencoded"}
    bodies = [
        b"email=" + b"a" * 15000 + b"@x.example&csrf=" + csrf.encode(),
        b"email=\xff\xfe%FF%00&url=%00&csrf=" + csrf.encode(),
        b"email=a@b.example&email=c@d.example&csrf=" + csrf.encode() + b"&csrf=x&component=api&component=api",
        b"email=a@b.example&component=%00&component=" + b"z" * 5000 + b"&csrf=" + csrf.encode(),
        b"email=a@b.example&url=http://[::1&csrf=" + csrf.encode(),
        b"email=a@b.example&url=https://" + b"h" * 3000 + b".example/&csrf=" + csrf.encode(),
        b"&&&==&csrf=%%%",
        b"a=1&" * 300,
        b"x" * 20000,
    ]
    for body in bodies:
        answered = client.post(FORM, content=body, headers=form)
        assert 400 <= answered.status_code < 500 or answered.status_code == 200, (answered.status_code, body[:60])
    assert client.post(FORM, content=b"--b\r\n", headers={"content-type": "multipart/form-data; boundary=b"}).status_code == 415
    assert client.post(FORM, data={"email": "x"}, headers={"content-length": "99999999"}).status_code == 413
    for path in (tokens.CONFIRM_PATH, tokens.MANAGE_PATH, tokens.UNSUBSCRIBE_PATH):
        for token in ("x", "c.1.1." + "A" * 43, "m.99999999999999999." + "A" * 43, "m.1.%00", "%FF" * 200):
            for method in ("GET", "POST"):
                answered = client.request(method, path + token, content=b"action=save&component=%00", headers=form)
                assert answered.status_code in (404, 410), (method, path, token, answered.status_code)
