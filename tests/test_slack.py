"""Slack end to end: changes through the service layer, the outbox worker with the real
slack_sdk WebClient, and a local server speaking the Slack Web API (tests/slack_server.py).

The worker runs on the test's FixedClock with no jitter, so every retry time is exact; failures
(429 with Retry-After, 500, answers held back past the client's time-out) are injected in the
server. The on-call engine may add its own pages and replies to a Sev-1: the checks here are about
what this module promises (each message once, in order, escaped), whoever caused the message.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import io
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlmodel import col, func, select
from starlette.testclient import TestClient

from statuspage import outbox
from statuspage.clock import FixedClock
from statuspage.context import WriteContext, write
from statuspage.db.models import AuditEvent, Incident, OutboxMessage, PageSent, SlackChannelState, SlackThread, Timer
from statuspage.errors import Conflict
from statuspage.incidents import handling
from statuspage.incidents import service as incidents
from statuspage.runtime import Runtime
from statuspage.settings import Settings, load_settings
from statuspage.slack import hook
from statuspage.slack.digest import post_digest_if_due
from statuspage.slack.messages import escape, plain, render
from statuspage.slack.sender import SlackSender
from statuspage.web.app import create_app
from tests.outbox_faults import Crash, CrashAfterSend
from tests.slack_server import TOKEN, Fault, SlackServer, serve

NO_JITTER = lambda: 1.0  # noqa: E731
ENV = {"SLACK_BOT_TOKEN": TOKEN}
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    for server in serve():
        server.add_channel("#digest", "C0DIGEST01")
        yield server


@pytest.fixture
def settings(config_file: Path, db_url: str, slack: SlackServer) -> Settings:
    """The demo configuration with Slack switched on and pointed at the local server (and email
    pages off, so that the outbox holds only Slack's messages)."""
    base = load_settings(config_file, env={"DATABASE_URL": db_url})
    slack_config = base.config.slack.model_copy(
        update={"enabled": True, "base_url": slack.base_url, "digest_channel": "#digest"}
    )
    email_config = base.config.email.model_copy(update={"enabled": False})
    return dataclasses.replace(base, config=base.config.model_copy(update={"slack": slack_config, "email": email_config}))


@pytest.fixture
def sender() -> Iterator[SlackSender]:
    s = SlackSender(timeout=0.3, env=ENV)
    yield s
    s.close()


@pytest.fixture
def deliver(runtime: Runtime, sender: SlackSender) -> Callable[..., outbox.DeliveryReport]:
    def run(**kwargs: Any) -> outbox.DeliveryReport:
        kwargs.setdefault("senders", {"slack": sender})
        kwargs.setdefault("rand", NO_JITTER)
        return outbox.deliver_due(runtime, **kwargs)

    return run


def rows(runtime: Runtime, **where: Any) -> list[OutboxMessage]:
    with runtime.session() as session:
        statement = select(OutboxMessage).where(OutboxMessage.channel == "slack").order_by(col(OutboxMessage.id))
        for name, value in where.items():
            statement = statement.where(getattr(OutboxMessage, name) == value)
        return list(session.exec(statement).all())


def drain(runtime: Runtime, clock: FixedClock, deliver: Callable[..., outbox.DeliveryReport], limit: int = 200) -> None:
    """Run worker passes until nothing is pending, moving the clock to each next due time."""
    for _ in range(limit):
        if deliver().claimed:
            continue
        with runtime.session() as session:
            pending = session.exec(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.state == outbox.PENDING)
            ).one()
            due = session.exec(
                select(func.min(OutboxMessage.next_attempt_at)).where(
                    OutboxMessage.state == outbox.PENDING, OutboxMessage.next_attempt_at > clock.now()
                )
            ).one()
        if not pending:
            return
        if due is None:
            break
        clock.at = due
    stuck = [(m.id, m.event, m.target, m.attempts, m.last_error) for m in rows(runtime) if m.state != "delivered"]
    raise AssertionError(f"the outbox did not drain: {stuck}")


def declare(ctx: WriteContext, title: str = "Checkout failing", severity: int = 1, **kwargs: Any) -> int:
    incident = incidents.declare(ctx=ctx, severity=severity, title=title, components=["checkout"], **kwargs)
    assert incident.id is not None
    return incident.id


def delivery_ids_of(runtime: Runtime, event: str) -> list[str]:
    return [m.delivery_id for m in rows(runtime, event=event)]


@write
def audit_as_engine(*, ctx: WriteContext, incident_id: int, events: list[tuple[str, dict[str, Any]]]) -> None:
    """What the on-call engine writes for its actions: audit events (and PageSent rows for pages)."""
    for action, after in events:
        if action == "incident.page":
            ctx.session.add(
                PageSent(
                    incident_id=incident_id,
                    step=after["step"],
                    loop=after["loop"],
                    tier=after["tier"],
                    owner=after["owner"],
                    contact_kind=after["contact_kind"],
                    contact=after["contact"],
                    paged_at=ctx.now(),
                )
            )
        ctx.audit(action=action, subject_type="incident", subject_id=incident_id, at=ctx.now(), after=after)


