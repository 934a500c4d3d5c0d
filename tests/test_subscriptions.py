"""Customer subscriptions end to end: a change to a public incident or maintenance becomes a notice,
the subscribers' lane expands it and mails each confirmed subscriber who follows an affected
component through a real SMTP server (aiosmtpd), or POSTs it, in Statuspage's webhook format, to a
local receiver. Nothing reaches an unconfirmed address but its confirmation."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from statuspage.clock import FixedClock
from statuspage.context import WriteContext
from statuspage.db.models import OutboxMessage
from statuspage.db.subscriber_models import Subscriber, SubscriberNotice
from statuspage.incidents import ack_links, visibility
from statuspage.incidents import service as incidents
from statuspage.maintenance import service as maintenance
from statuspage.runtime import Runtime
from statuspage.settings import Settings, load_settings
from statuspage.subscribers import service, tokens
from statuspage.subscribers.lane import SubscribersLane
from tests.http_receiver import Receiver
from tests.http_receiver import serve as serve_http
from tests.smtp_server import SmtpServer, serve


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    yield from serve()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from serve_http()


@pytest.fixture
def settings(config_file: Path, db_url: str, smtp: SmtpServer) -> Settings:
    return load_settings(
        config_file,
        env={"DATABASE_URL": db_url, "STATUSPAGE_SMTP_URL": smtp.url, "STATUSPAGE_ALLOW_PRIVATE_WEBHOOKS": "1"},
    )


@pytest.fixture
def lane(runtime: Runtime) -> Iterator[Callable[[], SubscribersLane]]:
    """Run the subscribers' lane until nothing more is due (``once``), as often as called."""
    senders = runtime.subscriber_senders()

    def run() -> SubscribersLane:
        each = SubscribersLane(runtime, senders=senders, stop=threading.Event(), once=True)
        each.run()
        return each

    yield run
    for sender in senders.values():
        sender.close()


def subscribe(ctx: WriteContext, email: str, components: list[str] | None = None, **kwargs: Any) -> Subscriber:
    return service.subscribe(ctx=ctx, email=email, components=components or [], **kwargs).subscriber


def confirm(runtime: Runtime, ctx: WriteContext, subscriber_id: int) -> None:
    """Use the confirmation link of the subscriber's latest confirmation email, as they would."""
    with runtime.session() as session:
        message = session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.target == str(subscriber_id), OutboxMessage.event == service.CONFIRM_EVENT)
            .order_by(col(OutboxMessage.id).desc())
        ).first()
        assert message is not None
        key = ack_links.signing_key(session, None, create=True)
        token = tokens.confirm_token(key, subscriber_id, message.payload["nonce"], datetime.fromisoformat(message.payload["expires"]))
    service.confirm(ctx=ctx, token=token, key=key)


def declare(ctx: WriteContext, components: list[str], title: str = "Checkout failing", **kwargs: Any) -> int:
    incident = incidents.declare(
        ctx=ctx, severity=2, title=title, components=components, message="Card payments fail.", page_me=True, **kwargs
    )
    assert incident.id is not None
    return incident.id


def test_double_opt_in_then_one_email_per_event_with_one_click_unsubscribe(
    runtime: Runtime, ctx: WriteContext, smtp: SmtpServer, lane: Callable[[], SubscribersLane]
) -> None:
    pending = subscribe(ctx, "Ana@Example.com", ["checkout"])
    assert pending.id is not None
    incident_id = declare(ctx, ["checkout"])
    lane()
    # Only the confirmation reached the unconfirmed address.
    assert [m.message["Subject"] for m in smtp.to("Ana@example.com")] == ["Confirm your subscription to Sendero status"]
    confirmation = smtp.to("Ana@example.com")[0]
    assert "/subscribe/confirm/c." in confirmation.part("plain")
    assert confirmation.message["List-Unsubscribe"] is None

    confirm(runtime, ctx, pending.id)
    incidents.post_update(ctx=ctx, incident_id=incident_id, status="identified", message="A bad deploy; rolling back.")
    lane()
    notices = [m for m in smtp.to("Ana@example.com") if m.message["Precedence"] == "bulk"]
    assert len(notices) == 1
    mail = notices[0].message
    assert mail["Subject"] == "[Sendero] Incident update: Checkout failing (Identified)"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = str(mail["List-Unsubscribe"]).strip("<>")
    assert unsubscribe.startswith("http://127.0.0.1:8000/subscribe/unsubscribe/m.")
    assert "A bad deploy; rolling back." in notices[0].part("plain")
    assert "A bad deploy; rolling back." in notices[0].part("html")
    assert f"/incidents/{incident_id}" in notices[0].part("plain")

    # The mail client's one-click unsubscribe: the subscription ends and the address is erased.
    token = unsubscribe.rsplit("/", 1)[1]
    with runtime.session() as session:
        key = ack_links.signing_key(session, None, create=False)
    service.unsubscribe(ctx=ctx, token=token, key=key, how="one-click")
    incidents.resolve(ctx=ctx, incident_id=incident_id, message="Payments work again.")
    lane()
    assert len([m for m in smtp.to("Ana@example.com") if m.message["Precedence"] == "bulk"]) == 1
    with runtime.session() as session:
        row = session.get(Subscriber, pending.id)
        assert row is not None and row.state == "removed" and row.email is None and row.manage_nonce is None


