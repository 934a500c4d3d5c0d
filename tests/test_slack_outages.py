"""Slack rate-limiting us, Slack down, Slack refusing for good: what the outbox does with pages.

The rules under test: waiting out a rate limit or an outage is never a failed attempt and never
kills a message; only an answer that can never succeed ends one, and then someone is told; a page
that waited longer than its tier's acknowledgement time still goes out, marked late; what reached
Slack is recorded as sent even when the incident was acknowledged meanwhile; a 429 is known not to
have posted, so no look-up precedes its retry; headline edits wait for the first post without
spending attempts, and the ones that piled up become one edit.

Same harness as tests/test_slack.py: the real sender and slack_sdk against the Slack stand-in in
tests/slack_server.py, on the test's FixedClock.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

from sqlmodel import col, select

from statuspage import outbox
from statuspage.clock import FixedClock
from statuspage.context import WriteContext
from statuspage.db.models import AuditEvent
from statuspage.incidents import service as incidents
from statuspage.runtime import Runtime
from statuspage.slack.sender import SlackSender
from tests.slack_server import Fault, SlackServer
from tests.test_slack import (  # noqa: F401 - deliver, sender, settings and slack are fixtures
    ENV,
    NO_JITTER,
    declare,
    deliver,
    drain,
    rows,
    sender,
    settings,
    slack,
)

TIER_1 = ("U01ANARUIZ", "U01BENOKAF")


def storm(slack: SlackServer, fault: Fault, deliver: Callable[[], object], tick: Callable[[], object], passes: int) -> None:
    """``passes`` worker passes, the test clock moving on by ``tick`` after each, while Slack
    answers every call with ``fault``; then Slack is well again."""
    slack.storm(3600, fault)
    for _ in range(passes):
        deliver()
        tick()
    slack.storm(0, Fault())


def posted_delivery_ids(slack: SlackServer) -> Counter[str]:
    """Every message in the fake workspace, counted by the outbox delivery id it carries."""
    ids: Counter[str] = Counter()
    with slack.lock:
        for messages in slack.messages.values():
            for message in messages:
                event_payload = (message.metadata or {}).get("event_payload") or {}
                if event_payload.get("delivery_id"):
                    ids[event_payload["delivery_id"]] += 1
    return ids


def assert_each_once(runtime: Runtime, slack: SlackServer) -> None:
    """Every Slack message of the outbox was delivered, and what was posted is in Slack once."""
    messages = rows(runtime)
    assert {m.state for m in messages} == {"delivered"}, [(m.event, m.state, m.last_error) for m in messages]
    counts = posted_delivery_ids(slack)
    assert all(n == 1 for n in counts.values()), counts
    posted = [m for m in messages if (m.result or {}).get("ts") and (m.result or {}).get("op") != "update"]
    assert {m.delivery_id for m in posted} <= set(counts)


def test_a_long_rate_limit_costs_no_attempt_and_kills_no_page(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, slack: SlackServer, deliver: Callable[..., outbox.DeliveryReport]
) -> None:
    declare(ctx, severity=1)
    # Every call refused, for far more passes than the policy has attempts.
    storm(slack, Fault(429, retry_after=1), deliver, lambda: clock.advance(seconds=1), passes=60)
    waiting = rows(runtime)
    assert waiting and all(m.state == "pending" and m.attempts == 0 for m in waiting), [
        (m.event, m.state, m.attempts) for m in waiting
    ]
    drain(runtime, clock, deliver)
    assert_each_once(runtime, slack)
    for user in TIER_1:
        assert len(slack.dm(user)) == 1
    assert len(slack.top_level("#incidents")) == 1 and len(slack.top_level("#oncall")) == 1


def test_an_outage_of_slack_is_waited_out_past_the_policys_limits(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, slack: SlackServer, deliver: Callable[..., outbox.DeliveryReport]
) -> None:
    declare(ctx, severity=1)
    policy = outbox.RetryPolicy(max_attempts=3, max_age=timedelta(minutes=1))
    storm(slack, Fault(503), lambda: deliver(policy=policy), lambda: clock.advance(minutes=1), passes=40)
    storm(slack, Fault(hang=1.0, apply=False), lambda: deliver(policy=policy), lambda: clock.advance(minutes=1), passes=2)
    assert {m.state for m in rows(runtime)} == {"pending"}
    drain(runtime, clock, lambda: deliver(policy=policy))
    assert_each_once(runtime, slack)
    assert all(len(slack.dm(user)) == 1 for user in TIER_1)


def test_a_refused_token_is_final_and_the_pages_are_reported(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, slack: SlackServer
) -> None:
    incident_id = declare(ctx, severity=1)
    said: list[str] = []
    wrong = SlackSender(timeout=0.3, env={"SLACK_BOT_TOKEN": "xoxb-wrong"})
    for _ in range(5):
        outbox.deliver_due(runtime, senders={"slack": wrong}, rand=NO_JITTER, say=said.append)
    dead = rows(runtime, state="dead")
    assert {m.event for m in dead} >= {"slack.headline.post", "slack.dm", "slack.post"}
    assert all(m.attempts == 1 and "invalid_auth" in (m.last_error or "") for m in dead)
    # Told: the console, once per dead letter, and the incident's timeline for each page.
    assert any("could not page Ana Ruiz by Slack" in line for line in said)
    assert all("SLACK_BOT_TOKEN" in line for line in said if "slack.dm" in line)
    with runtime.session() as session:
        failed = session.exec(
            select(AuditEvent)
            .where(AuditEvent.action == "incident.page_failed", AuditEvent.subject_id == str(incident_id))
            .order_by(col(AuditEvent.id))
        ).all()
        summary = outbox.summary(session)
    assert sorted((e.after or {})["owner"] for e in failed) == ["Ana Ruiz", "Ben Okafor"]
    assert summary.counts[("slack", "dead")] == len(dead)

    # The token is fixed: the dead letters are sent again, and reach Slack once each.
    with runtime.session() as session:
        outbox.retry_dead(ctx=runtime.context(session, outbox.WORKER_ACTOR))
    right = SlackSender(timeout=0.3, env=ENV)
    drain(runtime, clock, lambda: outbox.deliver_due(runtime, senders={"slack": right}, rand=NO_JITTER))
    assert {m.state for m in rows(runtime)} == {"delivered"}
    assert all(len(slack.dm(user)) == 1 for user in TIER_1)
    assert len(slack.top_level("#incidents")) == 1


def test_a_page_slack_cannot_deliver_is_reported_in_the_tiers_channel(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, slack: SlackServer, deliver: Callable[..., outbox.DeliveryReport]
) -> None:
    slack.fail("conversations.open", Fault(error="user_not_found"))
    incident_id = declare(ctx, severity=1)
    drain_or_dead(runtime, clock, deliver)
    (dead,) = rows(runtime, state="dead")
    assert dead.event == "slack.dm" and "user_not_found" in (dead.last_error or "")
    oncall = [m.text for m in slack.top_level("#oncall")]
    assert any("could not page" in text and "Reach them another way" in text for text in oncall), oncall
    (headline,) = slack.top_level("#incidents")
    thread = [m.text for m in slack.replies("#incidents", headline.ts)]
    assert any(text.startswith(":warning:") and "could not page" in text for text in thread), thread
    assert f"#{incident_id}" in oncall[-1]


def test_a_page_that_waited_past_its_tiers_window_goes_out_marked_late(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, slack: SlackServer, deliver: Callable[..., outbox.DeliveryReport]
) -> None:
    declare(ctx, severity=1)
    # Rate-limited for 7 minutes; tier 1's Sev-1 window is 5.
    storm(slack, Fault(429, retry_after=60), deliver, lambda: clock.advance(minutes=1), passes=7)
    drain(runtime, clock, deliver)
    (dm,) = slack.dm("U01ANARUIZ")
    assert dm.text.startswith("Late page: it waited ")
    assert any("Late:" in str(block) for block in dm.blocks or [])
    (message,) = [m for m in rows(runtime, event="slack.dm") if m.target == "U01ANARUIZ"]
    assert (message.result or {}).get("late")


def test_a_dm_that_reached_slack_before_the_acknowledgement_is_recorded_as_sent(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, slack: SlackServer, deliver: Callable[..., outbox.DeliveryReport]
) -> None:
    incident_id = declare(ctx, severity=1)
    # The DM to Ana is carried out, but its answer comes after the client gave up.
    _lose_answer_of_first_post_to(slack, "D01ANARUIZ")
    deliver()
    (ana,) = [m for m in rows(runtime, event="slack.dm") if m.target == "U01ANARUIZ"]
    assert ana.state == "pending" and (ana.result or {}).get("uncertain") is True
    assert len(slack.dm("U01ANARUIZ")) == 1  # it is in Slack
    incidents.acknowledge(ctx=ctx, incident_id=incident_id, by="Ben Okafor")
    drain(runtime, clock, deliver)
    (ana,) = [m for m in rows(runtime, event="slack.dm") if m.target == "U01ANARUIZ"]
    assert ana.state == "delivered" and (ana.result or {}).get("op") == "found"
    assert "skipped" not in (ana.result or {})
    assert len(slack.dm("U01ANARUIZ")) == 1


def _lose_answer_of_first_post_to(slack: SlackServer, channel_id: str) -> None:
    """Make the next chat.postMessage into ``channel_id`` be carried out with its answer held back
    past the client's time-out."""
    original = slack._api_chat_postMessage
    state = {"done": False}

    def handler(params: dict) -> dict:  # type: ignore[type-arg]
        answer = original(params)
        if not state["done"] and params.get("channel") == channel_id:
            state["done"] = True
            slack._closing.wait(1.0)
        return answer

    slack._api_chat_postMessage = handler  # type: ignore[method-assign]