def page(owner: str, kind: str, contact: str, tier: int | None = 1, step: int = 90) -> tuple[str, dict[str, Any]]:
    return (
        "incident.page",
        {"step": step, "loop": 0, "tier": tier, "owner": owner, "contact_kind": kind, "contact": contact},
    )


# Queueing -------------------------------------------------------------------------------------


def test_each_change_queues_its_messages_in_its_own_transaction(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock
) -> None:
    incident_id = declare(ctx, severity=3)
    (headline,) = rows(runtime, event=hook.HEADLINE_POST)
    assert headline.target == "#incidents"
    assert headline.ordering_key == f"slack:#incidents:incident:{incident_id}"
    assert headline.payload["incident"]["title"] == "Checkout failing"

    clock.advance(seconds=1)
    incidents.post_update(ctx=ctx, incident_id=incident_id, status="identified", message="Found it.")
    replies = [m for m in rows(runtime, event=hook.REPLY) if m.payload["template"] == "update"]
    assert [m.payload["data"] for m in replies][-1] == {
        "status": "identified",
        "message": "Found it.",
        "author": "alice",
    }
    assert replies[-1].ordering_key == headline.ordering_key  # replies follow their headline
    edits = rows(runtime, event=hook.HEADLINE_UPDATE)
    assert len(edits) == 1 and edits[0].ordering_key == headline.ordering_key + ":headline"
    assert edits[0].next_attempt_at == clock.now() + hook.COALESCE_WINDOW

    before = len(rows(runtime))
    incidents.resolve(ctx=ctx, incident_id=incident_id)
    after_resolve = len(rows(runtime))
    assert after_resolve > before
    # A refused change queues nothing: it rolled back, and its messages with it.
    with pytest.raises(Conflict):
        incidents.resolve(ctx=ctx, incident_id=incident_id)
    with pytest.raises(Conflict):
        incidents.post_update(ctx=ctx, incident_id=incident_id, message="Too late.")
    assert len(rows(runtime)) == after_resolve


def test_nothing_is_queued_while_slack_is_off(
    runtime: Runtime, make_ctx: Callable[..., WriteContext], settings: Settings
) -> None:
    off = settings.config.model_copy(update={"slack": settings.config.slack.model_copy(update={"enabled": False})})
    ctx = dataclasses.replace(make_ctx(), config=off)
    declare(ctx, severity=3)
    assert rows(runtime) == []


def test_engine_events_become_replies_direct_messages_and_channel_posts(runtime: Runtime, ctx: WriteContext) -> None:
    incident_id = declare(ctx, severity=3)
    audit_as_engine(
        ctx=ctx,
        incident_id=incident_id,
        events=[
            ("incident.playbook", {"playbook": "sev3", "severity": 3}),
            page("Ana Ruiz", "slack_user", "U01ANARUIZ"),
            page("Ana Ruiz", "phone", "+1 555 0101"),
            page("Ben Okafor", "slack_user", "U01BENOKAF"),
            page("Mallory", "slack_user", "U0NOTINCONFIG"),  # not in the matrix: never messaged
            page("Ops", "slack_channel", "#oncall"),
            ("incident.notify_channel", {"step": 90, "tier": 1, "channel": "#oncall"}),
            ("incident.escalate", {"from_tier": 1, "to_tier": 2, "reason": "no acknowledgement within 5m"}),
            ("incident.slack", {"channel": "#exec", "text": "Still open"}),
            ("incident.slack", {"channel": None, "text": "In the thread"}),
        ],
    )
    first = rows(runtime, event=hook.HEADLINE_POST)[0].id or 0
    latest = [m for m in rows(runtime) if (m.id or 0) > first]
    shape = [(m.event, m.target, m.payload.get("template")) for m in latest]
    assert shape == [
        ("slack.reply", "#incidents", "playbook"),
        ("slack.reply", "#incidents", "paging"),
        ("slack.dm", "U01ANARUIZ", "page_dm"),
        ("slack.dm", "U01BENOKAF", "page_dm"),
        ("slack.post", "#oncall", "notify"),
        ("slack.post", "#oncall", "notify"),
        ("slack.reply", "#incidents", "escalate"),
        ("slack.post", "#exec", "notify"),
        ("slack.reply", "#incidents", "custom"),
        ("slack.headline.update", "#incidents", None),
    ]
    paging = latest[1].payload["data"]
    assert paging == {
        "tier": 1,
        "owners": [
            {"name": "Ana Ruiz", "kinds": ["Slack"], "not_sent": ["phone"]},
            {"name": "Ben Okafor", "kinds": ["Slack"]},
            {"name": "Mallory", "kinds": ["Slack"]},
            {"name": "Ops", "kinds": ["Slack channel"]},
        ],
        "notes": ["Not sent by phone: no channel for phone contacts."],
    }
    assert latest[2].ordering_key == f"slack:U01ANARUIZ:incident:{incident_id}"


