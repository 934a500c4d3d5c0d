"""The one-click acknowledgement link of an emailed page: ``GET /ack/<token>`` asks, ``POST``
acknowledges as the paged person, once, while the incident is open; anything else is a clear
4xx page, never a 500."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from sqlmodel import col, select
from starlette.testclient import TestClient

from statuspage import outbox
from statuspage.clock import FixedClock
from statuspage.context import WriteContext
from statuspage.db.models import AuditEvent, Incident, PageSent, Timer
from statuspage.incidents import ack_links
from statuspage.incidents import service as incidents
from statuspage.mail.sender import EmailSender
from statuspage.runtime import Runtime
from statuspage.settings import ConfigError, Settings, load_settings
from statuspage.web import ack
from statuspage.web.app import create_app

ANA = "ana.ruiz@sendero.example"


@pytest.fixture
def client(settings: Settings, runtime: Runtime, clock: FixedClock) -> Iterator[TestClient]:
    with TestClient(create_app(settings, runtime.engine, clock=clock)) as c:
        yield c


def declare(ctx: WriteContext, title: str = "Checkout failing") -> int:
    incident = incidents.declare(ctx=ctx, severity=1, title=title, components=["checkout"], message="Card payments fail.")
    assert incident.id is not None
    return incident.id


def page_of(runtime: Runtime, incident_id: int, owner: str, kind: str = "email") -> PageSent:
    with runtime.session() as session:
        (page,) = session.exec(
            select(PageSent).where(PageSent.incident_id == incident_id, PageSent.owner == owner, PageSent.contact_kind == kind)
        ).all()
        return page


def link_for(runtime: Runtime, page: PageSent) -> str:
    with runtime.session() as session:
        key = ack_links.signing_key(session, runtime.settings.secret_key, create=True)
    assert key is not None and page.id is not None
    return f"/ack/{ack_links.token_for(key, page.id)}"


def audit(runtime: Runtime, incident_id: int, action: str) -> list[AuditEvent]:
    with runtime.session() as session:
        return list(
            session.exec(
                select(AuditEvent)
                .where(AuditEvent.action == action, AuditEvent.subject_id == str(incident_id))
                .order_by(col(AuditEvent.id))
            ).all()
        )


def incident(runtime: Runtime, incident_id: int) -> Incident:
    with runtime.session() as session:
        row = session.get(Incident, incident_id)
        assert row is not None
        return row


def said(html: str) -> str:
    found = BeautifulSoup(html, "html.parser").select_one("main")
    assert found is not None
    return " ".join(found.get_text(" ").split())


def test_the_link_in_the_email_asks_first_then_acknowledges_once_as_the_paged_person(
    runtime: Runtime, ctx: WriteContext, client: TestClient, tmp_path: Path
) -> None:
    incident_id = declare(ctx, title='<b>Checkout</b> "failing"')
    # The link as the email carries it (no SMTP server here: the email is a file).
    mailer = EmailSender(smtp_url=None, mail_dir=tmp_path / "mail")
    outbox.deliver_due(runtime, senders={"email": mailer}, rand=lambda: 1.0)
    (ana_mail,) = [p for p in (tmp_path / "mail").glob("*.eml") if "ana.ruiz" in p.name]
    mail = BytesParser(policy=policy.default).parsebytes(ana_mail.read_bytes())
    body = mail.get_body(("plain",))
    assert body is not None
    found = re.search(r"One click: http://127\.0\.0\.1:8000(/ack/\S+)", body.get_content())  # type: ignore[attr-defined]
    assert found is not None
    link = found.group(1)

    # Opening it (a person, or a mail scanner fetching every link) acknowledges nothing.
    for _ in range(3):
        shown = client.get(link)
        assert shown.status_code == 200
    assert shown.headers["cache-control"] == "no-store" and shown.headers["referrer-policy"] == "no-referrer"
    dom = BeautifulSoup(shown.text, "html.parser")
    form = dom.select_one("main form")
    assert form is not None and form.get("method") == "post"
    assert dom.select_one("main h1").get_text() == "Acknowledge this page?"  # type: ignore[union-attr]
    text = said(shown.text)
    assert f'Incident #{incident_id}: <b>Checkout</b> "failing"' in text and dom.select_one("main b") is None
    assert "Ana Ruiz (tier 1, Front line)" in text and f"incident ack {incident_id}" in text
    assert incident(runtime, incident_id).acknowledged_at is None
    assert page_of(runtime, incident_id, "Ana Ruiz").ack_link_used_at is None

    done = client.post(link)
    assert done.status_code == 200, done.text
    assert f"You acknowledged incident #{incident_id}, Ana Ruiz. Paging stops." in said(done.text)
    row = incident(runtime, incident_id)
    assert row.acknowledged_by == "Ana Ruiz" and row.acknowledged_at is not None
    (acknowledged,) = audit(runtime, incident_id, "incident.acknowledge")
    assert (acknowledged.actor, acknowledged.source) == ("Ana Ruiz", "web")
    (used,) = audit(runtime, incident_id, "incident.ack_link")
    page = page_of(runtime, incident_id, "Ana Ruiz")
    assert used.after == {"page_id": page.id, "owner": "Ana Ruiz", "contact_kind": "email", "tier": 1, "acknowledged": True}
    assert page.ack_link_used_at is not None and page.acknowledged_by == "Ana Ruiz"
    with runtime.session() as session:  # paging stopped: no acknowledgement deadline left
        assert not session.exec(select(Timer).where(Timer.kind == "ack_timeout", Timer.state == "pending")).all()

    # It works once.
    again = client.post(link)
    assert again.status_code == 410 and "already used" in said(again.text) and "it works once" in said(again.text)
    assert client.get(link).status_code == 410
    assert len(audit(runtime, incident_id, "incident.ack_link")) == 1


def test_links_that_are_not_genuine_are_refused_with_a_page_never_a_500(
    runtime: Runtime, ctx: WriteContext, client: TestClient
) -> None:
    incident_id = declare(ctx)
    page = page_of(runtime, incident_id, "Ana Ruiz")
    genuine = link_for(runtime, page)
    token = genuine.removeprefix("/ack/")
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    other_key = ack_links.token_for(b"another status page's key, long enough", page.id or 0)
    with runtime.session() as session:
        key = ack_links.signing_key(session, None, create=False)
    assert key is not None
    no_such_page = ack_links.token_for(key, 999_999)
    another_page = f"{(page.id or 0) + 1}.{token.split('.', 1)[1]}"  # a signature moved to another page
    for bad in [flipped, other_key, no_such_page, another_page, "abc", "1.", ".x", "0." + "A" * 43, "1" * 400,
                token + "=", token.upper(), "%E2%80%8B", "..%2F..%2Fetc%2Fpasswd", "-1." + "A" * 43]:
        for method in ("GET", "POST"):
            answer = client.request(method, f"/ack/{bad}")
            assert answer.status_code == 404, (bad, method, answer.status_code)
            assert answer.headers["content-type"].startswith("text/html")
            if "%2F" not in bad:  # a slash makes it another address, which the site does not have
                assert "This acknowledgement link is not valid" in said(answer.text)
    assert incident(runtime, incident_id).acknowledged_at is None
    assert client.get(genuine).status_code == 200


def test_a_link_expires_with_its_incident(runtime: Runtime, ctx: WriteContext, client: TestClient) -> None:
    incident_id = declare(ctx)
    link = link_for(runtime, page_of(runtime, incident_id, "Ana Ruiz"))
    incidents.resolve(ctx=ctx, incident_id=incident_id, message="Fixed.")
    for method in ("GET", "POST"):
        answer = client.request(method, link)
        assert answer.status_code == 410
        assert f"Incident #{incident_id} is resolved; its acknowledgement links expired with it." in said(answer.text)
    assert incident(runtime, incident_id).acknowledged_at is None
    assert page_of(runtime, incident_id, "Ana Ruiz").ack_link_used_at is None


def test_a_second_persons_link_after_the_first_acknowledgement_records_them_too(
    runtime: Runtime, ctx: WriteContext, client: TestClient
) -> None:
    incident_id = declare(ctx)
    assert client.post(link_for(runtime, page_of(runtime, incident_id, "Ana Ruiz"))).status_code == 200
    ben = link_for(runtime, page_of(runtime, incident_id, "Ben Okafor"))
    assert "already, by Ana Ruiz" in said(client.get(ben).text)
    done = client.post(ben)
    assert done.status_code == 200
    assert "already acknowledged by Ana Ruiz; your acknowledgement is recorded too" in said(done.text)
    assert incident(runtime, incident_id).acknowledged_by == "Ana Ruiz"
    assert page_of(runtime, incident_id, "Ben Okafor").ack_link_used_at is not None
    assert [(e.after or {})["acknowledged"] for e in audit(runtime, incident_id, "incident.ack_link")] == [True, False]


def test_clicks_racing_on_one_link_acknowledge_once(runtime: Runtime, ctx: WriteContext, client: TestClient) -> None:
    incident_id = declare(ctx)
    token = link_for(runtime, page_of(runtime, incident_id, "Ana Ruiz")).removeprefix("/ack/")
    site = client.app.state.site  # type: ignore[attr-defined]
    start = threading.Barrier(4)
    codes: list[int] = []

    def click() -> None:
        start.wait()
        codes.append(ack.acknowledge(site, token).status_code)

    threads = [threading.Thread(target=click) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [200, 410, 410, 410]
    assert len(audit(runtime, incident_id, "incident.acknowledge")) == 1
    assert len(audit(runtime, incident_id, "incident.ack_link")) == 1


def test_the_signing_key_is_the_environments_or_one_kept_in_the_database(
    runtime: Runtime, ctx: WriteContext, config_file: Path, db_url: str, clock: FixedClock
) -> None:
    with runtime.session() as session:
        assert ack_links.signing_key(session, None, create=False) is None  # none until a page needs one
        first = ack_links.signing_key(session, None, create=True)
        assert first is not None and len(first) >= 32
        assert ack_links.signing_key(session, None, create=True) == first  # generated once
    incident_id = declare(ctx)
    page = page_of(runtime, incident_id, "Ana Ruiz")
    from_db = f"/ack/{ack_links.token_for(first, page.id or 0)}"

    configured = load_settings(config_file, env={"DATABASE_URL": db_url, "STATUSPAGE_SECRET_KEY": "k" * 40})
    assert configured.secret_key == "k" * 40
    with TestClient(create_app(configured, runtime.engine, clock=clock)) as client:
        assert client.get(from_db).status_code == 404  # the environment's key is the one in force
        assert client.get(f"/ack/{ack_links.token_for(b'k' * 40, page.id or 0)}").status_code == 200
    with pytest.raises(ConfigError, match="STATUSPAGE_SECRET_KEY: at least 16 characters"):
        load_settings(config_file, env={"DATABASE_URL": db_url, "STATUSPAGE_SECRET_KEY": "short"})


def test_the_token_is_the_page_id_and_a_signature(runtime: Runtime) -> None:
    key = b"a key of some length for the test"
    token = ack_links.token_for(key, 42)
    assert re.fullmatch(r"42\.[A-Za-z0-9_-]{43}", token)
    assert ack_links.page_id_of(key, token) == 42
    assert ack_links.page_id_of(None, token) is None
    assert ack_links.page_id_of(key + b"!", token) is None
    assert ack_links.ack_url(runtime.settings.config, key, 42) == f"http://127.0.0.1:8000/ack/{token}"