def test_component_filters_and_internal_incidents(
    runtime: Runtime, ctx: WriteContext, smtp: SmtpServer, lane: Callable[[], SubscribersLane]
) -> None:
    everything = subscribe(ctx, "all@example.com", confirmed=True, source="import")
    api_only = subscribe(ctx, "api@example.com", ["api"], confirmed=True, source="import")
    assert everything.state == api_only.state == "active"
    declare(ctx, ["checkout"], title="Checkout slow")
    internal = incidents.declare(
        ctx=ctx, severity=2, title="Internal only", components=["api"], message="x", internal=True, page_me=True
    )
    lane()
    assert [m.message["Subject"] for m in smtp.to("all@example.com")] == ["[Sendero] New incident: Checkout slow"]
    assert smtp.to("api@example.com") == []
    # Published, the internal incident is news to both.
    assert internal.id is not None
    visibility.publish(ctx=ctx, incident_id=internal.id)
    lane()
    assert len(smtp.to("api@example.com")) == 1
    assert smtp.to("api@example.com")[0].message["Subject"] == "[Sendero] New incident: Internal only"


def test_maintenance_is_announced_started_and_completed(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, smtp: SmtpServer, lane: Callable[[], SubscribersLane]
) -> None:
    subscribe(ctx, "ops@example.com", confirmed=True, source="import")
    planned = maintenance.schedule(
        ctx=ctx,
        title="Database upgrade",
        scheduled_for=clock.now() + timedelta(days=1),
        scheduled_until=clock.now() + timedelta(days=1, hours=2),
        components=["api"],
        message="Read-only for two hours.",
    )
    maintenance.set_status(ctx=ctx, maintenance_id=planned.id, status="in_progress", message="Started.")
    maintenance.set_status(ctx=ctx, maintenance_id=planned.id, status="completed", message="Done.")
    lane()
    assert [m.message["Subject"] for m in smtp.to("ops@example.com")] == [
        "[Sendero] Maintenance scheduled: Database upgrade",
        "[Sendero] Maintenance started: Database upgrade",
        "[Sendero] Maintenance completed: Database upgrade",
    ]


def test_bounces_suspend_a_subscriber_and_a_4xx_is_waited_out(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, smtp: SmtpServer, lane: Callable[[], SubscribersLane]
) -> None:
    gone = subscribe(ctx, "gone@example.com", confirmed=True, source="import")
    busy = subscribe(ctx, "busy@example.com", confirmed=True, source="import")
    smtp.fail("RCPT", "550 5.1.1 No such user", to="gone@example.com", times=None)
    smtp.fail("RCPT", "451 4.3.0 Try again later", to="busy@example.com", times=1)
    for n in range(4):
        declare(ctx, ["api"], title=f"Outage {n}")
        lane()
        clock.advance(minutes=10)
        lane()
    with runtime.session() as session:
        assert session.get(Subscriber, gone.id).state == "suspended"  # type: ignore[union-attr]
        assert session.get(Subscriber, gone.id).bounces == 3  # type: ignore[union-attr]
        assert session.get(Subscriber, busy.id).bounces == 0  # type: ignore[union-attr]
        dead = session.exec(select(OutboxMessage).where(OutboxMessage.target == str(gone.id), OutboxMessage.state == "dead")).all()
        # The fourth was not attempted: the subscriber was suspended by then.
        assert len(dead) == 3
    # Removed, the bounced address leaves no trace in the delivery log's errors either.
    assert gone.id is not None
    service.remove(ctx=ctx, email="gone@example.com")
    with runtime.session() as session:
        errors = [m.last_error or "" for m in session.exec(select(OutboxMessage).where(OutboxMessage.target == str(gone.id))).all()]
        assert errors and all("gone@example.com" not in e and "550 5.1.1 No such user" in e for e in errors)
    # The 451 was waited out; every incident reached the busy mailbox once.
    assert sorted(m.message["Subject"] for m in smtp.to("busy@example.com")) == [f"[Sendero] New incident: Outage {n}" for n in range(4)]