# Delivery: exactly once, in order ---------------------------------------------------------------


def test_every_message_once_and_in_order_through_429_500_and_lost_answers(
    runtime: Runtime,
    ctx: WriteContext,
    clock: FixedClock,
    slack: SlackServer,
    deliver: Callable[..., outbox.DeliveryReport],
) -> None:
    incident_id = declare(ctx)
    updates = [("identified", "The payment gateway rejects our certificate."), ("monitoring", "Certificate renewed.")]
    for status, message in updates:
        clock.advance(seconds=1)
        incidents.post_update(ctx=ctx, incident_id=incident_id, status=status, message=message)
    clock.advance(seconds=1)
    incidents.post_update(ctx=ctx, incident_id=incident_id, message="Error rates are back to normal.")
    clock.advance(seconds=1)
    incidents.resolve(ctx=ctx, incident_id=incident_id, message="Payments work again.")

    # The first post reaches Slack but its answer is lost; the next posts meet a 500, a 429 and an
    # answer that never comes (that post was dropped); an edit meets a 500.
    slack.fail("chat.postMessage", Fault(hang=1.0), Fault(500), Fault(429, retry_after=7), Fault(hang=1.0, apply=False))
    slack.fail("chat.update", Fault(500))
    drain(runtime, clock, deliver)

    assert {m.state for m in rows(runtime)} == {"delivered"}
    (headline,) = slack.top_level("#incidents")
    thread = slack.replies("#incidents", headline.ts)
    # Every queued reply is in the thread exactly once, in the order the changes happened.
    expected = delivery_ids_of(runtime, hook.REPLY)
    assert [m.metadata["event_payload"]["delivery_id"] for m in thread if m.metadata] == expected
    # And nothing anywhere in the workspace was posted twice.
    landed = Counter(
        m.metadata["event_payload"]["delivery_id"]
        for channel in list(slack.messages)
        for m in slack.channel(channel)
        if m.metadata
    )
    assert landed and set(landed.values()) == {1}
    updates_posted = [
        m.text for m in thread if "Identified" in m.text or "Monitoring" in m.text or "resolved:" in m.text
    ]
    assert updates_posted == [
        f"#{incident_id} Identified: The payment gateway rejects our certificate.",
        f"#{incident_id} Monitoring: Certificate renewed.",
        f"#{incident_id} Monitoring: Error rates are back to normal.",
        f":white_check_mark: #{incident_id} resolved: Payments work again.",
    ]
    # Each injected failure was met, and the post whose answer was lost was found again in Slack.
    assert not slack.faults["chat.postMessage"] and not slack.faults["chat.update"]
    assert slack.calls("conversations.history")
    assert headline.edits, "the headline was never brought up to date"
    assert headline.edits[-1]["text"] == "Sev-1 resolved: Checkout failing"
    limited = next(r for r in slack.requests if r.answered == 429).params["channel"]
    names = {channel_id: name for name, channel_id in slack.channel_ids.items()}
    with runtime.session() as session:
        stored = session.get(SlackThread, (incident_id, "#incidents"))
        assert stored is not None and (stored.channel_id, stored.ts) == ("C0INCIDENT", headline.ts)
        state = session.get(SlackChannelState, names.get(limited, limited))
        assert state is not None and state.blocked_until is not None


def test_a_worker_dying_after_a_post_does_not_post_it_twice(
    runtime: Runtime,
    ctx: WriteContext,
    clock: FixedClock,
    slack: SlackServer,
    sender: SlackSender,
    deliver: Callable[..., outbox.DeliveryReport],
) -> None:
    incident_id = declare(ctx, severity=3)
    drain(runtime, clock, deliver)
    incidents.post_update(ctx=ctx, incident_id=incident_id, status="identified", message="Found it.")
    with pytest.raises(Crash):
        deliver(senders={"slack": CrashAfterSend(SlackSender(timeout=0.3, env=ENV))})
    (reply,) = [m for m in rows(runtime, event=hook.REPLY) if m.state == "pending"]
    assert reply.result == {"uncertain": True}  # noted before the post, so the next worker looks first
    clock.advance(minutes=5)  # the dead worker's lease
    drain(runtime, clock, deliver)
    (headline,) = slack.top_level("#incidents")
    assert [m.text for m in slack.replies("#incidents", headline.ts)] == [f"#{incident_id} Identified: Found it."]
    assert slack.calls("conversations.replies")
    assert rows(runtime, id=reply.id)[0].result == {
        "ts": slack.replies("#incidents", headline.ts)[0].ts,
        "channel": "C0INCIDENT",
        "op": "found",
    }


