"""Pages to ``apprise`` contacts end to end: the engine pages, the outbox's apprise sender hands
the page to Apprise, which POSTs it (``json://``) to a local HTTP server, and the page's row says
what became of it. The URL's credentials never show: not in ``incident show``, not on the
worker's console."""

from __future__ import annotations

import base64
import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlmodel import col, select

from incident_cli.main import main as incident_main
from statuspage import outbox
from statuspage.clock import FixedClock
from statuspage.contact_urls import shown_contact
from statuspage.context import WriteContext
from statuspage.db.models import AuditEvent, OutboxMessage, PageSent
from statuspage.incidents import service as incidents
from statuspage.oncall import delivery
from statuspage.pagers.apprise_sender import ATTEMPTS, AppriseSender
from statuspage.runtime import Runtime
from statuspage.settings import ConfigError, load_settings
from tests.conftest import SHIPPED_CONFIG
from tests.http_receiver import Receiver, serve

NO_JITTER = lambda: 1.0  # noqa: E731
SECRET = "s3cretpass"
ANA_LINE = "contacts: [{slack_user: U01ANARUIZ}, {phone: \"+1 555 0101\"}, {email: ana.ruiz@sendero.example}]"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from serve()


def apprise_url(receiver: Receiver) -> str:
    return f"json://pager:{SECRET}@127.0.0.1:{receiver.port}/page"


def with_contact(path: Path, contact: str) -> None:
    """Ana Ruiz's contacts become her phone and ``contact`` (a flow-mapping entry)."""
    text = path.read_text()
    assert ANA_LINE in text
    path.write_text(text.replace(ANA_LINE, f'contacts: [{{phone: "+1 555 0101"}}, {contact}]'))


@pytest.fixture
def config_file(tmp_path: Path, receiver: Receiver) -> Path:
    target = tmp_path / "statuspage.yaml"
    shutil.copy(SHIPPED_CONFIG, target)
    with_contact(target, f'{{apprise: "{apprise_url(receiver)}"}}')
    return target


@pytest.fixture
def sender() -> Iterator[AppriseSender]:
    s = AppriseSender()
    yield s
    s.close()


@pytest.fixture
def said() -> list[str]:
    return []


@pytest.fixture
def deliver(runtime: Runtime, sender: AppriseSender, said: list[str]) -> Callable[..., outbox.DeliveryReport]:
    def run(**kwargs: Any) -> outbox.DeliveryReport:
        kwargs.setdefault("senders", {"apprise": sender})
        kwargs.setdefault("rand", NO_JITTER)
        kwargs.setdefault("say", said.append)
        return outbox.deliver_due(runtime, **kwargs)

    return run


def declare(ctx: WriteContext) -> int:
    incident = incidents.declare(
        ctx=ctx, severity=1, title="Checkout failing", components=["checkout"], message="Card payments fail for every customer."
    )
    assert incident.id is not None
    return incident.id


def messages(runtime: Runtime, channel: str = "apprise") -> list[OutboxMessage]:
    with runtime.session() as session:
        return list(
            session.exec(select(OutboxMessage).where(OutboxMessage.channel == channel).order_by(col(OutboxMessage.id))).all()
        )


def drain(runtime: Runtime, clock: FixedClock, deliver: Callable[..., outbox.DeliveryReport], channel: str = "apprise") -> None:
    for _ in range(50):
        if deliver().claimed:
            continue
        pending = [m for m in messages(runtime, channel) if m.state == outbox.PENDING]
        if not pending:
            return
        clock.at = max(clock.now(), min(m.next_attempt_at for m in pending))
    raise AssertionError("the outbox did not drain")


def page_of(runtime: Runtime, incident_id: int, kind: str = "apprise") -> PageSent:
    with runtime.session() as session:
        (page,) = session.exec(select(PageSent).where(PageSent.incident_id == incident_id, PageSent.contact_kind == kind)).all()
        return page


def events(runtime: Runtime, action: str) -> list[AuditEvent]:
    with runtime.session() as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.id))).all())


