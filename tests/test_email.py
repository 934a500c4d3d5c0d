"""Email pages end to end: the on-call engine pages, the outbox's email sender hands each page to
a real SMTP server (aiosmtpd, tests/smtp_server.py), and the page's row says what became of it.

The worker runs on the test's FixedClock without jitter, so retry times are exact. Slack is left
on as shipped (the worker here only sends email), so what Slack would be told is in the outbox.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from statuspage import outbox, worker
from statuspage.clock import FixedClock
from statuspage.context import Actor, WriteContext
from statuspage.db.engine import make_engine
from statuspage.db.models import AuditEvent, OutboxMessage, PageSent
from statuspage.demo import seed
from statuspage.domain.enums import Source
from statuspage.incidents import service as incidents
from statuspage.mail import hook as mail_hook
from statuspage.mail.compose import compose, header_text
from statuspage.mail.sender import EmailSender
from statuspage.oncall import delivery
from statuspage.oncall.queries import pages_with_delivery
from statuspage.postmortems import document
from statuspage.runtime import Runtime, ensure_ready
from statuspage.settings import ConfigError, Settings, load_settings
from statuspage.smtp_url import SmtpUrlError, parse_smtp_url
from tests.outbox_faults import Crash, CrashAfterSend
from tests.smtp_server import SmtpServer, free_port, serve, silent

NO_JITTER = lambda: 1.0  # noqa: E731
ANA, BEN = "ana.ruiz@sendero.example", "ben.okafor@sendero.example"
TIER_1 = {ANA, BEN}


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    yield from serve()


@pytest.fixture
def settings(config_file: Path, db_url: str, smtp: SmtpServer) -> Settings:
    """The demo configuration, its email pages going to the local SMTP server."""
    return load_settings(config_file, env={"DATABASE_URL": db_url, "STATUSPAGE_SMTP_URL": smtp.url})


@pytest.fixture
def demo(runtime: Runtime) -> None:
    with runtime.session() as session:
        seed(session=session, runtime=runtime, actor=Actor("demo", Source.SYSTEM))


@pytest.fixture
def sender(settings: Settings) -> Iterator[EmailSender]:
    s = EmailSender(smtp_url=settings.smtp_url, mail_dir=settings.mail_dir)
    yield s
    s.close()


@pytest.fixture
def deliver(runtime: Runtime, sender: EmailSender) -> Callable[..., outbox.DeliveryReport]:
    def run(**kwargs: Any) -> outbox.DeliveryReport:
        kwargs.setdefault("senders", {"email": sender})
        kwargs.setdefault("rand", NO_JITTER)
        return outbox.deliver_due(runtime, **kwargs)

    return run


def declare(ctx: WriteContext, title: str = "Checkout failing", **kwargs: Any) -> int:
    kwargs.setdefault("message", "Card payments fail for every customer.")
    incident = incidents.declare(ctx=ctx, severity=1, title=title, components=["checkout", "api"], **kwargs)
    assert incident.id is not None
    return incident.id


def mails(runtime: Runtime) -> list[OutboxMessage]:
    with runtime.session() as session:
        return list(
            session.exec(select(OutboxMessage).where(OutboxMessage.channel == "email").order_by(col(OutboxMessage.id))).all()
        )


def email_pages(runtime: Runtime, incident_id: int) -> dict[str, PageSent]:
    with runtime.session() as session:
        rows = session.exec(
            select(PageSent).where(PageSent.incident_id == incident_id, PageSent.contact_kind == "email")
        ).all()
        return {row.contact: row for row in rows}


def drain(runtime: Runtime, clock: FixedClock, deliver: Callable[..., outbox.DeliveryReport], limit: int = 50) -> None:
    """Worker passes until no email is pending, moving the clock to each next due time."""
    for _ in range(limit):
        if deliver().claimed:
            continue
        pending = [m for m in mails(runtime) if m.state == outbox.PENDING]
        if not pending:
            return
        clock.at = max(clock.now(), min(m.next_attempt_at for m in pending))
    raise AssertionError(f"email did not drain: {[(m.target, m.last_error) for m in mails(runtime)]}")


def events(runtime: Runtime, incident_id: int, action: str) -> list[AuditEvent]:
    with runtime.session() as session:
        return list(
            session.exec(
                select(AuditEvent)
                .where(AuditEvent.action == action, AuditEvent.subject_id == str(incident_id))
                .order_by(col(AuditEvent.id))
            ).all()
        )


# What a page says -------------------------------------------------------------------------------


@pytest.mark.usefixtures("demo")
def test_a_sev1_mails_tier_1_once_each_with_everything_needed_to_act(
    runtime: Runtime, ctx: WriteContext, smtp: SmtpServer, sender: EmailSender
) -> None:
    incident_id = declare(ctx)
    assert incident_id == 8  # the demo data holds seven incidents
    # The worker, once, as `incident watch --once` runs it (only its email sender here).
    worker.run_watch(runtime, stop=threading.Event(), once=True, senders={"email": sender})

    assert {address for m in smtp.messages for address in m.rcpt_tos} == TIER_1
    assert len(smtp.messages) == 2
    assert sender.connections == 1  # one connection for the burst
    (ana,) = smtp.to(ANA)
    mail = ana.message
    assert ana.mail_from == "noreply@localhost"
    assert mail["To"] == f"Ana Ruiz <{ANA}>"
    assert mail["From"] == "Sendero status <noreply@localhost>"
    assert mail["Subject"] == "[Sev-1] You are paged: #8 Checkout failing"
    assert mail["Auto-Submitted"] == "auto-generated"
    (row,) = [m for m in mails(runtime) if m.target == ANA]
    assert mail["Message-ID"] == f"<page-{row.delivery_id}@localhost>"

    text = ana.part("plain")
    assert "Ana Ruiz, you are paged for incident #8 (tier 1, Front line)." in text
    assert "Checkout failing" in text and "Severity:    Sev-1 (Critical)" in text
    (components,) = [line for line in text.splitlines() if line.startswith("Components:  ")]
    assert "API" in components and "Checkout" in components
    assert "Card payments fail for every customer." in text
    assert "incident ack 8" in text
    assert "The incident: http://127.0.0.1:8000/incidents/8" in text
    link = re.search(r"One click: (http://127\.0\.0\.1:8000/ack/(\S+))", text)
    assert link is not None, text
    html = ana.part("html")
    assert f'href="{link.group(1)}"' in html and 'href="http://127.0.0.1:8000/incidents/8"' in html

    # Each page's row says it was sent, with the server's queue id.
    pages = email_pages(runtime, incident_id)
    assert {p.delivery_state for p in pages.values()} == {delivery.SENT}
    assert pages[ANA].delivery_ref == ana.queue_id and pages[ANA].delivery_at is not None
    assert link.group(2).startswith(f"{pages[ANA].id}.")
    assert {m.state for m in mails(runtime)} == {"delivered"}
    assert all(m.attempts == 1 and m.waits == 0 for m in mails(runtime))
    # Phone contacts have no channel: recorded as not sent, never as paged.
    with runtime.session() as session:
        shown = {(p.owner, p.contact_kind): p for p in pages_with_delivery(session, incident_id)}
    assert shown[("Ana Ruiz", "phone")].delivery == "not sent: no channel for phone contacts"
    assert shown[("Ana Ruiz", "email")].delivery == f"sent (ref {ana.queue_id})"
    assert shown[("Ana Ruiz", "email")].to_json()["delivery"]["state"] == "sent"
    delivered = [e.after or {} for e in events(runtime, incident_id, "incident.page_delivered")]
    assert sorted(e["contact"] for e in delivered) == sorted(TIER_1)
    assert all(e["delivery"] == {"state": "sent", "ref": e["delivery"]["ref"]} for e in delivered)

    # The postmortem's timeline says who was reached, and how.
    with runtime.session() as session:
        facts = document.gather(session, runtime.settings.config, incident_id, runtime.clock.now())
    rendered = document.render(facts, runtime.settings.config)
    assert "Email: sent 03:00" in rendered
    assert "Phone: not sent (no channel for phone contacts)" in rendered


def test_an_escalation_mails_the_next_tier_and_a_late_page_says_so(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, smtp: SmtpServer, deliver: Callable[..., outbox.DeliveryReport]
) -> None:
    incident_id = declare(ctx)
    drain(runtime, clock, deliver)
    smtp.fail("RCPT", "451 4.3.0 Mailbox temporarily unavailable", to="dana.kowalski@sendero.example", times=None)
    incidents.escalate(ctx=ctx, incident_id=incident_id)
    for _ in range(40):  # a long outage of Dana's mailbox: waited out, past tier 2's 15 minutes
        clock.advance(minutes=1)
        deliver()
    smtp.clear_faults()
    drain(runtime, clock, deliver)
    (dana,) = smtp.to("dana.kowalski@sendero.example")
    assert dana.message["Subject"].startswith("Late page: [Sev-1] You are paged")
    assert "This page is late: it waited" in dana.part("plain")
    (row,) = [m for m in mails(runtime) if m.target == "dana.kowalski@sendero.example"]
    assert row.attempts == 1 and row.waits >= 40 and row.state == "delivered"


# Answers from the server ------------------------------------------------------------------------


def test_4xx_answers_and_dropped_connections_are_waited_out_and_deliver_once(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, smtp: SmtpServer, deliver: Callable[..., outbox.DeliveryReport]
) -> None:
    smtp.fail("RCPT", "451 4.7.1 Greylisted, try again later", to=ANA, times=2)
    smtp.fail("DATA", "421 4.3.2 Service shutting down", to=BEN, times=1)
    smtp.fail("MAIL", "452 4.3.1 Insufficient system storage", times=1)
    incident_id = declare(ctx)
    # Waiting is never a failed attempt: even a policy that gives up at once does not kill them.
    policy = outbox.RetryPolicy(max_attempts=1, max_age=timedelta(seconds=1))
    drain(runtime, clock, lambda: deliver(policy=policy))
    assert sorted(address for m in smtp.messages for address in m.rcpt_tos) == sorted(TIER_1)  # once each
    rows = mails(runtime)
    assert {m.state for m in rows} == {"delivered"}
    assert all(m.attempts == 1 for m in rows), [(m.target, m.attempts, m.waits) for m in rows]
    assert sum(m.waits for m in rows) == 4
    assert {p.delivery_state for p in email_pages(runtime, incident_id).values()} == {delivery.SENT}


def test_a_server_that_is_down_or_silent_is_waited_out(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, smtp: SmtpServer, sender: EmailSender
) -> None:
    declare(ctx)
    closed = free_port()
    down = EmailSender(smtp_url=f"smtp://127.0.0.1:{closed}", mail_dir=Path("unused"))
    outbox.deliver_due(runtime, senders={"email": down}, rand=NO_JITTER)
    rows = mails(runtime)
    assert all(m.waits == 1 and f"cannot reach smtp://127.0.0.1:{closed}" in (m.last_error or "") for m in rows), rows
    for hanging in silent():
        hung = EmailSender(smtp_url=hanging.url, mail_dir=Path("unused"))
        clock.advance(minutes=1)
        outbox.deliver_due(runtime, senders={"email": hung}, rand=NO_JITTER)
    rows = mails(runtime)
    assert all(m.state == "pending" and m.attempts == 0 and m.waits == 2 for m in rows), rows
    assert all("no answer from smtp://127.0.0.1" in (m.last_error or "") for m in rows), rows
    clock.advance(minutes=1)
    drain(runtime, clock, lambda: outbox.deliver_due(runtime, senders={"email": sender}, rand=NO_JITTER))
    assert len(smtp.messages) == 2


def test_a_refused_recipient_is_dead_at_once_and_reported_like_a_dead_slack_page(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, smtp: SmtpServer, deliver: Callable[..., outbox.DeliveryReport]
) -> None:
    answer = "550 5.1.1 <ana.ruiz@sendero.example>: Recipient address rejected: User unknown"
    smtp.fail("RCPT", answer, to=ANA, times=None)
    incident_id = declare(ctx)
    said: list[str] = []
    deliver(say=said.append)
    (dead,) = [m for m in mails(runtime) if m.state == "dead"]
    assert dead.target == ANA and dead.attempts == 1 and "550 5.1.1" in (dead.last_error or "")
    assert smtp.to(BEN) and not smtp.to(ANA)
    # The page's row: failed, with the server's answer.
    page = email_pages(runtime, incident_id)[ANA]
    assert page.delivery_state == delivery.FAILED and answer in (page.delivery_error or "")
    # The timeline, the worker's console and the incident's Slack thread and tier channel are told.
    (failed,) = events(runtime, incident_id, "incident.page_failed")
    after = failed.after or {}
    assert (after["owner"], after["contact_kind"], after["contact"]) == ("Ana Ruiz", "email", ANA)
    assert after["delivery"]["state"] == "failed" and answer in after["delivery"]["error"]
    assert after["delivery"]["page_id"] == page.id
    assert any("could not page Ana Ruiz by email" in line and "550 5.1.1" in line for line in said), said
    with runtime.session() as session:
        slack = session.exec(
            select(OutboxMessage).where(OutboxMessage.channel == "slack").order_by(col(OutboxMessage.id))
        ).all()
    told = [m for m in slack if (m.payload.get("template") == "page_failed")]
    assert {m.target for m in told} == {"#incidents", "#oncall"}
    assert all(answer in m.payload["data"]["error"] and m.payload["data"]["contact"] == ANA for m in told)

    # Fixed (the mailbox exists again): sent again on request, and the page reads sent.
    smtp.clear_faults()
    with runtime.session() as session:
        outbox.retry_dead(ctx=runtime.context(session, outbox.WORKER_ACTOR))
    drain(runtime, clock, deliver)
    assert len(smtp.to(ANA)) == 1
    assert email_pages(runtime, incident_id)[ANA].delivery_state == delivery.SENT


@pytest.fixture
def smtp_login() -> Iterator[SmtpServer]:
    yield from serve(logins={"pager": "s3cret/:@"})


def test_a_refused_login_is_dead_and_a_good_one_sends(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, smtp_login: SmtpServer
) -> None:
    declare(ctx)
    wrong = EmailSender(smtp_url=f"smtp://pager:nope@127.0.0.1:{smtp_login.port}", mail_dir=Path("unused"))
    said: list[str] = []
    outbox.deliver_due(runtime, senders={"email": wrong}, rand=NO_JITTER, say=said.append)
    wrong.close()
    assert any("could not page Ana Ruiz by email" in line and "STATUSPAGE_SMTP_URL" in line for line in said), said
    assert {m.state for m in mails(runtime)} == {"dead"}
    assert all("refused the login: 535" in (m.last_error or "") for m in mails(runtime))
    with runtime.session() as session:
        outbox.retry_dead(ctx=runtime.context(session, outbox.WORKER_ACTOR))
    right = EmailSender(smtp_url=f"smtp://pager:s3cret%2F%3A%40@127.0.0.1:{smtp_login.port}", mail_dir=Path("unused"))
    drain(runtime, clock, lambda: outbox.deliver_due(runtime, senders={"email": right}, rand=NO_JITTER))
    right.close()
    assert len(smtp_login.messages) == 2


# Exactly once -------------------------------------------------------------------------------------


def test_a_worker_killed_after_the_server_took_a_page_does_not_send_it_again(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, smtp: SmtpServer, deliver: Callable[..., outbox.DeliveryReport], settings: Settings
) -> None:
    incident_id = declare(ctx)
    dying = EmailSender(smtp_url=settings.smtp_url, mail_dir=settings.mail_dir)
    with pytest.raises(Crash):
        deliver(senders={"email": CrashAfterSend(dying)})
    dying.close()
    (first,) = smtp.messages
    clock.advance(minutes=5)  # the dead worker's lease
    drain(runtime, clock, deliver)
    assert sorted(address for m in smtp.messages for address in m.rcpt_tos) == sorted(TIER_1)  # no second copy
    (row,) = [m for m in mails(runtime) if m.target in first.rcpt_tos]
    assert row.state == "delivered" and row.result == {"op": "found", "ref": first.queue_id}
    assert email_pages(runtime, incident_id)[first.rcpt_tos[0]].delivery_ref == first.queue_id


def test_a_worker_killed_before_it_could_record_the_send_repeats_it_with_the_same_message_id(
    runtime: Runtime,
    ctx: WriteContext,
    clock: FixedClock,
    smtp: SmtpServer,
    deliver: Callable[..., outbox.DeliveryReport],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    incident_id = declare(ctx)
    real = delivery.record_delivery

    def dies(**kwargs: Any) -> Any:
        raise Crash

    monkeypatch.setattr(delivery, "record_delivery", dies)
    with pytest.raises(Crash):
        deliver()
    monkeypatch.setattr(delivery, "record_delivery", real)
    (first,) = smtp.messages
    (row,) = [m for m in mails(runtime) if m.target in first.rcpt_tos]
    assert row.result == {"uncertain": True}
    clock.advance(minutes=5)
    drain(runtime, clock, deliver)
    copies = smtp.to(first.rcpt_tos[0])
    assert len(copies) == 2  # the server's answer was lost with the worker: sent again ...
    assert copies[0].message["Message-ID"] == copies[1].message["Message-ID"]  # ... as the same page
    assert len({m.message["Message-ID"] for m in smtp.messages}) == 2
    assert email_pages(runtime, incident_id)[first.rcpt_tos[0]].delivery_ref == copies[1].queue_id


def test_a_page_that_became_moot_is_not_mailed(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, smtp: SmtpServer, deliver: Callable[..., outbox.DeliveryReport]
) -> None:
    incident_id = declare(ctx)
    incidents.acknowledge(ctx=ctx, incident_id=incident_id, by="Ana Ruiz")
    drain(runtime, clock, deliver)
    assert smtp.messages == []
    pages = email_pages(runtime, incident_id)
    assert {(p.delivery_state, p.delivery_error) for p in pages.values()} == {
        (delivery.NOT_SENT, "already acknowledged by Ana Ruiz")
    }


# Without an SMTP server -------------------------------------------------------------------------


def test_without_an_smtp_url_pages_are_eml_files_and_the_worker_names_them(
    config_file: Path, db_url: str, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STATUSPAGE_SMTP_URL", raising=False)
    settings = load_settings(config_file, env={"DATABASE_URL": db_url})
    assert settings.smtp_url is None and settings.mail_dir == config_file.parent / "var" / "mail"
    runtime = Runtime(settings=settings, engine=make_engine(settings.database_url), clock=clock)
    ensure_ready(runtime)
    senders = runtime.senders()
    try:
        with runtime.session() as session:
            incident_id = declare(runtime.context(session, Actor("alice", Source.CLI)))
        out = io.StringIO()
        email = senders["email"]
        assert isinstance(email, EmailSender)
        email.out = out
        outbox.deliver_due(runtime, senders={"email": email}, rand=NO_JITTER)
        outbox.deliver_due(runtime, senders={"email": email}, rand=NO_JITTER)
        files = sorted(settings.mail_dir.glob("*.eml"))
        assert len(files) == 2
        lines = out.getvalue().splitlines()
        assert len(lines) == 2
        for line, path in zip(sorted(lines), files, strict=True):
            assert line.startswith("[email ") and "[Sev-1] You are paged" in line and path.name in line
        mail = BytesParser(policy=policy.default).parsebytes(files[0].read_bytes())
        assert mail["To"].addresses[0].addr_spec in TIER_1
        body = mail.get_body(("plain",))
        assert body is not None and f"incident ack {incident_id}" in body.get_content()  # type: ignore[attr-defined]
        pages = email_pages(runtime, incident_id)
        assert {p.delivery_state for p in pages.values()} == {delivery.NOT_SENT}
        assert all("no SMTP server" in (p.delivery_error or "") and ".eml" in (p.delivery_error or "") for p in pages.values())
    finally:
        for each in senders.values():
            each.close()
        runtime.engine.dispose()


# Untrusted text -----------------------------------------------------------------------------------


def test_a_hostile_title_and_message_stay_text_and_add_no_header(
    runtime: Runtime, ctx: WriteContext, smtp: SmtpServer, deliver: Callable[..., outbox.DeliveryReport]
) -> None:
    title = '<script>alert(1)</script> "Checkout" & <b>payments</b>'
    message = 'Customers see <img src=x onerror=alert(2)> and "&amp;" in receipts.'
    declare(ctx, title=title, message=message)
    deliver()
    (ana,) = smtp.to(ANA)
    html = ana.part("html")
    assert "<script>" not in html and "<img" not in html and "<b>payments" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;img src=x onerror=alert(2)&gt;" in html
    assert "&amp;amp;" in html  # typed entities are shown as typed
    text = ana.part("plain")
    assert title in text and message in text
    assert ana.message["Subject"] == f"[Sev-1] You are paged: #1 {title}"

    # A title that reached the outbox with line breaks (an older version, an import) still makes
    # one Subject line and no header of its own.
    (evil,) = [m for m in mails(runtime) if m.target == ANA]
    evil.payload = {
        "incident": {**evil.payload["incident"], "title": "Down\r\nBcc: thief@evil.example\r\n\r\nhi"},
        "data": {**evil.payload["data"], "owner": "Ana\nRuiz"},
    }
    composed = compose(evil, runtime.settings.config, ack_url=None, now=runtime.clock.now())
    raw = composed.email.as_bytes(policy=policy.SMTP)
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert parsed["Bcc"] is None
    assert parsed["Subject"] == "[Sev-1] You are paged: #1 Down Bcc: thief@evil.example hi"
    assert parsed["To"] == f"Ana Ruiz <{ANA}>"
    assert header_text("a\u2028b\x00c\u0085d") == "a b c d"


# Configuration ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://user:pa%40ss@mail.example:587?starttls=true", ("mail.example", 587, False, True, "user", "pa@ss")),
        ("smtps://mail.example:465", ("mail.example", 465, True, False, None, None)),
        ("smtps://mail.example", ("mail.example", 465, True, False, None, None)),
        ("smtp://127.0.0.1:2525", ("127.0.0.1", 2525, False, False, None, None)),
        ("smtp://mail.example", ("mail.example", 25, False, False, None, None)),
    ],
)
def test_smtp_urls(url: str, expected: tuple[Any, ...]) -> None:
    target = parse_smtp_url(url)
    assert (target.host, target.port, target.tls, target.starttls, target.user, target.password) == expected
    assert "pa@ss" not in target.display and "pa@ss" not in repr(target)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://mail.example", "use smtp:// or smtps://"),
        ("smtp://", "no host"),
        ("smtp://mail.example:99999", "not an SMTP URL"),
        ("smtp://mail.example?starttls=maybe", "is not true or false"),
        ("smtps://mail.example?starttls=true", "TLS from the start"),
        ("smtp://mail.example?tls=1", "unknown option 'tls'"),
        ("smtp://mail.example/inbox", "no path"),
    ],
)
def test_smtp_urls_that_cannot_work_are_one_line(url: str, problem: str, config_file: Path) -> None:
    with pytest.raises(SmtpUrlError, match=re.escape(problem)):
        parse_smtp_url(url)
    with pytest.raises(ConfigError) as refused:
        load_settings(config_file, env={"STATUSPAGE_SMTP_URL": url})
    (line,) = refused.value.lines
    assert line.startswith("STATUSPAGE_SMTP_URL: ") and problem in line


def test_the_email_section_of_the_configuration(config_file: Path) -> None:
    text = config_file.read_text(encoding="utf-8")
    config_file.write_text(
        text + '\nemail:\n  from: "Sendero on-call <oncall@sendero.example>"\n  smtp_url: smtp://mail.sendero.example:587?starttls=true\n',
        encoding="utf-8",
    )
    settings = load_settings(config_file, env={})
    assert settings.smtp_url == "smtp://mail.sendero.example:587?starttls=true"
    assert settings.config.email.from_address == "Sendero on-call <oncall@sendero.example>"
    assert load_settings(config_file, env={"STATUSPAGE_SMTP_URL": "smtp://other:25"}).smtp_url == "smtp://other:25"
    config_file.write_text(text + "\nemail:\n  from: not an address\n  smtp_url: ftp://x\n", encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_settings(config_file, env={})
    assert any("email.from" in line and "is not an address" in line for line in refused.value.lines), refused.value.lines
    assert any("email.smtp_url" in line and "use smtp://" in line for line in refused.value.lines), refused.value.lines


def test_email_pages_switched_off_queue_nothing_and_say_so(
    runtime: Runtime, settings: Settings, ctx: WriteContext
) -> None:
    off = settings.config.model_copy(update={"email": settings.config.email.model_copy(update={"enabled": False})})
    ctx.config = off
    incident_id = declare(ctx)
    assert mails(runtime) == []
    pages = email_pages(runtime, incident_id)
    assert {(p.delivery_state, p.delivery_error) for p in pages.values()} == {(delivery.NOT_SENT, delivery.EMAIL_OFF)}
    assert not [m for m in mails(runtime) if m.channel == mail_hook.CHANNEL]