def test_a_burst_of_changes_is_one_headline_edit(
    runtime: Runtime,
    ctx: WriteContext,
    clock: FixedClock,
    slack: SlackServer,
    deliver: Callable[..., outbox.DeliveryReport],
) -> None:
    incident_id = declare(ctx, severity=3)
    drain(runtime, clock, deliver)
    assert len(slack.top_level("#incidents")) == 1 and not slack.calls("chat.update")

    for status in ("identified", "monitoring", "identified", "monitoring"):
        clock.advance(seconds=1)
        incidents.post_update(ctx=ctx, incident_id=incident_id, status=status, message=f"Now {status}.")
    handling.hand_over(ctx=ctx, incident_id=incident_id, to="Chen Wei")
    drain(runtime, clock, deliver)

    (edit,) = slack.calls("chat.update")
    assert edit.params["channel"] == "C0INCIDENT"
    assert edit.params["text"] == "Sev-3 monitoring: Checkout failing"
    assert "<@U01CHENWEI>" in json.dumps(edit.params["blocks"])  # the new commander, from the matrix
    edits = rows(runtime, event=hook.HEADLINE_UPDATE)
    assert [bool(m.result and "superseded_by" in m.result) for m in edits] == [True] * (len(edits) - 1) + [False]
    thread = slack.replies("#incidents", slack.top_level("#incidents")[0].ts)
    assert len(thread) == len(rows(runtime, event=hook.REPLY)) >= 5


def test_a_rate_limited_channel_backs_off_as_a_whole(
    runtime: Runtime,
    ctx: WriteContext,
    clock: FixedClock,
    slack: SlackServer,
    deliver: Callable[..., outbox.DeliveryReport],
) -> None:
    first = declare(ctx, "First", severity=3)
    declare(ctx, "Second", severity=3)
    declare(ctx, "Third", severity=3)
    audit_as_engine(ctx=ctx, incident_id=first, events=[page("Ana Ruiz", "slack_user", "U01ANARUIZ")])
    slack.fail("chat.postMessage", Fault(429, retry_after=30))
    t0 = clock.now()

    report = deliver()
    # One call met the limit; the other headlines for #incidents were not tried; the DM went out.
    assert [r.answered for r in slack.calls("chat.postMessage")] == [429, 200]
    assert slack.dm("U01ANARUIZ")
    with runtime.session() as session:
        state = session.get(SlackChannelState, "#incidents")
        assert state is not None and state.blocked_until == t0 + timedelta(seconds=30)
    waiting = [m for m in rows(runtime) if m.state == "pending"]
    assert waiting and all(m.next_attempt_at >= t0 + timedelta(seconds=30) for m in waiting)
    # Waiting out the limit is not a failed attempt, for the message that met it or the others.
    assert all(m.attempts == 0 and m.waits <= 1 for m in waiting)
    assert report.retried == len([m for m in waiting if m.waits])

    clock.advance(seconds=29)
    assert deliver().claimed == 0
    clock.advance(seconds=1)
    drain(runtime, clock, deliver)
    assert [m.text for m in slack.top_level("#incidents")] == [
        "Sev-3 declared: First — paging Ana Ruiz",
        "Sev-3 declared: Second",
        "Sev-3 declared: Third",
    ]


# What the messages say ------------------------------------------------------------------------


def test_untrusted_text_cannot_ping_or_link_and_mentions_come_only_from_the_matrix(
    runtime: Runtime,
    make_ctx: Callable[..., WriteContext],
    clock: FixedClock,
    slack: SlackServer,
    deliver: Callable[..., outbox.DeliveryReport],
) -> None:
    ctx = make_ctx("<!here> & co")
    title = "<!channel> checkout <http://evil.example|click> & <@U01ANARUIZ>"
    incident_id = declare(ctx, title=title, severity=3, commander="<@U0EVIL>")
    incidents.post_update(
        ctx=ctx, incident_id=incident_id, status="identified", message="<!everyone> see <https://x|y>"
    )
    handling.hand_over(ctx=ctx, incident_id=incident_id, to="Ana Ruiz")
    audit_as_engine(
        ctx=ctx,
        incident_id=incident_id,
        events=[
            ("incident.remind", {"commander": "Ana Ruiz", "update_every": "30m"}),
            ("incident.slack", {"channel": None, "text": "<!subteam^S1>"}),
        ],
    )
    drain(runtime, clock, deliver)

    sent = slack.all_text()
    for raw in ("<!channel>", "<!here>", "<!everyone>", "<!subteam", "<http://evil", "<https://x", "<@U0EVIL>"):
        assert raw not in sent
    assert "&lt;!channel&gt; checkout &lt;http://evil.example|click&gt; &amp; &lt;@U01ANARUIZ&gt;" in sent
    written = slack.calls("chat.postMessage") + slack.calls("chat.update")
    assert all(r.params.get("parse") == "none" and r.params.get("link_names") is False for r in written)
    (headline,) = slack.top_level("#incidents")
    texts = [m.text for m in slack.replies("#incidents", headline.ts)]
    assert f":alarm_clock: #{incident_id}: <@U01ANARUIZ>, time to post a public update (every 30m)" in texts
    assert f"#{incident_id}: command handed over from &lt;@U0EVIL&gt; to <@U01ANARUIZ>" in texts
    # Every mrkdwn text object is verbatim: Slack does not link names or URLs on its own.
    for request in slack.calls("chat.postMessage"):
        for block in request.params.get("blocks") or []:
            for text in [block.get("text")] + list(block.get("fields") or []) + list(block.get("elements") or []):
                if isinstance(text, dict) and text.get("type") == "mrkdwn":
                    assert text["verbatim"] is True