def test_a_page_reaches_the_apprise_url_with_everything_needed_to_act(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, receiver: Receiver, deliver: Callable[..., outbox.DeliveryReport]
) -> None:
    incident_id = declare(ctx)
    (queued,) = messages(runtime)
    assert SECRET not in queued.target and SECRET not in queued.ordering_key
    assert queued.target == f"json://127.0.0.1:{receiver.port}/…"
    drain(runtime, clock, deliver)

    (request,) = receiver.requests
    assert request.path.startswith("/page")
    assert request.headers["authorization"] == "Basic " + base64.b64encode(f"pager:{SECRET}".encode()).decode()
    body = json.loads(request.body)
    assert body["title"] == f"[Sev-1] You are paged: #{incident_id} Checkout failing"
    text = body["message"]
    assert f"Ana Ruiz, you are paged for incident #{incident_id} (tier 1, Front line)." in text
    assert "Severity:    Sev-1 (Critical)" in text
    assert "Card payments fail for every customer." in text
    assert f"Acknowledge: incident ack {incident_id}" in text
    page = page_of(runtime, incident_id)
    link = re.search(r"One click: http://127\.0\.0\.1:8000/ack/(\S+)", text)
    assert link is not None and link.group(1).startswith(f"{page.id}.")
    assert f"The incident: http://127.0.0.1:8000/incidents/{incident_id}" in text
    assert page.delivery_state == delivery.SENT and page.delivery_at is not None
    (delivered,) = [e for e in events(runtime, "incident.page_delivered") if (e.after or {})["contact_kind"] == "apprise"]
    assert (delivered.after or {})["delivery"] == {"state": "sent"}


def test_a_refusal_then_success_delivers_once(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, receiver: Receiver, deliver: Callable[..., outbox.DeliveryReport]
) -> None:
    receiver.answer(500, b"busy")
    incident_id = declare(ctx)
    drain(runtime, clock, deliver)
    assert len(receiver.requests) == 2
    (message,) = messages(runtime)
    assert (message.state, message.attempts) == (outbox.DELIVERED, 2)
    assert page_of(runtime, incident_id).delivery_state == delivery.SENT
    # Sending the delivered page again sends nothing.
    deliver()
    assert len(receiver.requests) == 2


def test_a_page_apprise_never_delivers_is_dead_failed_and_reported_without_the_secret(
    runtime: Runtime,
    ctx: WriteContext,
    clock: FixedClock,
    receiver: Receiver,
    deliver: Callable[..., outbox.DeliveryReport],
    said: list[str],
    cli_env: dict[str, str],
) -> None:
    receiver.always(404, b"no such topic")
    incident_id = declare(ctx)
    drain(runtime, clock, deliver)
    assert len(receiver.requests) == ATTEMPTS
    (message,) = messages(runtime)
    assert message.state == outbox.DEAD
    page = page_of(runtime, incident_id)
    assert page.delivery_state == delivery.FAILED
    assert "Apprise could not notify" in (page.delivery_error or "")
    (failed,) = events(runtime, "incident.page_failed")
    assert (failed.after or {})["contact_kind"] == "apprise"
    assert (failed.after or {})["delivery"]["state"] == "failed"
    # The worker's console names the contact masked.
    (line,) = said
    assert f"could not page Ana Ruiz by Apprise json://127.0.0.1:{receiver.port}/…" in line
    assert SECRET not in line and "pager:" not in line

    shown = CliRunner(env=cli_env).invoke(incident_main, ["show", str(incident_id)], prog_name="incident", catch_exceptions=False)
    assert shown.exit_code == 0, shown.output
    assert f"apprise json://127.0.0.1:{receiver.port}/…" in shown.stdout
    assert SECRET not in shown.stdout
    as_json = CliRunner(env=cli_env).invoke(
        incident_main, ["show", str(incident_id), "--json"], prog_name="incident", catch_exceptions=False
    )
    assert as_json.exit_code == 0 and SECRET not in as_json.stdout


def test_secrets_in_apprise_urls_are_masked() -> None:
    assert shown_contact("apprise", "ntfy://user:pw@ntfy.example.com/topic") == "ntfy://ntfy.example.com/…"
    assert "ABCdefGHIjkl" not in shown_contact("apprise", "tgram://123456789:ABCdefGHIjkl/4567")
    assert shown_contact("email", "ana@example.com") == "ana@example.com"


@pytest.mark.parametrize(
    ("contact", "problem"),
    [
        ('{apprise: "nosuch://x/y"}', 'contacts[1].apprise: "nosuch://…" is not an Apprise URL'),
        ('{apprise: "not a url"}', 'contacts[1].apprise: "the value" is not an Apprise URL'),
        ("{apprise: ntfy://t, email: a@b.example}", "a contact names exactly one of"),
    ],
)
def test_a_contact_that_is_not_an_apprise_url_is_one_line(tmp_path: Path, contact: str, problem: str) -> None:
    target = tmp_path / "statuspage.yaml"
    shutil.copy(SHIPPED_CONFIG, target)
    with_contact(target, contact)
    with pytest.raises(ConfigError) as raised:
        load_settings(target, env={})
    (line,) = [line for line in str(raised.value).splitlines() if "contacts[1]" in line]
    assert "escalation.tiers[0].owners[0]." + problem.split(": ", 1)[0] in line or problem in line
    assert problem.split(": ", 1)[-1] in line
    assert re.match(rf"{re.escape(str(target))}:\d+", line) or "statuspage.yaml:" in line
