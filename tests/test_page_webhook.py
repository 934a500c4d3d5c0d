"""Pages to ``webhook`` contacts: a signed JSON POST per page to a local HTTP server. The signature
verifies with the documented recipe, every attempt carries the same idempotency key, 429/5xx are
waited out, any other 4xx is dead and reported, and the URL's secrets never show."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from incident_cli.main import main as incident_main
from statuspage import outbox
from statuspage.clock import FixedClock
from statuspage.context import WriteContext
from statuspage.oncall import delivery
from statuspage.pagers.webhook_sender import PageWebhookSender
from statuspage.runtime import Runtime
from statuspage.settings import Settings, load_settings
from statuspage.webhooks.sender import verify_signature
from tests.conftest import SHIPPED_CONFIG
from tests.http_receiver import Receiver, serve
from tests.test_apprise import declare, drain, events, messages, page_of, with_contact

NO_JITTER = lambda: 1.0  # noqa: E731
SIGNING = "page-webhook-secret-0123456789"
TOKEN = "tok3n-in-the-path"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from serve()


@pytest.fixture
def config_file(tmp_path: Path, receiver: Receiver) -> Path:
    target = tmp_path / "statuspage.yaml"
    shutil.copy(SHIPPED_CONFIG, target)
    with_contact(target, f'{{webhook: "http://127.0.0.1:{receiver.port}/pages/{TOKEN}?key={TOKEN}"}}')
    return target


@pytest.fixture
def settings(config_file: Path, db_url: str) -> Settings:
    return load_settings(config_file, env={"DATABASE_URL": db_url, "STATUSPAGE_PAGE_WEBHOOK_SECRET": SIGNING})


@pytest.fixture
def said() -> list[str]:
    return []


@pytest.fixture
def deliver(runtime: Runtime, said: list[str]) -> Iterator[Callable[..., outbox.DeliveryReport]]:
    sender = PageWebhookSender(secret=runtime.settings.page_webhook_secret)

    def run(**kwargs: Any) -> outbox.DeliveryReport:
        kwargs.setdefault("senders", {"page_webhook": sender})
        kwargs.setdefault("rand", NO_JITTER)
        kwargs.setdefault("say", said.append)
        return outbox.deliver_due(runtime, **kwargs)

    yield run
    sender.close()


def drain_webhooks(runtime: Runtime, clock: FixedClock, deliver: Callable[..., outbox.DeliveryReport]) -> None:
    drain(runtime, clock, deliver, channel="page_webhook")


def test_a_page_is_a_signed_post_that_verifies_with_the_documented_recipe(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, receiver: Receiver, deliver: Callable[..., outbox.DeliveryReport]
) -> None:
    receiver.answer(202, b'{"id": "evt_42"}')
    incident_id = declare(ctx)
    drain_webhooks(runtime, clock, deliver)
    (request,) = receiver.requests
    (message,) = messages(runtime, "page_webhook")
    assert request.headers["idempotency-key"] == request.headers["x-statuspage-delivery"] == message.delivery_id
    assert request.headers["x-statuspage-event"] == "page"
    assert verify_signature(
        SIGNING, request.headers["x-statuspage-timestamp"], request.body, request.headers["x-statuspage-signature"], now=clock.now()
    )
    assert not verify_signature(
        "another-secret-0123456789", request.headers["x-statuspage-timestamp"], request.body,
        request.headers["x-statuspage-signature"], now=clock.now(),
    )
    body = json.loads(request.body)
    assert body["type"] == "page" and body["person"] == "Ana Ruiz" and body["tier"] == 1
    assert body["delivery_id"] == message.delivery_id
    assert body["incident"]["id"] == incident_id and body["incident"]["title"] == "Checkout failing"
    assert body["incident"]["url"] == f"http://127.0.0.1:8000/incidents/{incident_id}"
    page = page_of(runtime, incident_id, "webhook")
    assert body["ack_url"].startswith(f"http://127.0.0.1:8000/ack/{page.id}.")
    assert body["ack_command"] == f"incident ack {incident_id}"
    assert (page.delivery_state, page.delivery_ref) == (delivery.SENT, "evt_42")
    assert TOKEN not in message.target


def test_retries_keep_the_same_idempotency_key_and_deliver_once(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, receiver: Receiver, deliver: Callable[..., outbox.DeliveryReport]
) -> None:
    receiver.answer(503, b"down")
    receiver.answer(429, b"slow down")
    incident_id = declare(ctx)
    drain_webhooks(runtime, clock, deliver)
    assert len(receiver.requests) == 3
    assert len({r.headers["idempotency-key"] for r in receiver.requests}) == 1
    (message,) = messages(runtime, "page_webhook")
    assert (message.state, message.waits, message.attempts) == (outbox.DELIVERED, 2, 1)
    page = page_of(runtime, incident_id, "webhook")
    assert (page.delivery_state, page.delivery_ref) == (delivery.SENT, "HTTP 200")


def test_a_4xx_is_dead_failed_reported_and_shown_without_the_secret(
    runtime: Runtime,
    ctx: WriteContext,
    clock: FixedClock,
    receiver: Receiver,
    deliver: Callable[..., outbox.DeliveryReport],
    said: list[str],
    cli_env: dict[str, str],
) -> None:
    receiver.always(401, b"bad token")
    incident_id = declare(ctx)
    drain_webhooks(runtime, clock, deliver)
    assert len(receiver.requests) == 1
    (message,) = messages(runtime, "page_webhook")
    assert message.state == outbox.DEAD
    page = page_of(runtime, incident_id, "webhook")
    assert page.delivery_state == delivery.FAILED and "HTTP 401" in (page.delivery_error or "")
    assert "bad token" in (page.delivery_error or "")
    (failed,) = events(runtime, "incident.page_failed")
    assert (failed.after or {})["contact_kind"] == "webhook"
    (line,) = said
    assert f"could not page Ana Ruiz by webhook http://127.0.0.1:{receiver.port}/…" in line
    assert TOKEN not in line
    env = cli_env | {"STATUSPAGE_PAGE_WEBHOOK_SECRET": SIGNING}
    shown = CliRunner(env=env).invoke(incident_main, ["show", str(incident_id)], prog_name="incident", catch_exceptions=False)
    assert shown.exit_code == 0, shown.output
    assert f"webhook http://127.0.0.1:{receiver.port}/…" in shown.stdout and TOKEN not in shown.stdout


def test_without_a_secret_the_page_is_dead_and_says_why(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, receiver: Receiver
) -> None:
    incident_id = declare(ctx)
    sender = PageWebhookSender(secret=None)
    outbox.deliver_due(runtime, senders={"page_webhook": sender}, rand=NO_JITTER)
    sender.close()
    assert receiver.requests == []
    page = page_of(runtime, incident_id, "webhook")
    assert page.delivery_state == delivery.FAILED and "STATUSPAGE_PAGE_WEBHOOK_SECRET" in (page.delivery_error or "")