def test_templates_escape_every_value_and_give_valid_block_kit(settings: Settings) -> None:
    nasty = '"}], "x": "<!channel>\\'
    message = render(
        "update",
        settings.config,
        incident={"id": 1, "title": nasty, "severity": 1, "status": "identified", "url": "http://h/incidents/1"},
        data={"status": "identified", "message": nasty * 200, "author": nasty},
    )
    assert set(message) == {"text", "blocks"}
    assert message["text"].endswith(escape(nasty))
    assert len(message["blocks"][0]["text"]["text"]) <= 2900
    assert plain("<@U01ANARUIZ> &lt;b&gt; <http://x|link>", {"U01ANARUIZ": "Ana Ruiz"}) == "@Ana Ruiz <b> link"


def test_a_page_is_a_direct_message_with_an_acknowledge_button(
    runtime: Runtime,
    ctx: WriteContext,
    clock: FixedClock,
    slack: SlackServer,
    deliver: Callable[..., outbox.DeliveryReport],
) -> None:
    incident_id = declare(ctx, severity=3)
    audit_as_engine(
        ctx=ctx,
        incident_id=incident_id,
        events=[
            page("Ana Ruiz", "slack_user", "U01ANARUIZ"),
            page("Mallory", "slack_user", "U0NOTINCONFIG"),
            ("incident.notify_channel", {"step": 90, "tier": 1, "channel": "#oncall"}),
        ],
    )
    drain(runtime, clock, deliver)

    (dm,) = slack.dm("U01ANARUIZ")
    assert dm.text == f"You are paged: Sev-3 #{incident_id} Checkout failing (tier 1, Front line)"
    assert dm.blocks is not None and "<@U01ANARUIZ>" in dm.blocks[0]["text"]["text"]
    (button,) = dm.blocks[1]["elements"]
    assert (button["action_id"], button["value"], button["text"]["text"]) == (
        "incident_ack",
        str(incident_id),
        "Acknowledge",
    )
    assert [r.params["users"] for r in slack.calls("conversations.open")] == ["U01ANARUIZ"]
    assert slack.dm("U0NOTINCONFIG") == []
    (notice,) = slack.top_level("#oncall")
    assert "tier 1 (Front line) paged" in notice.text
    (headline,) = slack.top_level("#incidents")
    assert headline.text == "Sev-3 declared: Checkout failing — paging Ana Ruiz, Mallory"

    # A page still queued when the incident is acknowledged is not sent any more.
    audit_as_engine(
        ctx=ctx, incident_id=incident_id, events=[page("Chen Wei", "slack_user", "U01CHENWEI", tier=2, step=91)]
    )
    incidents.acknowledge(ctx=ctx, incident_id=incident_id, by="Ana Ruiz")
    drain(runtime, clock, deliver)
    assert slack.dm("U01CHENWEI") == []
    assert rows(runtime, target="U01CHENWEI")[0].result == {"skipped": "already acknowledged by Ana Ruiz"}


def block_texts(message: Any) -> list[str]:
    """The mrkdwn of a message's blocks, in order: sections, their fields, context elements."""
    texts = []
    for block in message.blocks or []:
        for text in [block.get("text")] + list(block.get("fields") or []) + list(block.get("elements") or []):
            if isinstance(text, dict) and isinstance(text.get("text"), str):
                texts.append(text["text"])
    return texts