def test_webhook_subscribers_get_statuspage_bodies_and_private_addresses_are_refused(
    runtime: Runtime, config_file: Path, db_url: str, ctx: WriteContext, smtp: SmtpServer, receiver: Receiver,
    lane: Callable[[], SubscribersLane],
) -> None:
    url = f"http://127.0.0.1:{receiver.port}/hooks/status"
    hook = subscribe(ctx, "ops@example.com", webhook_url=url, allow_private=True)
    assert hook.kind == "webhook" and hook.state == "pending"
    assert hook.id is not None
    # Without the setting, a URL on a private address is refused at once, naming the field.
    with pytest.raises(service.InvalidInput) as refused:
        subscribe(ctx, "ops@example.com", webhook_url="http://10.1.2.3/hook")
    assert refused.value.field == "url" and "private address" in refused.value.message
    lane()
    assert receiver.requests == []  # unconfirmed
    confirm(runtime, ctx, hook.id)
    incident_id = declare(ctx, ["api"], title="API <b>down</b>")
    lane()
    bodies = [r for r in receiver.requests if r.path == "/hooks/status"]
    import json

    kinds = sorted(next(k for k in ("incident", "component_update") if k in json.loads(b.body)) for b in bodies)
    assert kinds == ["component_update", "incident"]
    incident = next(json.loads(b.body) for b in bodies if b"incident" in b.body and b"component_update" not in b.body)
    assert incident["incident"]["name"] == "API <b>down</b>"
    assert incident["incident"]["id"] == str(incident_id)
    assert incident["page"]["status_indicator"] in {"minor", "major", "critical"}
    assert incident["meta"]["unsubscribe"].startswith("http://127.0.0.1:8000/subscribe/unsubscribe/")

    # At send time the address is checked again: a worker without the setting refuses it.
    strict = Runtime(settings=load_settings(config_file, env={"DATABASE_URL": db_url, "STATUSPAGE_SMTP_URL": smtp.url}),
                     engine=runtime.engine, clock=runtime.clock)
    before = len(receiver.requests)
    incidents.post_update(ctx=ctx, incident_id=incident_id, status="identified", message="Found it.")
    senders = strict.subscriber_senders()
    SubscribersLane(strict, senders=senders, stop=threading.Event(), once=True).run()
    assert len(receiver.requests) == before
    with runtime.session() as session:
        dead = session.exec(select(OutboxMessage).where(OutboxMessage.channel == "sub_webhook", OutboxMessage.state == "dead")).all()
        assert dead and "loopback" in (dead[0].last_error or "")


def test_one_notice_per_change_expanded_in_chunks_exactly_once(runtime: Runtime, ctx: WriteContext) -> None:
    from statuspage.subscribers import fanout

    for n in range(7):
        subscribe(ctx, f"s{n}@example.com", confirmed=True, source="import")
    declare(ctx, ["api"])
    with runtime.session() as session:
        chunks = []
        while (queued := fanout.expand_chunk(session, now_fn=runtime.clock.now, chunk=3)) is not None:
            chunks.append(queued)
        # The incident to the seven email subscribers, then the component's status to the webhook
        # subscribers (none here).
        assert chunks == [3, 3, 1, 0]
        notices = {n.event: n for n in session.exec(select(SubscriberNotice)).all()}
        assert notices["incident.created"].queued == 7 and notices["component.updated"].queued == 0
        rows = session.exec(select(OutboxMessage).where(OutboxMessage.channel == "sub_notice")).all()
        assert len({r.target for r in rows}) == 7 == len(rows)


INCIDENT = Path(sys.executable).parent / "incident"


@pytest.mark.slow
def test_a_worker_killed_mid_fan_out_sends_each_subscriber_one_message(
    runtime: Runtime, ctx: WriteContext, smtp: SmtpServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """``kill -9`` of ``incident watch`` while it mails hundreds of subscribers, then a new worker:
    everyone gets the notice, and at most the one message in flight at the kill goes twice, with
    the same Message-ID (mail systems keep one copy per id)."""
    count = 400
    for n in range(count):
        subscribe(ctx, f"s{n}@example.com", confirmed=True, source="import")
    declare(ctx, ["api"], title="Everything is slow")
    env = {**os.environ, **cli_env, "STATUSPAGE_SMTP_URL": smtp.url}

    def start(*args: str, name: str) -> subprocess.Popen[bytes]:
        with (tmp_path / f"{name}.err").open("wb") as err:
            return subprocess.Popen([str(INCIDENT), "watch", "--lease", "1", *args], env=env, stdout=subprocess.DEVNULL, stderr=err)

    worker = start("--poll-interval", "0.05", name="killed")
    try:
        deadline = time.monotonic() + 60
        while len(smtp.messages) < 40 and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.01)
        worker.send_signal(signal.SIGKILL)
    finally:
        worker.wait(timeout=10)
    sent_before = len(smtp.messages)
    assert 0 < sent_before < count, "the worker finished before it could be killed; raise count"

    time.sleep(1.2)  # the dead worker's claims run out
    again = start("--once", name="restarted")
    assert again.wait(timeout=120) == 0, (tmp_path / "restarted.err").read_text()

    notices = [m for m in smtp.messages if m.rcpt_tos[0].endswith("@example.com")]  # not the on-call pages
    ids: dict[str, set[str]] = {}
    for received in notices:
        ids.setdefault(received.rcpt_tos[0], set()).add(str(received.message["Message-ID"]))
    assert len(ids) == count
    assert all(len(message_ids) == 1 for message_ids in ids.values())
    assert len(notices) - count <= 1