def test_a_429_on_the_post_is_retried_without_a_look_up(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, slack: SlackServer, deliver: Callable[..., outbox.DeliveryReport]
) -> None:
    declare(ctx, severity=3)
    slack.fail("chat.postMessage", Fault(429, retry_after=2))
    deliver()
    (headline,) = rows(runtime, event="slack.headline.post")
    assert headline.state == "pending" and not (headline.result or {}).get("uncertain")
    clock.advance(seconds=2)
    drain(runtime, clock, deliver)
    assert slack.calls("conversations.history") == [] and slack.calls("conversations.list") == []
    assert len(slack.top_level("#incidents")) == 1


def test_headline_edits_wait_for_the_first_post_and_become_one(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, slack: SlackServer, deliver: Callable[..., outbox.DeliveryReport]
) -> None:
    incident_id = declare(ctx, severity=3)
    updates = iter(range(40))

    def tick() -> None:
        n = next(updates)
        if n % 5 == 0:
            incidents.post_update(ctx=ctx, incident_id=incident_id, message=f"Still looking ({n}).")
        clock.advance(seconds=2)

    storm(slack, Fault(503), deliver, tick, passes=40)  # Slack is down for 80 seconds
    assert len(rows(runtime, event="slack.headline.update")) == 8
    assert all(m.state == "delivered" or (m.state == "pending" and m.attempts == 0) for m in rows(runtime)), [(m.event, m.state, m.attempts, m.last_error) for m in rows(runtime)]
    drain(runtime, clock, deliver)
    (headline,) = slack.top_level("#incidents")
    # The edits that piled up while Slack was down became at most one chat.update.
    assert len(headline.edits) <= 1
    assert {m.state for m in rows(runtime)} == {"delivered"}


def drain_or_dead(runtime: Runtime, clock: FixedClock, deliver: Callable[..., outbox.DeliveryReport]) -> None:
    for _ in range(100):
        deliver()
        pending = [m for m in rows(runtime) if m.state == "pending"]
        if not pending:
            return
        clock.at = max(clock.now(), min(m.next_attempt_at for m in pending))
    raise AssertionError("the outbox did not settle")


def test_the_console_stand_in_prints_a_late_page(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock
) -> None:
    declare(ctx, severity=1)
    clock.advance(minutes=6)  # the worker was down longer than tier 1's window
    out = io.StringIO()
    console = SlackSender(env={}, out=out)
    outbox.deliver_due(runtime, senders={"slack": console}, rand=NO_JITTER)
    lines = [line for line in out.getvalue().splitlines() if line.startswith("[slack @")]
    assert lines and all("Late page: it waited 6m" in line for line in lines)