def test_the_declaration_message_is_in_the_headline_and_in_every_page(
    runtime: Runtime,
    ctx: WriteContext,
    clock: FixedClock,
    slack: SlackServer,
    deliver: Callable[..., outbox.DeliveryReport],
) -> None:
    said = "Card payments fail at the bank <!channel> & see <http://evil.example|the dashboard>"
    incident_id = declare(ctx, severity=1, message=said)
    drain(runtime, clock, deliver)

    shown = escape(said)
    (headline,) = slack.top_level("#incidents")
    assert shown in block_texts(headline)
    (dm,) = slack.dm("U01ANARUIZ")
    assert dm.blocks is not None and dm.blocks[0]["text"]["text"].endswith(f"(tier 1, Front line)\n{shown}")
    (button,) = dm.blocks[1]["elements"]
    assert button["action_id"] == "incident_ack"
    # A page made later (the next tier) says it too: it is read back from the incident.
    clock.advance(minutes=6)
    audit_as_engine(
        ctx=ctx, incident_id=incident_id, events=[page("Chen Wei", "slack_user", "U01CHENWEI", tier=2, step=91)]
    )
    drain(runtime, clock, deliver)
    (later,) = slack.dm("U01CHENWEI")
    assert later.blocks is not None and later.blocks[0]["text"]["text"].endswith(f"(tier 2, Specialists)\n{shown}")
    sent = slack.all_text()
    assert "<!channel>" not in sent and "<http://evil" not in sent


def test_a_resolved_headline_no_longer_shows_an_outage(
    runtime: Runtime,
    ctx: WriteContext,
    clock: FixedClock,
    slack: SlackServer,
    deliver: Callable[..., outbox.DeliveryReport],
) -> None:
    incident_id = declare(ctx, severity=1)
    drain(runtime, clock, deliver)
    (headline,) = slack.top_level("#incidents")
    assert "*Components*\nCheckout and payments (major outage)" in block_texts(headline)

    clock.advance(minutes=10)
    incidents.resolve(ctx=ctx, incident_id=incident_id)
    drain(runtime, clock, deliver)
    (headline,) = slack.top_level("#incidents")
    assert headline.text == "Sev-1 resolved: Checkout failing"
    texts = block_texts(headline)
    assert "*Components*\nCheckout and payments" in texts
    assert not any("outage" in text for text in texts)


def test_the_headline_says_how_long_the_incident_has_been_open(
    runtime: Runtime,
    ctx: WriteContext,
    clock: FixedClock,
    slack: SlackServer,
    deliver: Callable[..., outbox.DeliveryReport],
) -> None:
    def when() -> str:
        (headline,) = slack.top_level("#incidents")
        assert headline.blocks is not None
        return str(headline.blocks[-1]["elements"][0]["text"])

    incident_id = declare(ctx, severity=3)  # 03:00 in New York
    drain(runtime, clock, deliver)
    assert when() == "Declared Nov 25, 03:00 EST"  # not "open for 0m", left standing for hours

    # Nothing changes, but the reminder to post an update counts again.
    clock.advance(minutes=40)
    audit_as_engine(
        ctx=ctx, incident_id=incident_id, events=[("incident.remind", {"commander": "alice", "update_every": "40m"})]
    )
    drain(runtime, clock, deliver)
    assert when() == "Declared Nov 25, 03:00 EST · open for 40m as of 03:40 EST"

    clock.advance(hours=1, minutes=25)
    incidents.post_update(ctx=ctx, incident_id=incident_id, status="identified", message="Found it.")
    drain(runtime, clock, deliver)
    assert when() == "Declared Nov 25, 03:00 EST · open for 2h 5m as of 05:05 EST"

    clock.advance(minutes=30)
    incidents.resolve(ctx=ctx, incident_id=incident_id)
    drain(runtime, clock, deliver)
    assert when() == "Declared Nov 25, 03:00 EST · resolved 05:35 EST after 2h 35m"


def test_the_postmortem_note_follows_the_resolution_in_the_thread(
    runtime: Runtime,
    ctx: WriteContext,
    clock: FixedClock,
    slack: SlackServer,
    deliver: Callable[..., outbox.DeliveryReport],
) -> None:
    incident_id = declare(ctx, severity=1)  # the sev1 playbook's on_resolve asks for a postmortem
    drain(runtime, clock, deliver)
    clock.advance(minutes=10)
    incidents.resolve(ctx=ctx, incident_id=incident_id, message="Fixed.")
    drain(runtime, clock, deliver)

    (headline,) = slack.top_level("#incidents")
    texts = [m.text for m in slack.replies("#incidents", headline.ts)]
    resolved = texts.index(f":white_check_mark: #{incident_id} resolved: Fixed.")
    (note,) = [n for n, text in enumerate(texts) if "needs a postmortem" in text]
    assert note == resolved + 1 == len(texts) - 1


# The console ------------------------------------------------------------------------------------


