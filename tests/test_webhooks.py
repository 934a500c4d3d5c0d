"""Webhooks end to end: changes through the service layer, the outbox worker, a real HTTP receiver.

The receiver is an ``http.server`` on 127.0.0.1 in a thread; it records every request and answers
what a test tells it to (500, 429 with Retry-After, 410, a time-out). The worker runs with the
test's FixedClock and a fixed jitter, so every retry time is exact.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlmodel import col, select

from statuspage import outbox
from statuspage.clock import FixedClock
from statuspage.context import Actor, WriteContext, write
from statuspage.db.models import AuditEvent, OutboxMessage, WebhookSubscriber
from statuspage.domain.enums import Source
from statuspage.errors import Conflict, InvalidInput
from statuspage.incidents import handling
from statuspage.incidents import service as incidents
from statuspage.maintenance import service as maintenance
from statuspage.runtime import Runtime
from statuspage.webhooks import service as webhooks
from statuspage.webhooks.sender import WebhookSender, parse_retry_after, verify_signature
from tests.outbox_faults import Crash, CrashAfterSend

# The jitter factor is 0.5 + 0.5 * rand(); with rand() == 1.0 the n-th failure waits exactly
# base_delay * 2**(n-1): 10 s, 20 s, 40 s ...
NO_JITTER = lambda: 1.0  # noqa: E731


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """The demo configuration with Slack and email pages off, so the outbox holds only what these
    tests send."""
    from tests.conftest import SHIPPED_CONFIG

    target = tmp_path / "statuspage.yaml"
    text = SHIPPED_CONFIG.read_text(encoding="utf-8")
    assert "slack:\n  enabled: true" in text and "\nemail:" not in text
    off = "email:\n  enabled: false\n\nslack:\n  enabled: false"
    target.write_text(text.replace("slack:\n  enabled: true", off), encoding="utf-8")
    return target


# The receiver --------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def delivery(self) -> str:
        return self.headers["x-statuspage-delivery"]


class Receiver:
    """Records POSTs; answers the queued answers in turn, then 200."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.answers: deque[Answer] = deque()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    answer = receiver.answers.popleft() if receiver.answers else Answer()
                if answer.delay:
                    time.sleep(answer.delay)
                reply = b'{"ok": true}'
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # the client hung up on a slow answer: expected in the time-out test

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, *answers: Answer) -> None:
        with self.lock:
            self.answers.extend(answers)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def sender() -> Iterator[WebhookSender]:
    s = WebhookSender(timeout=2.0)
    yield s
    s.close()


@pytest.fixture
def deliver(runtime: Runtime, sender: WebhookSender) -> Callable[..., outbox.DeliveryReport]:
    """One worker pass with the test's clock, the test's sender and no jitter."""

    def run(**kwargs: Any) -> outbox.DeliveryReport:
        kwargs.setdefault("senders", {"webhook": sender})
        kwargs.setdefault("rand", NO_JITTER)
        return outbox.deliver_due(runtime, **kwargs)

    return run


def subscribe(ctx: WriteContext, url: str, description: str = "") -> tuple[WebhookSubscriber, str]:
    return webhooks.subscribe(ctx=ctx, url=url, description=description)


def declare(ctx: WriteContext, title: str = "API down") -> int:
    incident = incidents.declare(ctx=ctx, severity=1, title=title, components=["api"])
    assert incident.id is not None
    return incident.id


def messages(runtime: Runtime) -> list[OutboxMessage]:
    with runtime.session() as session:
        return list(session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all())


def expected_signature(secret: str, request: Received) -> str:
    """Computed here without the product's code, as a receiver in another language would."""
    signed = request.headers["x-statuspage-timestamp"].encode() + b"." + request.body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


# Subscriptions -------------------------------------------------------------------------------


def test_subscribe_returns_a_secret_that_is_not_audited(runtime: Runtime, ctx: WriteContext) -> None:
    subscriber, secret = subscribe(ctx, "https://hooks.example.com/status", "Ops bot")
    assert secret.startswith("whsec_") and len(secret) > 40
    assert subscriber.secret == secret
    with runtime.session() as session:
        listed = webhooks.list_subscribers(session=session)
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "webhook.subscribe")).all()
    assert [(s.url, s.description, s.created_by) for s in listed] == [("https://hooks.example.com/status", "Ops bot", "alice")]
    assert len(events) == 1 and secret not in json.dumps(events[0].after)
    assert messages(runtime) == []  # a subscription is not an incident change


