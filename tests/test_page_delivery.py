"""Whether each page reached its person, for Slack's pages (email's are in tests/test_email.py):
a direct message that went out reads sent with its ts, one Slack refused reads failed with
Slack's answer, one only printed on the console reads not sent, and the thread says which
contacts no channel carries."""

from __future__ import annotations

import io
from collections.abc import Callable

from sqlmodel import col, select

from statuspage import outbox
from statuspage.clock import FixedClock
from statuspage.context import WriteContext
from statuspage.db.models import AuditEvent, PageSent
from statuspage.oncall import delivery
from statuspage.oncall.queries import pages_with_delivery
from statuspage.runtime import Runtime
from statuspage.slack import hook
from statuspage.slack.sender import SlackSender
from tests.slack_server import Fault, SlackServer
from tests.test_slack import (  # noqa: F401 - deliver, sender, settings and slack are fixtures
    NO_JITTER,
    declare,
    deliver,
    drain,
    rows,
    sender,
    settings,
    slack,
)


def slack_pages(runtime: Runtime, incident_id: int) -> dict[str, PageSent]:
    with runtime.session() as session:
        found = session.exec(
            select(PageSent).where(PageSent.incident_id == incident_id, PageSent.contact_kind == "slack_user")
        ).all()
        return {page.owner: page for page in found}


def test_a_direct_message_that_went_out_reads_sent_with_its_ts(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, slack: SlackServer, deliver: Callable[..., outbox.DeliveryReport]
) -> None:
    incident_id = declare(ctx, severity=1)
    before = slack_pages(runtime, incident_id)
    assert {p.delivery_state for p in before.values()} == {delivery.QUEUED}
    drain(runtime, clock, deliver)
    pages = slack_pages(runtime, incident_id)
    (ana_dm,) = slack.dm("U01ANARUIZ")
    assert (pages["Ana Ruiz"].delivery_state, pages["Ana Ruiz"].delivery_ref) == (delivery.SENT, ana_dm.ts)
    assert pages["Ana Ruiz"].delivery_at is not None
    with runtime.session() as session:
        shown = {(p.owner, p.contact_kind): p.delivery for p in pages_with_delivery(session, incident_id)}
        delivered = session.exec(
            select(AuditEvent).where(AuditEvent.action == "incident.page_delivered").order_by(col(AuditEvent.id))
        ).all()
    assert shown[("Ana Ruiz", "slack_user")] == f"sent (ref {ana_dm.ts})"
    assert shown[("Ana Ruiz", "phone")] == "not sent: no channel for phone contacts"
    assert {(e.after or {})["owner"] for e in delivered} == {"Ana Ruiz", "Ben Okafor"}
    # The thread names how each person is paged, and which contacts nothing carries (phones; and
    # email, switched off for these Slack tests).
    (headline,) = slack.top_level("#incidents")
    paging = [m.text for m in slack.replies("#incidents", headline.ts) if ":pager:" in m.text]
    assert paging == [
        f":pager: #{incident_id}: paging tier 1 (Front line): <@U01ANARUIZ> (Slack; not by phone, email), "
        "<@U01BENOKAF> (Slack; not by email)"
    ]
    (reply,) = [m for m in rows(runtime, event=hook.REPLY) if m.payload.get("template") == "paging"]
    assert reply.payload["data"]["notes"] == [
        "Not sent by phone: no channel for phone contacts.",
        "Not sent by email: email pages are switched off (email.enabled: false).",
    ]
    assert shown[("Ana Ruiz", "email")] == "not sent: email pages are switched off (email.enabled: false)"


def test_a_direct_message_slack_refuses_reads_failed_with_slacks_answer(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, slack: SlackServer, deliver: Callable[..., outbox.DeliveryReport]
) -> None:
    slack.fail("conversations.open", Fault(error="user_not_found"))
    incident_id = declare(ctx, severity=1)
    for _ in range(10):
        deliver()
        clock.advance(seconds=5)
    pages = slack_pages(runtime, incident_id)
    failed = [p for p in pages.values() if p.delivery_state == delivery.FAILED]
    assert len(failed) == 1 and "user_not_found" in (failed[0].delivery_error or "")
    with runtime.session() as session:
        (event,) = session.exec(select(AuditEvent).where(AuditEvent.action == "incident.page_failed")).all()
    assert (event.after or {})["delivery"] == {"state": "failed", "error": failed[0].delivery_error, "page_id": failed[0].id}


def test_a_page_only_printed_on_the_console_reads_not_sent(runtime: Runtime, ctx: WriteContext, clock: FixedClock) -> None:
    incident_id = declare(ctx, severity=1)
    console = SlackSender(env={}, out=io.StringIO())
    for _ in range(10):
        outbox.deliver_due(runtime, senders={"slack": console}, rand=NO_JITTER)
        clock.advance(seconds=5)
    pages = slack_pages(runtime, incident_id)
    assert {p.delivery_state for p in pages.values()} == {delivery.NOT_SENT}
    assert all(p.delivery_error == "printed on the worker's console (SLACK_BOT_TOKEN is not set)" for p in pages.values())