def test_without_a_token_every_message_is_one_printed_line(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, slack: SlackServer
) -> None:
    incident_id = declare(ctx, severity=3)
    audit_as_engine(ctx=ctx, incident_id=incident_id, events=[page("Ana Ruiz", "slack_user", "U01ANARUIZ")])
    out = io.StringIO()
    console = SlackSender(env={}, out=out)
    outbox.deliver_due(runtime, senders={"slack": console}, rand=NO_JITTER)  # the headline: the rest waits its turn
    clock.advance(seconds=1)
    incidents.resolve(ctx=ctx, incident_id=incident_id, message="Fixed <for real> & done.")
    for _ in range(10):
        clock.advance(seconds=5)
        outbox.deliver_due(runtime, senders={"slack": console}, rand=NO_JITTER)
    lines = out.getvalue().splitlines()
    assert lines[0] == "[slack #incidents] Sev-3 declared: Checkout failing — paging Ana Ruiz"
    assert f"[slack #incidents] #{incident_id}: paging tier 1 (Front line): @Ana Ruiz (Slack)" in lines
    assert f"[slack #incidents] #{incident_id} resolved: Fixed <for real> & done." in lines
    assert "[slack #incidents] headline now: Sev-3 resolved: Checkout failing" in lines
    assert f"[slack @Ana Ruiz] You are paged: Sev-3 #{incident_id} Checkout failing (tier 1, Front line)" in lines
    assert len(lines) == len(set(lines)) == len([m for m in rows(runtime) if not (m.result or {}).get("superseded_by")])
    assert {m.state for m in rows(runtime)} == {"delivered"}
    assert slack.requests == []


# POST /slack/actions ----------------------------------------------------------------------------


def signed(body: str, at: datetime, secret: str = SECRET) -> dict[str, str]:
    """Headers as Slack sends them, computed here from Slack's documentation, not our code."""
    timestamp = str(int(at.timestamp()))
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def ack_body(incident_id: int, user_id: str = "U01ANARUIZ", username: str = "ana") -> str:
    payload = {
        "type": "block_actions",
        "user": {"id": user_id, "username": username, "name": username, "team_id": "T1"},
        "actions": [{"action_id": "incident_ack", "block_id": "b", "value": str(incident_id), "type": "button"}],
        "response_url": "https://hooks.slack.example/actions/1",
    }
    return urlencode({"payload": json.dumps(payload)})


def test_the_acknowledge_button_acknowledges_through_the_service_layer(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    incident_id = declare(ctx, severity=3)
    app = create_app(runtime.settings, runtime.engine, clock=clock)
    client = TestClient(app)
    body = ack_body(incident_id)

    monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
    assert client.post("/slack/actions", content=body, headers=signed(body, clock.now())).status_code == 503
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)

    for headers in (
        {"Content-Type": "application/x-www-form-urlencoded"},
        signed(body, clock.now(), secret="not-the-secret"),
        signed(body, clock.now() - timedelta(minutes=6)),
        {**signed(body, clock.now()), "X-Slack-Signature": "v0=" + "0" * 64},
    ):
        refused = client.post("/slack/actions", content=body, headers=headers)
        assert refused.status_code == 401 and refused.headers["content-type"] == "application/json"
        assert refused.json()["ok"] is False
    tampered = client.post(
        "/slack/actions", content=ack_body(incident_id, username="eve"), headers=signed(body, clock.now())
    )
    assert tampered.status_code == 401
    with runtime.session() as session:
        assert incidents.get(session=session, incident_id=incident_id).acknowledged_at is None

    clock.advance(seconds=30)
    answer = client.post("/slack/actions", content=body, headers=signed(body, clock.now() - timedelta(minutes=4)))
    assert answer.status_code == 200 and answer.json()["response_type"] == "ephemeral"
    assert answer.json()["text"].startswith(f"You acknowledged incident #{incident_id}")
    with runtime.session() as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None and (incident.acknowledged_by, incident.acknowledged_at) == (
            "Ana Ruiz",
            clock.now(),
        )
        (event,) = session.exec(select(AuditEvent).where(AuditEvent.action == "incident.acknowledge")).all()
    assert (event.actor, event.source) == ("slack:ana", "api")
    assert any(m.payload.get("template") == "acknowledge" for m in rows(runtime, event=hook.REPLY))

    again = client.post("/slack/actions", content=body, headers=signed(body, clock.now()))
    assert again.status_code == 200 and "already acknowledged by Ana Ruiz" in again.json()["text"]

    incidents.resolve(ctx=ctx, incident_id=incident_id)
    other = declare(ctx, "Other", severity=3)
    incidents.resolve(ctx=ctx, incident_id=other)
    late = ack_body(other, user_id="U0STRANGER", username="zed")
    refused = client.post("/slack/actions", content=late, headers=signed(late, clock.now()))
    assert refused.status_code == 200 and "Could not acknowledge" in refused.json()["text"]
    missing = ack_body(999)
    assert (
        "no incident 999"
        in client.post("/slack/actions", content=missing, headers=signed(missing, clock.now())).json()["text"]
    )
    garbage = "payload=%7Bnot-json"
    assert client.post("/slack/actions", content=garbage, headers=signed(garbage, clock.now())).status_code == 400