def test_admin_webhooks_can_be_held_to_public_addresses(runtime: Runtime, ctx: WriteContext, receiver: Receiver) -> None:
    from statuspage.outbox import deliver_due
    from statuspage.webhooks import service as admin_webhooks
    from statuspage.webhooks.sender import WebhookSender

    url = f"http://127.0.0.1:{receiver.port}/admin-hook"
    with pytest.raises(service.InvalidInput, match="loopback address"):
        admin_webhooks.subscribe(ctx=ctx, url=url, check_addresses=True)
    admin_webhooks.subscribe(ctx=ctx, url=url)  # as shipped: the administrator's choice
    declare(ctx, ["api"])
    checked = WebhookSender(check_addresses=True)
    try:
        report = deliver_due(runtime, senders={"webhook": checked})
    finally:
        checked.close()
    assert report.dead >= 1 and receiver.requests == []
    lenient = WebhookSender(check_addresses=True, allow_private=True)
    try:
        from statuspage.outbox import retry_dead

        with runtime.session() as session:
            retry_dead(ctx=runtime.context(session, ctx.actor))
        deliver_due(runtime, senders={"webhook": lenient})
    finally:
        lenient.close()
    assert [r.path for r in receiver.requests][:1] == ["/admin-hook"]


def test_notices_are_pruned_with_the_outbox_once_sent(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, smtp: SmtpServer, lane: Callable[[], SubscribersLane]
) -> None:
    from statuspage.actors import Actor
    from statuspage.domain.age import Age
    from statuspage.domain.enums import Source
    from statuspage.retention.prune import prune

    subscribe(ctx, "ops@example.com", confirmed=True, source="import")
    declare(ctx, ["api"])
    lane()
    assert len(smtp.to("ops@example.com")) == 1
    clock.advance(days=31)
    report = prune(
        engine=runtime.engine, wiring=runtime.wiring, clock=clock, config=runtime.settings.config,
        actor=Actor("alice", Source.CLI), older_than=Age.parse("30d"), kinds=("outbox",),
    )
    assert report.counts["outbox"]["subscriber notices"] == 2  # the incident and its component's status
    with runtime.session() as session:
        assert session.exec(select(SubscriberNotice)).all() == []


def test_pages_have_their_own_lane_ahead_of_any_fan_out(runtime: Runtime, ctx: WriteContext, smtp: SmtpServer) -> None:
    from statuspage.outbox import deliver_due
    from statuspage.subscribers import fanout

    for n in range(300):
        subscribe(ctx, f"s{n}@example.com", confirmed=True, source="import")
    declare(ctx, ["api"], title="Slow API")
    with runtime.session() as session:
        while fanout.expand_chunk(session, now_fn=runtime.clock.now) is not None:
            pass
    # Queued after 300 notices, a Sev-1's email pages still go out in the pages lane's first pass.
    incidents.declare(ctx=ctx, severity=1, title="Checkout down", components=["checkout"], message="x", declarer="nobody")
    senders = runtime.senders()
    try:
        deliver_due(runtime, senders=senders)  # the pages lane: every channel but the subscribers'
    finally:
        for sender in senders.values():
            sender.close()
    pages = [m for m in smtp.messages if "You are paged" in str(m.message["Subject"])]
    assert pages and not [m for m in smtp.messages if m.rcpt_tos[0].endswith("@example.com")]


def test_the_confirmation_says_how_long_its_link_works(
    runtime: Runtime, ctx: WriteContext, smtp: SmtpServer, lane: Callable[[], SubscribersLane]
) -> None:
    subscribe(ctx, "new@example.com")
    lane()
    (confirmation,) = smtp.to("new@example.com")
    assert "the link works once, for 48 hours" in confirmation.part("plain")
    assert "for 48 hours" in confirmation.part("html")