@pytest.mark.parametrize(
    "url",
    ["", "ftp://example.com/hook", "javascript:alert(1)", "example.com/hook", "http://", "https://exa mple.com/",
     "http://example.com/\nX-Injected: 1", "http://example.com:99999/"],
)
def test_subscribe_refuses_urls_that_are_not_http(ctx: WriteContext, url: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        subscribe(ctx, url)
    assert caught.value.field == "url"
    assert "\n" not in caught.value.message


def test_remove_and_disable(runtime: Runtime, ctx: WriteContext) -> None:
    first, _ = subscribe(ctx, "https://a.example.com/")
    second, _ = subscribe(ctx, "https://b.example.com/")
    webhooks.disable(ctx=ctx, subscriber_id=first.id or 0, reason="testing")
    webhooks.remove(ctx=ctx, subscriber_id=str(second.id))
    with runtime.session() as session:
        remaining = webhooks.list_subscribers(session=session)
        active = webhooks.list_subscribers(session=session, include_disabled=False)
    assert [s.id for s in remaining] == [first.id] and remaining[0].disabled_at is not None
    assert active == []
    declare(ctx)
    assert messages(runtime) == []


# Enqueueing in the change's transaction ------------------------------------------------------


def test_one_message_per_change_per_active_subscriber(runtime: Runtime, ctx: WriteContext) -> None:
    a, _ = subscribe(ctx, "https://a.example.com/")
    b, _ = subscribe(ctx, "https://b.example.com/")
    off, _ = subscribe(ctx, "https://off.example.com/")
    webhooks.disable(ctx=ctx, subscriber_id=off.id or 0)
    incident_id = declare(ctx)
    incidents.post_update(ctx=ctx, incident_id=incident_id, status="identified", message="Found it.")
    incidents.post_update(ctx=ctx, incident_id=incident_id, status="resolved", message="Fixed.")  # joins resolve()
    rows = messages(runtime)
    assert [(m.target, m.event) for m in rows] == [
        (str(a.id), "incident.created"),
        (str(b.id), "incident.created"),
        (str(a.id), "incident.updated"),
        (str(b.id), "incident.updated"),
        (str(a.id), "incident.resolved"),
        (str(b.id), "incident.resolved"),
    ]
    assert {m.ordering_key for m in rows} == {f"webhook:{a.id}:incident:{incident_id}", f"webhook:{b.id}:incident:{incident_id}"}
    assert len({m.delivery_id for m in rows}) == 6
    last = rows[-1].payload
    assert last["id"] == rows[-1].delivery_id
    assert last["event"] == "incident.resolved"
    assert last["page"]["id"] == runtime.settings.config.page.id
    assert last["incident"]["id"] == str(incident_id)
    assert last["incident"]["status"] == "resolved"
    assert [u["body"] for u in last["incident"]["incident_updates"]][:2] == ["Fixed.", "Found it."]
    assert all(m.state == "pending" and m.attempts == 0 and m.next_attempt_at == m.created_at for m in rows)


def test_failed_change_enqueues_nothing_and_successful_change_exactly_one(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock
) -> None:
    subscribe(ctx, "https://a.example.com/")
    incident_id = declare(ctx)
    incidents.resolve(ctx=ctx, incident_id=incident_id)
    assert len(messages(runtime)) == 2
    with pytest.raises(Conflict):
        incidents.post_update(ctx=ctx, incident_id=incident_id, message="Too late.")
    assert len(messages(runtime)) == 2

    # A failure after the enqueuer ran (a later hook) rolls back the change and its message.
    def fail(_ctx: WriteContext) -> None:
        raise RuntimeError("the disk is full")

    failing = dataclasses.replace(ctx, wiring=ctx.wiring.with_hook(fail))
    with pytest.raises(RuntimeError):
        incidents.reopen(ctx=failing, incident_id=incident_id)
    assert len(messages(runtime)) == 2
    with runtime.session() as session:
        assert incidents.get(session=session, incident_id=incident_id).status == "resolved"

    clock.advance(minutes=1)
    incidents.reopen(ctx=ctx, incident_id=incident_id)
    rows = messages(runtime)
    assert len(rows) == 3 and rows[-1].event == "incident.updated"
    assert rows[-1].payload["incident"]["status"] == "investigating"


def test_a_service_joined_with_its_own_context_is_announced(runtime: Runtime, make_ctx: Callable[..., WriteContext]) -> None:
    ctx = make_ctx()
    subscribe(ctx, "https://a.example.com/")
    incident_id = declare(ctx)

    @write
    def update_as_bob(*, ctx: WriteContext) -> None:
        bob = runtime.context(ctx.session, Actor("bob", Source.CLI))
        incidents.post_update(ctx=bob, incident_id=incident_id, status="identified", message="Found it.")

    update_as_bob(ctx=ctx)
    rows = messages(runtime)
    assert [m.event for m in rows] == ["incident.created", "incident.updated"]


def test_responder_only_changes_send_nothing(runtime: Runtime, ctx: WriteContext) -> None:
    """Paging, acknowledging and handing over change nothing in the public record subscribers get."""
    subscribe(ctx, "https://a.example.com/")
    incident_id = declare(ctx)
    incidents.acknowledge(ctx=ctx, incident_id=incident_id)
    handling.hand_over(ctx=ctx, incident_id=incident_id, to="Chen Wei")
    assert [m.event for m in messages(runtime)] == ["incident.created"]


def test_maintenance_changes_are_announced(runtime: Runtime, ctx: WriteContext, clock: FixedClock) -> None:
    subscribe(ctx, "https://a.example.com/")
    start = clock.now() + timedelta(days=1)
    planned = maintenance.schedule(
        ctx=ctx, title="DB upgrade", components=["api"], scheduled_for=start, scheduled_until=start + timedelta(hours=1)
    )
    maintenance.set_status(ctx=ctx, maintenance_id=planned.id or 0, status="in_progress")
    maintenance.set_status(ctx=ctx, maintenance_id=planned.id or 0, status="completed")
    rows = messages(runtime)
    assert [m.event for m in rows] == ["maintenance.created", "maintenance.updated", "maintenance.completed"]
    assert {m.ordering_key for m in rows} == {f"webhook:1:maintenance:{planned.id}"}
    body = rows[-1].payload["scheduled_maintenance"]
    assert body["id"] == f"m{planned.id}" and body["status"] == "completed"
    assert "incident" not in rows[-1].payload


# Delivery ------------------------------------------------------------------------------------


def test_each_change_is_posted_once_per_subscriber_signed_and_in_order(
    runtime: Runtime, ctx: WriteContext, receiver: Receiver, deliver: Callable[..., outbox.DeliveryReport]
) -> None:
    _, secret_a = subscribe(ctx, f"{receiver.url}/a")
    _, secret_b = subscribe(ctx, f"{receiver.url}/b")
    secrets = {"/a": secret_a, "/b": secret_b}
    incident_id = declare(ctx)
    incidents.post_update(ctx=ctx, incident_id=incident_id, status="monitoring", message="Watching.")
    incidents.resolve(ctx=ctx, incident_id=incident_id, message="Fixed.")

    while deliver().claimed:
        pass

    assert len(receiver.requests) == 6
    for path in ("/a", "/b"):
        got = [r for r in receiver.requests if r.path == path]
        assert [r.headers["x-statuspage-event"] for r in got] == ["incident.created", "incident.updated", "incident.resolved"]
        assert [r.json["incident"]["status"] for r in got] == ["investigating", "monitoring", "resolved"]
        for request in got:
            headers = request.headers
            assert headers["content-type"] == "application/json"
            assert headers["user-agent"] == "statuspage-webhooks"
            assert headers["x-statuspage-delivery"] == request.json["id"]
            assert headers["x-statuspage-event"] == request.json["event"]
            assert int(headers["x-statuspage-timestamp"]) == int(runtime.clock.now().timestamp())
            assert headers["x-statuspage-signature"] == expected_signature(secrets[path], request)
            assert verify_signature(
                secrets[path], headers["x-statuspage-timestamp"], request.body, headers["x-statuspage-signature"],
                now=runtime.clock.now(),
            )
            other = secrets["/b" if path == "/a" else "/a"]
            assert not verify_signature(
                other, headers["x-statuspage-timestamp"], request.body, headers["x-statuspage-signature"],
                now=runtime.clock.now(),
            )
    rows = messages(runtime)
    assert all(m.state == "delivered" and m.attempts == 1 and m.delivered_at == runtime.clock.now() for m in rows)
    assert all(m.result == {"status_code": 200} for m in rows)


def test_rerunning_the_worker_after_delivery_sends_nothing_more(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, receiver: Receiver, deliver: Callable[..., outbox.DeliveryReport]
) -> None:
    subscribe(ctx, receiver.url)
    declare(ctx)
    assert deliver().delivered == 1
    assert deliver().claimed == 0
    clock.advance(days=2)
    assert deliver().claimed == 0
    assert len(receiver.requests) == 1


def test_titles_arrive_verbatim_as_plain_json(
    runtime: Runtime, ctx: WriteContext, receiver: Receiver, deliver: Callable[..., outbox.DeliveryReport]
) -> None:
    title = '<script>alert("x")</script> & Zürich ✓'
    subscribe(ctx, receiver.url)
    declare(ctx, title=title)
    deliver()
    (request,) = receiver.requests
    assert request.json["incident"]["name"] == title
    assert '<script>alert(\\"x\\")</script> & Zürich ✓'.encode() in request.body
    assert b"\\u003c" not in request.body and b"&lt;" not in request.body


def test_order_per_incident_holds_when_the_first_delivery_fails(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, receiver: Receiver, deliver: Callable[..., outbox.DeliveryReport]
) -> None:
    subscribe(ctx, receiver.url)
    first = declare(ctx, "First")
    second = declare(ctx, "Second")
    incidents.post_update(ctx=ctx, incident_id=first, status="identified", message="Found.")
    receiver.answer(Answer(500))  # the first incident's "created" fails

    report = deliver()
    # Tried: first.created (500) and second.created (200); first.updated is due but waits its turn.
    assert (report.claimed, report.delivered, report.retried) == (2, 1, 1)
    assert deliver().claimed == 0
    assert [r.json["incident"]["name"] for r in receiver.requests] == ["First", "Second"]

    clock.advance(seconds=10)  # the first retry's backoff
    deliver()
    deliver()
    events = [(r.json["incident"]["id"], r.json["event"]) for r in receiver.requests]
    assert events == [
        (str(first), "incident.created"),
        (str(second), "incident.created"),
        (str(first), "incident.created"),
        (str(first), "incident.updated"),
    ]
    assert receiver.requests[0].delivery == receiver.requests[2].delivery


def test_retries_with_exponential_backoff(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, receiver: Receiver, deliver: Callable[..., outbox.DeliveryReport]
) -> None:
    subscribe(ctx, receiver.url)
    declare(ctx)
    receiver.answer(Answer(500), Answer(503))
    t0 = clock.now()
    deliver()
    (row,) = messages(runtime)
    # A receiver that is down is waited out: not a failed attempt.
    assert (row.state, row.attempts, row.waits) == ("pending", 0, 1)
    assert (row.next_attempt_at, row.claimed_until) == (t0 + timedelta(seconds=10), None)
    assert row.last_error is not None and "HTTP 500" in row.last_error
    clock.advance(seconds=9)
    assert deliver().claimed == 0
    clock.advance(seconds=1)
    deliver()
    (row,) = messages(runtime)
    assert (row.attempts, row.waits, row.next_attempt_at) == (0, 2, clock.now() + timedelta(seconds=20))
    clock.advance(seconds=20)
    assert deliver().delivered == 1
    assert len(receiver.requests) == 3
    assert len({r.delivery for r in receiver.requests}) == 1


def test_backoff_jitter_is_injected() -> None:
    policy = outbox.RetryPolicy()
    assert policy.backoff(1, lambda: 0.0) == timedelta(seconds=5)
    assert policy.backoff(3, lambda: 1.0) == timedelta(seconds=40)
    assert policy.backoff(30, lambda: 1.0) == timedelta(hours=1)


def test_retry_after_is_honoured(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, receiver: Receiver, deliver: Callable[..., outbox.DeliveryReport]
) -> None:
    subscribe(ctx, receiver.url)
    declare(ctx)
    receiver.answer(Answer(429, {"Retry-After": "120"}))
    deliver()
    (row,) = messages(runtime)
    assert row.next_attempt_at == clock.now() + timedelta(seconds=120)
    assert row.result == {"status_code": 429}
    clock.advance(seconds=119)
    assert deliver().claimed == 0
    clock.advance(seconds=1)
    assert deliver().delivered == 1


def test_retry_after_as_a_date() -> None:
    now = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    assert parse_retry_after("Wed, 25 Nov 2026 08:02:00 GMT", now) == timedelta(minutes=2)
    assert parse_retry_after("Wed, 25 Nov 2026 07:00:00 GMT", now) == timedelta(0)
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_dead_after_max_attempts_and_dead_letters_stay_visible(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, receiver: Receiver, deliver: Callable[..., outbox.DeliveryReport]
) -> None:
    policy = outbox.RetryPolicy(max_attempts=3)
    subscribe(ctx, receiver.url)
    incident_id = declare(ctx)
    incidents.post_update(ctx=ctx, incident_id=incident_id, message="Still on it.")
    receiver.answer(Answer(400), Answer(400), Answer(400))
    for _ in range(3):
        deliver(policy=policy)
        clock.advance(hours=1)
    first, second = messages(runtime)
    assert (first.state, first.attempts) == ("dead", 3)
    assert second.state == "pending" and second.attempts == 0
    # The dead letter no longer holds the next message of its incident.
    assert deliver(policy=policy).delivered == 1
    with runtime.session() as session:
        summary = outbox.summary(session)
    assert summary.counts == {("webhook", "dead"): 1, ("webhook", "delivered"): 1}
    assert [m.id for m in summary.dead] == [first.id]
    assert "HTTP 400" in (summary.dead[0].last_error or "")


def test_a_receiver_that_stays_down_never_kills_a_message(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, receiver: Receiver, deliver: Callable[..., outbox.DeliveryReport]
) -> None:
    subscribe(ctx, receiver.url)
    declare(ctx)
    receiver.answer(*[Answer(503)] * 30, Answer(429, {"Retry-After": "5"}), Answer(408))
    for _ in range(32):
        deliver()
        clock.advance(hours=1)  # two days of outage, past max_attempts and max_age
    (row,) = messages(runtime)
    assert (row.state, row.attempts, row.waits) == ("pending", 0, 32)
    assert deliver().delivered == 1
    assert len(receiver.requests) == 33 and len({r.delivery for r in receiver.requests}) == 1


def test_other_client_errors_get_a_few_attempts(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, receiver: Receiver, deliver: Callable[..., outbox.DeliveryReport]
) -> None:
    subscribe(ctx, receiver.url)
    declare(ctx)
    receiver.answer(*[Answer(404)] * 5)
    for _ in range(5):
        deliver()
        clock.advance(hours=1)
    (row,) = messages(runtime)
    assert (row.state, row.attempts) == ("dead", 3)
    assert len(receiver.requests) == 3


def test_dead_once_too_old(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, receiver: Receiver, deliver: Callable[..., outbox.DeliveryReport]
) -> None:
    subscribe(ctx, receiver.url)
    declare(ctx)
    clock.advance(hours=25)  # the worker was down for a day
    receiver.answer(Answer(502), Answer(404))
    assert deliver().dead == 0  # an outage is waited out, however old the message
    clock.advance(minutes=1)
    assert deliver().dead == 1  # a wrong answer this late is not retried
    (row,) = messages(runtime)
    assert (row.state, row.attempts, row.waits) == ("dead", 1, 1)


def test_gone_disables_the_subscriber(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, receiver: Receiver, deliver: Callable[..., outbox.DeliveryReport]
) -> None:
    gone, _ = subscribe(ctx, f"{receiver.url}/gone")
    kept, _ = subscribe(ctx, f"{receiver.url}/kept")
    incident_id = declare(ctx)
    incidents.post_update(ctx=ctx, incident_id=incident_id, message="More.")
    receiver.answer(Answer(410))  # the first request is the gone subscriber's "created"
    deliver()
    deliver()
    with runtime.session() as session:
        assert webhooks.get(session=session, subscriber_id=gone.id or 0).disabled_at == clock.now()
        audit = session.exec(select(AuditEvent).where(AuditEvent.action == "webhook.disable")).one()
    assert audit.actor == "outbox-worker"
    states = {(m.target, m.event): m.state for m in messages(runtime)}
    assert states == {
        (str(gone.id), "incident.created"): "dead",
        (str(kept.id), "incident.created"): "delivered",
        (str(gone.id), "incident.updated"): "dead",  # buried when the subscriber was disabled
        (str(kept.id), "incident.updated"): "delivered",
    }
    assert [r.path for r in receiver.requests] == ["/gone", "/kept", "/kept"]
    incidents.resolve(ctx=ctx, incident_id=incident_id)
    assert [m.target for m in messages(runtime)[4:]] == [str(kept.id)]


def test_timeouts_and_refused_connections_are_retried(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, receiver: Receiver, deliver: Callable[..., outbox.DeliveryReport]
) -> None:
    slow, _ = subscribe(ctx, f"{receiver.url}/slow")
    closed = Receiver()
    closed.close()  # nothing listens on this port any more
    unreachable, _ = subscribe(ctx, f"{closed.url}/closed")
    declare(ctx)
    receiver.answer(Answer(200, delay=1.5))
    quick = WebhookSender(timeout=0.3)
    try:
        report = deliver(senders={"webhook": quick})
    finally:
        quick.close()
    assert report.retried == 2
    by_target = {m.target: m for m in messages(runtime)}
    assert "no answer" in (by_target[str(slow.id)].last_error or "")
    assert "cannot reach" in (by_target[str(unreachable.id)].last_error or "")
    assert all(m.state == "pending" and (m.attempts, m.waits) == (0, 1) for m in by_target.values())


def test_a_crash_between_sending_and_marking_redelivers_with_the_same_id(
    runtime: Runtime,
    ctx: WriteContext,
    clock: FixedClock,
    receiver: Receiver,
    sender: WebhookSender,
    deliver: Callable[..., outbox.DeliveryReport],
) -> None:
    subscribe(ctx, receiver.url)
    declare(ctx)
    with pytest.raises(Crash):
        deliver(senders={"webhook": CrashAfterSend(sender)})
    (row,) = messages(runtime)
    assert row.state == "pending" and row.claimed_until == clock.now() + outbox.DEFAULT_POLICY.lease
    assert deliver().claimed == 0  # the dead worker's lease still holds
    clock.advance(minutes=5)
    assert deliver().delivered == 1
    assert len(receiver.requests) == 2
    assert receiver.requests[0].delivery == receiver.requests[1].delivery == row.delivery_id
    assert deliver().claimed == 0


def test_stopping_releases_the_unsent_rest_of_the_batch(
    runtime: Runtime, ctx: WriteContext, receiver: Receiver, deliver: Callable[..., outbox.DeliveryReport]
) -> None:
    subscribe(ctx, receiver.url)
    declare(ctx, "One")
    declare(ctx, "Two")
    asked = iter([False, True])
    report = deliver(stop=lambda: next(asked))
    assert (report.claimed, report.delivered, report.released) == (2, 1, 1)
    assert deliver().delivered == 1  # released at once, not after the lease
    assert [r.json["incident"]["name"] for r in receiver.requests] == ["One", "Two"]


def test_postgresql_workers_skip_each_others_claims(
    runtime: Runtime, ctx: WriteContext, db_url: str, deliver: Callable[..., outbox.DeliveryReport]
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("row locks are PostgreSQL's")
    subscribe(ctx, "https://a.example.com/")
    first = declare(ctx, "One")
    declare(ctx, "Two")
    with runtime.session() as other:
        # Another worker is in the middle of claiming the first incident's message.
        other.exec(select(OutboxMessage).where(OutboxMessage.target == "1", OutboxMessage.id == 1).with_for_update()).one()
        with runtime.session() as session:
            claimed = outbox.claim_due(session, now=runtime.clock.now(), channels=["webhook"])
        other.rollback()
    assert [m.payload["incident"]["id"] for m in claimed] == [str(first + 1)]


# Receivers' helper ---------------------------------------------------------------------------


def test_verify_signature_refuses_tampering_and_stale_timestamps() -> None:
    secret, body = "whsec_test", b'{"id":"d1"}'
    now = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    ts = str(int(now.timestamp()))
    good = "sha256=" + hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    assert verify_signature(secret, ts, body, good, now)
    assert verify_signature(secret, ts, body.decode(), good, now.timestamp() + 299)
    assert not verify_signature(secret, ts, body + b" ", good, now)
    assert not verify_signature("whsec_other", ts, body, good, now)
    assert not verify_signature(secret, ts, body, good.removeprefix("sha256="), now)
    assert not verify_signature(secret, ts, body, good, now + timedelta(minutes=6))
    assert verify_signature(secret, ts, body, good, now + timedelta(minutes=6), tolerance=timedelta(minutes=10))
    assert not verify_signature(secret, "yesterday", body, good, now)
    assert not verify_signature(secret, str(int(ts) + 1), body, good, now)


# The command line ----------------------------------------------------------------------------


def test_cli_add_list_deliver_once_outbox_remove(
    cli_env: dict[str, str], runtime: Runtime, ctx: WriteContext, clock: FixedClock, receiver: Receiver
) -> None:
    from statuspage.cli import main

    runner = CliRunner(env=cli_env)

    def run(*args: str) -> Any:
        return runner.invoke(main, list(args), prog_name="statuspage", catch_exceptions=False)

    bad = run("webhooks", "add", "ftp://example.com/")
    assert bad.exit_code == 2 and bad.stdout == ""
    assert len(bad.stderr.strip().splitlines()) == 1 and "url" in bad.stderr

    added = run("webhooks", "add", f"{receiver.url}/hook", "--description", "Ops bot")
    assert added.exit_code == 0, added.output
    secret = added.stdout.strip().splitlines()[-1].rsplit(" ", 1)[-1]
    assert secret.startswith("whsec_")
    listed = run("webhooks", "list")
    assert f"{receiver.url}/hook" in listed.stdout and "active" in listed.stdout and secret not in listed.stdout

    clock.at = datetime.now(UTC) - timedelta(minutes=1)  # the CLI runs on the system clock
    incident_id = declare(ctx)
    incidents.resolve(ctx=ctx, incident_id=incident_id)
    delivered = run("deliver", "--once")
    assert delivered.exit_code == 0, delivered.output
    assert "2 delivered" in delivered.stdout
    assert [r.headers["x-statuspage-event"] for r in receiver.requests] == ["incident.created", "incident.resolved"]
    request = receiver.requests[0]
    assert verify_signature(secret, request.headers["x-statuspage-timestamp"], request.body, request.headers["x-statuspage-signature"])

    shown = run("outbox")
    assert shown.exit_code == 0 and "webhook: 0 pending, 2 delivered, 0 dead" in shown.stdout
    removed = run("webhooks", "remove", "1")
    assert removed.exit_code == 0 and "Removed webhook 1" in removed.stdout
    assert run("webhooks", "list").stdout.strip() == "No webhooks."
    missing = run("webhooks", "remove", "1")
    assert missing.exit_code == 2 and "no webhook 1" in missing.stderr


def test_cli_lists_a_dead_letter_as_json_and_sends_it_again_with_its_delivery_id(
    cli_env: dict[str, str],
    runtime: Runtime,
    ctx: WriteContext,
    clock: FixedClock,
    receiver: Receiver,
    deliver: Callable[..., outbox.DeliveryReport],
) -> None:
    from statuspage.cli import main

    runner = CliRunner(env=cli_env)

    def run(*args: str) -> Any:
        return runner.invoke(main, list(args), prog_name="statuspage", catch_exceptions=False)

    clock.at = datetime.now(UTC) - timedelta(hours=3)  # the CLI runs on the system clock
    subscriber, _ = subscribe(ctx, f"{receiver.url}/hook")
    declare(ctx)
    receiver.answer(Answer(400), Answer(400), Answer(400))  # a receiver deployed with a bug
    for _ in range(3):
        deliver()
        clock.advance(minutes=30)
    (dead,) = messages(runtime)
    assert (dead.state, dead.attempts) == ("dead", 3)

    shown = run("outbox", "--json")
    assert shown.exit_code == 0, shown.output
    report = json.loads(shown.stdout)
    assert shown.stdout == json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert report == {
        "counts": {"webhook": {"pending": 0, "delivered": 0, "dead": 1}},
        "oldest_pending": None,
        "dead": [
            {
                "id": dead.id,
                "delivery_id": dead.delivery_id,
                "channel": "webhook",
                "target": str(subscriber.id),
                "event": dead.event,
                "attempts": 3,
                "created_at": dead.created_at.astimezone(UTC).isoformat(),
                "last_error": dead.last_error,
            }
        ],
    }
    assert "HTTP 400" in report["dead"][0]["last_error"]
    plain = run("outbox")  # the summary as it always was
    assert plain.exit_code == 0 and "webhook: 0 pending, 0 delivered, 1 dead" in plain.stdout
    assert "HTTP 400" in plain.stdout

    # Refused, in one line, changing nothing: an unknown id, a missing choice.
    unknown = run("outbox", "retry", str(dead.id), "999")
    assert unknown.exit_code == 2 and unknown.stdout == ""
    assert unknown.stderr.strip().splitlines() == ["statuspage: no outbox message 999"]
    assert run("outbox", "retry").exit_code == 2
    assert messages(runtime)[0].state == "dead"

    # The receiver is fixed (it answers 200 from now on): every dead letter goes again.
    retried = run("outbox", "retry", "--dead")
    assert retried.exit_code == 0, retried.output
    assert retried.stdout.strip().splitlines()[-1].startswith("Queued again: 1 dead letter;")
    (queued,) = messages(runtime)
    assert (queued.state, queued.attempts, queued.waits) == ("pending", 0, 0)
    pending = json.loads(run("outbox", "--json").stdout)
    assert pending["oldest_pending"]["id"] == dead.id and pending["dead"] == []
    with runtime.session() as session:
        (event,) = session.exec(select(AuditEvent).where(AuditEvent.action == "outbox.retry")).all()
    assert (event.actor, event.source, event.subject_type, event.subject_id) == (
        "alice",
        "cli",
        "outbox_message",
        str(dead.id),
    )
    assert event.before is not None and event.before["attempts"] == 3

    delivered = run("deliver", "--once")
    assert delivered.exit_code == 0 and "1 delivered" in delivered.stdout
    assert len(receiver.requests) == 4
    assert receiver.requests[-1].delivery == receiver.requests[0].delivery == dead.delivery_id
    assert messages(runtime)[0].state == "delivered"
    # Only a dead letter can be sent again.
    again = run("outbox", "retry", str(dead.id))
    assert again.exit_code == 2 and len(again.stderr.strip().splitlines()) == 1
    assert f"{dead.id} is delivered" in again.stderr
    assert run("outbox", "retry", "--dead").stdout.strip() == "No dead letters."


@pytest.mark.slow
def test_worker_process_delivers_until_sigterm_then_stops_cleanly(
    cli_env: dict[str, str], ctx: WriteContext, clock: FixedClock, receiver: Receiver
) -> None:
    subscribe(ctx, receiver.url)
    clock.at = datetime.now(UTC) - timedelta(minutes=1)
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "statuspage"), "deliver", "--poll-interval", "0.1"],
        env={**os.environ, **cli_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        declare(ctx)  # while the worker is polling
        deadline = time.monotonic() + 30
        while not receiver.requests and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert receiver.requests, "the worker delivered nothing"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert out.strip() == "1 delivered, 0 to retry, 0 dead"
    assert "Traceback" not in err