# The daily digest -------------------------------------------------------------------------------


def test_the_digest_is_posted_once_per_local_day_at_its_time(
    runtime: Runtime,
    ctx: WriteContext,
    clock: FixedClock,
    slack: SlackServer,
    settings: Settings,
    deliver: Callable[..., outbox.DeliveryReport],
) -> None:
    config = settings.config  # America/New_York, digest at 09:00, Sev-1 and Sev-2
    open_sev2 = declare(ctx, "Slow dashboards", severity=2)
    declare(ctx, "Typo in the footer", severity=4)
    gone = declare(ctx, "Already fixed", severity=2)
    incidents.resolve(ctx=ctx, incident_id=gone)

    def due(at: str) -> bool:
        with runtime.session() as session:
            return post_digest_if_due(session, config, datetime.fromisoformat(at), wiring=runtime.wiring)

    assert not due("2026-11-25T13:59:00+00:00")  # 08:59 in New York
    assert due("2026-11-25T14:00:00+00:00")
    assert not due("2026-11-25T14:00:01+00:00")
    assert not due("2026-11-26T04:59:00+00:00")  # 23:59 the same local day
    assert not due("2026-11-26T13:00:00+00:00")  # 08:00 the next day: not yet
    assert due("2026-11-26T14:30:00+00:00")
    without = config.model_copy(update={"slack": config.slack.model_copy(update={"digest_channel": None})})
    with runtime.session() as session:
        assert not post_digest_if_due(
            session, without, datetime.fromisoformat("2026-11-27T15:00:00+00:00"), wiring=runtime.wiring
        )
        keys = session.exec(select(Timer.key).where(Timer.kind == "digest").order_by(col(Timer.key))).all()
    assert keys == ["digest:2026-11-25", "digest:2026-11-26"]

    clock.at = datetime.fromisoformat("2026-11-26T14:30:00+00:00")
    drain(runtime, clock, deliver)
    first, second = slack.top_level("#digest")
    assert first.text == ":newspaper: Sendero daily digest for 2026-11-25: 1 open incident (Sev-1, Sev-2)"
    assert first.blocks is not None and f"#{open_sev2} Slow dashboards" in first.blocks[1]["text"]["text"]
    assert second.text.endswith("for 2026-11-26: 1 open incident (Sev-1, Sev-2)")


def test_workers_racing_for_the_digest_post_it_once(runtime: Runtime, settings: Settings) -> None:
    at = datetime.fromisoformat("2026-11-25T14:00:00+00:00")
    barrier = threading.Barrier(4)
    results: list[bool] = []

    def worker() -> None:
        with runtime.session() as session:
            barrier.wait(5)
            results.append(post_digest_if_due(session, settings.config, at, wiring=runtime.wiring))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [False, False, False, True]
    assert len(rows(runtime, event="slack.digest")) == 1


def test_a_headline_deleted_in_slack_is_posted_again_by_the_next_reply(
    runtime: Runtime,
    ctx: WriteContext,
    clock: FixedClock,
    slack: SlackServer,
    deliver: Callable[..., outbox.DeliveryReport],
) -> None:
    incident_id = declare(ctx, severity=3)
    drain(runtime, clock, deliver)
    with slack.lock:
        slack.messages["C0INCIDENT"].clear()  # someone deleted it
    incidents.post_update(ctx=ctx, incident_id=incident_id, status="identified", message="Found it.")
    drain(runtime, clock, deliver)
    (headline,) = slack.top_level("#incidents")
    assert headline.text == "Sev-3 identified: Checkout failing"
    assert [m.text for m in slack.replies("#incidents", headline.ts)] == [f"#{incident_id} Identified: Found it."]
    assert {m.state for m in rows(runtime)} == {"delivered"}


def test_an_acknowledgement_by_someone_else_says_who_holds_command_and_offers_the_hand_over(settings: Settings) -> None:
    incident = {"id": 7, "title": "Checkout failing", "severity": 1, "status": "investigating", "url": "http://h/incidents/7"}
    other = render("acknowledge", settings.config, incident=incident, data={"by": "Ben <Okafor>", "author": "Ben", "commander": "Ana Ruiz"})
    assert other["blocks"][1]["elements"][0]["text"] == (
        'Paging stops here. Ana Ruiz is the commander; to hand command to Ben &lt;Okafor&gt;: '
        '`incident handover 7 --to "Ben &lt;Okafor&gt;"`'
    )
    own = render("acknowledge", settings.config, incident=incident, data={"by": "Ana Ruiz", "author": "Ana", "commander": "Ana Ruiz"})
    assert own["blocks"][1]["elements"][0]["text"] == "Paging stops here."
