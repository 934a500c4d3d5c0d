"""Faults the on-call worker must live through without losing or doubling anything a person sees.

Each test ends with the same check (:func:`assert_exactly_once`): every Slack message and direct
message in the fake workspace (tests/slack_server.py) is there once, every page row and every
tier escalation exists once, every outbox message was delivered, and every webhook delivery id
reached the receiver. Webhooks promise *at least once, with a delivery id* (a receiver that
processed a POST whose answer was lost gets it again, with the same id, and de-duplicates on it),
so a repeated webhook id is allowed only where the test caused exactly that.

- Slack answering 429 with Retry-After, 500, and not answering for minutes (a post carried out
  whose answer never comes, and one dropped): the worker times out, retries later, and looks in
  Slack before posting again.
- PostgreSQL going away under the worker: connections cut in the middle of a timer's
  transaction, between a Slack post and its record, and a restart (connections refused for a
  while). Staged with a TCP proxy (tests/tcp_proxy.py) in front of the shared server.
- ``incident watch`` SIGKILLed at random moments, 50 times, while incidents escalate and Slack
  answers, then a clean run to the end.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import random
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, update
from sqlalchemy.engine import make_url
from sqlmodel import col, select
from starlette.testclient import TestClient

from statuspage import outbox, worker
from statuspage.clock import FixedClock, SystemClock
from statuspage.context import WriteContext
from statuspage.db.engine import make_engine
from statuspage.db.models import AuditEvent, OutboxMessage, PageSent, Timer
from statuspage.incidents import service as incidents
from statuspage.oncall import timers
from statuspage.runtime import Runtime
from statuspage.settings import Settings
from statuspage.slack import hook
from statuspage.slack.sender import TIMEOUT_SECONDS as SLACK_TIMEOUT
from statuspage.slack.sender import SlackSender
from statuspage.webhooks import service as webhooks
from statuspage.webhooks.sender import TIMEOUT_SECONDS as WEBHOOK_TIMEOUT
from statuspage.webhooks.sender import WebhookSender
from tests.conftest import PG_URL, SHIPPED_CONFIG
from tests.overdue import declare_overdue
from tests.slack_server import TOKEN, Fault, SlackServer, serve
from tests.tcp_proxy import TcpProxy
from tests.test_webhooks import Answer, Receiver

ENV = {"SLACK_BOT_TOKEN": TOKEN}
# A hang "for minutes": the test ends it by closing the server, long before.
MINUTES = 300.0


# Fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    yield from serve()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def config_file(tmp_path: Path, slack: SlackServer) -> Path:
    """The demo configuration, its Slack pointed at the fake workspace (for worker processes too),
    email pages off (these faults are Slack's and the webhooks'; tests/test_email.py has email's)."""
    text = SHIPPED_CONFIG.read_text(encoding="utf-8")
    anchor = '  incidents_channel: "#incidents"\n'
    assert anchor in text and "\nemail:" not in text
    target = tmp_path / "statuspage.yaml"
    text = text.replace(anchor, anchor + f"  base_url: {slack.base_url}\n") + "\nemail:\n  enabled: false\n"
    target.write_text(text, encoding="utf-8")
    return target


@pytest.fixture
def subscribed(ctx: WriteContext, receiver: Receiver) -> None:
    webhooks.subscribe(ctx=ctx, url=receiver.url + "/hook", description="fault tests")


def senders(timeout: float = 0.5) -> dict[str, outbox.Sender]:
    return {"slack": SlackSender(timeout=timeout, env=ENV), "webhook": WebhookSender(timeout=timeout)}


# What a person sees, once ----------------------------------------------------------------------


def assert_exactly_once(
    runtime: Runtime,
    slack: SlackServer,
    receiver: Receiver | None,
    *,
    webhook_repeats: int = 0,
    webhook_refused: int = 0,
) -> dict[str, Any]:
    """Every notification and escalation happened once; returns some counts for further checks.

    ``webhook_repeats`` is how many webhook POSTs the receiver took in twice (same delivery id)
    because the test made it so; ``webhook_refused`` how many it answered with an error (those
    were refused, not taken in).
    """
    with runtime.session() as session:
        rows = list(session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all())
        pages = list(session.exec(select(PageSent)).all())
        escalations = session.exec(
            select(AuditEvent).where(AuditEvent.action == "incident.escalate")
        ).all()
    stuck = [(m.id, m.event, m.state, m.attempts, m.last_error) for m in rows if m.state != outbox.DELIVERED]
    assert not stuck, f"outbox messages not delivered: {stuck}"

    # Slack: every message that landed in the workspace landed once ...
    landed: Counter[str] = Counter()
    dms: Counter[tuple[str, str]] = Counter()
    for channel_id in list(slack.messages):
        for message in slack.channel(channel_id):
            delivery = ((message.metadata or {}).get("event_payload") or {}).get("delivery_id")
            assert delivery is not None, f"a message without a delivery id: {message.text}"
            landed[delivery] += 1
            if channel_id.startswith("D"):
                dms[("U" + channel_id[1:], message.metadata["event_payload"]["incident_id"])] += 1
    doubled = {d: n for d, n in landed.items() if n > 1}
    assert not doubled, f"posted more than once: {doubled}"
    # ... and every message the outbox says was posted is there (headline edits are edits).
    slack_rows = [m for m in rows if m.channel == hook.CHANNEL]
    posted = [
        m.delivery_id
        for m in slack_rows
        if m.event != hook.HEADLINE_UPDATE and not {"skipped", "superseded_by"} & set(m.result or {})
    ]
    assert set(posted) == set(landed), (
        f"missing in Slack: {set(posted) - set(landed)}; unknown in Slack: {set(landed) - set(posted)}"
    )
    headlines = Counter(m.payload["incident"]["id"] for m in slack_rows if m.event == hook.HEADLINE_POST)
    assert set(headlines.values()) <= {1}

    # Pages: each person paged once per step, and each page by Slack is one direct message.
    paged = Counter((p.incident_id, p.step, p.loop, p.owner, p.contact_kind, p.contact) for p in pages)
    assert set(paged.values()) <= {1}, {k: n for k, n in paged.items() if n > 1}
    expected_dms = Counter((p.contact, str(p.incident_id)) for p in pages if p.contact_kind == "slack_user")
    assert dms == expected_dms
    # Escalations: each tier change of each incident once.
    tiers = Counter((e.subject_id, (e.after or {}).get("from_tier"), (e.after or {}).get("to_tier")) for e in escalations)
    assert set(tiers.values()) <= {1}, tiers

    # Webhooks: every delivery id arrived; repeats only where the test caused them.
    hooks = [m.delivery_id for m in rows if m.channel == "webhook"]
    if receiver is not None:
        with receiver.lock:
            received = Counter(r.delivery for r in receiver.requests)
        assert set(received) == set(hooks)
        assert sum(received.values()) - webhook_refused - len(received) == webhook_repeats, received
    return {"pages": len(pages), "escalations": len(escalations), "slack": len(landed), "webhooks": len(hooks), "dms": sum(dms.values())}


def run_until_quiet(runtime: Runtime, clock: FixedClock, active: dict[str, outbox.Sender], *, until: datetime) -> None:
    """Worker passes (``run_watch --once``), moving the test clock to whatever is due next: timers
    up to ``until``, and every message still waiting after them."""
    for _ in range(300):
        worker.run_watch(runtime, stop=threading.Event(), once=True, senders=active)
        with runtime.session() as session:
            next_timer = session.exec(
                select(func.min(Timer.due_at)).where(
                    Timer.state == timers.PENDING, col(Timer.kind).in_(list(runtime.timer_handlers))
                )
            ).one()
            waiting = session.exec(
                select(OutboxMessage.ordering_key, OutboxMessage.next_attempt_at)
                .where(OutboxMessage.state == outbox.PENDING)
                .order_by(col(OutboxMessage.id))
            ).all()
        # A key's messages go one after the other: what is due next is the oldest of each key.
        heads: dict[str, datetime] = {}
        for key, at in waiting:
            heads.setdefault(key, at)
        next_message = min(heads.values(), default=None)
        # Timers up to ``until``; the messages they queued are delivered however late that is.
        due = [t for t in (next_timer,) if t is not None and t <= until] + ([next_message] if next_message else [])
        if not due:
            return
        clock.at = max(clock.at, min(due))
    raise AssertionError("the worker never went quiet")


# Slack and webhook receivers misbehaving -------------------------------------------------------


def test_the_senders_give_up_on_an_answer_that_does_not_come() -> None:
    """A hung Slack or webhook endpoint cannot hold a worker: both clients have a read time-out."""
    sender = SlackSender(env=ENV)
    client = sender._client(TOKEN, "http://127.0.0.1:9/api/")
    assert client.timeout == SLACK_TIMEOUT and 0 < SLACK_TIMEOUT <= 30
    hooks = WebhookSender()
    try:
        assert hooks.client.timeout.read == WEBHOOK_TIMEOUT and 0 < WEBHOOK_TIMEOUT <= 30
    finally:
        hooks.close()
        sender.close()


def test_429_500_and_answers_that_never_come_deliver_everything_once(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, slack: SlackServer, receiver: Receiver, subscribed: None
) -> None:
    ids = [incidents.declare(ctx=ctx, severity=1, title="Checkout failing", components=["checkout"]).id]
    slack.fail(
        "chat.postMessage",
        Fault(429, retry_after=3),
        Fault(500),
        Fault(hang=MINUTES),  # carried out; the answer never comes
        Fault(500),
        Fault(hang=MINUTES, apply=False),  # never carried out, never answered
        Fault(429, retry_after=1),
    )
    slack.fail("conversations.open", Fault(500), Fault(hang=MINUTES, apply=False))
    slack.fail("chat.update", Fault(hang=MINUTES), Fault(500))
    receiver.answer(Answer(429, {"Retry-After": "2"}), Answer(500), Answer(delay=2.0), Answer(503))

    active = senders(timeout=0.4)
    try:
        started = time.monotonic()
        # Nobody acknowledges: tier 2 after 5 minutes, tier 3 after 20; the test clock jumps.
        run_until_quiet(runtime, clock, active, until=clock.now() + timedelta(minutes=25))
        elapsed = time.monotonic() - started
    finally:
        for s in active.values():
            s.close()

    # Each fault was met (so each was lived through), and the hangs cost a time-out each, not minutes.
    assert not any(slack.faults.values()) and not receiver.answers
    assert {r.answered for r in slack.requests} >= {200, 429, 500}
    assert elapsed < 30
    # The receiver refused three POSTs (429, 500, 503) and took one in twice: it answered too late.
    counts = assert_exactly_once(runtime, slack, receiver, webhook_repeats=1, webhook_refused=3)
    with runtime.session() as session:
        escalated = session.exec(
            select(AuditEvent.subject_id, func.count())
            .where(AuditEvent.action == "incident.escalate")
            .group_by(col(AuditEvent.subject_id))
        ).all()
    assert dict(escalated) == {str(i): 2 for i in ids}  # tier 1 → 2 → 3, once each
    assert counts["dms"] == 5  # Ana, Ben, Chen, Dana, Elena: one direct message each
    # A lost answer was settled by looking in Slack, not by posting again.
    assert slack.calls("conversations.history") or slack.calls("conversations.replies")


# The database going away -----------------------------------------------------------------------


@pytest.fixture
def proxied(db_url: str) -> Iterator[tuple[TcpProxy, str]]:
    url = make_url(db_url)
    if url.get_backend_name() != "postgresql":
        pytest.skip("a database server to cut off: PostgreSQL only (SQLite has no connection to lose)")
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        yield proxy, proxy.url_for(db_url)


class CutAfter:
    """A sender that, the first ``times`` times, cuts every database connection right after the
    real send: the message went out and the worker cannot record it."""

    def __init__(self, inner: outbox.Sender, proxy: TcpProxy, times: int, *, before: bool = False) -> None:
        self.inner, self.proxy, self.left, self.before = inner, proxy, times, before
        self.cuts = 0

    def send(self, message: OutboxMessage, ctx: WriteContext) -> outbox.Outcome:
        if self.before and self.left > 0:
            self.left -= 1
            self.cuts += self.proxy.cut()
        result = self.inner.send(message, ctx)
        if not self.before and self.left > 0:
            self.left -= 1
            self.cuts += self.proxy.cut()
        return result

    def close(self) -> None:
        self.inner.close()


@pytest.mark.slow
def test_a_database_restart_under_the_worker_and_the_page_loses_and_doubles_nothing(
    proxied: tuple[TcpProxy, str],
    settings: Settings,
    runtime: Runtime,
    ctx: WriteContext,
    clock: FixedClock,
    slack: SlackServer,
    receiver: Receiver,
    subscribed: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy, url = proxied
    through = make_engine(url)
    live = Runtime(settings=dataclasses.replace(settings, database_url=url), engine=through, clock=SystemClock())
    app_engine = make_engine(url)
    from statuspage.web.app import create_app

    app = create_app(live.settings, app_engine, version_check_interval=0)
    count = 6
    ids = declare_overdue(ctx, clock, count)

    # A connection cut in the middle of the first two timers' transactions (after the escalation
    # was written, before the commit).
    real_handler = live.timer_handlers["ack_timeout"]
    cuts_left = [2]

    def cutting_handler(fire_ctx: WriteContext, timer: Timer) -> None:
        real_handler(fire_ctx, timer)
        if cuts_left[0] > 0:
            cuts_left[0] -= 1
            proxy.cut()

    live = dataclasses.replace(live, timer_handlers={**live.timer_handlers, "ack_timeout": cutting_handler})
    inner = senders(timeout=1.0)
    active: dict[str, outbox.Sender] = {
        # Slack: posts that went out and could not be recorded; and sends that lose the database first.
        "slack": CutAfter(CutAfter(inner["slack"], proxy, 2, before=True), proxy, 3),
        "webhook": CutAfter(inner["webhook"], proxy, 2),
    }
    stop = threading.Event()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            worker.run_watch(live, stop=stop, poll_interval=0.05, senders=active)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    with TestClient(app) as web:
        before = web.get("/")
        assert before.status_code == 200 and web.get("/healthz").status_code == 200
        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        try:
            wait_for(lambda: fired(runtime) >= 2 or bool(errors), 20, "the first deadlines to fire")
            # The server restarts: every connection dies, new ones are refused for a while.
            proxy.refuse()
            proxy.cut()
            down = web.get("/")
            assert down.status_code == 200 and down.content == before.content  # the last good page
            assert web.get("/healthz").status_code == 503
            time.sleep(1.5)
            assert thread.is_alive() and not errors
            proxy.accept()
            # Back by themselves: the worker finishes everything, the page shows new writes.
            wait_for(lambda: fired(runtime) == count and pending(runtime) == 0 or bool(errors), 40, "the worker to finish")
            assert web.get("/healthz").status_code == 200
            incidents.declare(ctx=ctx, severity=3, title="Written after the restart", components=["web"])
            wait_for(lambda: "Written after the restart" in web.get("/").text, 10, "the page to show a new write")
            wait_for(lambda: pending(runtime) == 0 or bool(errors), 20, "the worker to announce it")
        finally:
            stop.set()
            thread.join(30)
            for s in active.values():
                s.close()
            through.dispose()
            app_engine.dispose()
    assert not errors, errors
    assert cuts_left == [0] and not any(s.left for s in (active["slack"], active["webhook"]))  # type: ignore[attr-defined]
    assert proxy.refused > 0
    # Webhook sends cut before their record: recorded once the database was back, not sent again.
    assert_exactly_once(runtime, slack, receiver, webhook_repeats=0)
    with runtime.session() as session:
        escalated = session.exec(
            select(AuditEvent.subject_id, func.count())
            .where(AuditEvent.action == "incident.escalate")
            .group_by(col(AuditEvent.subject_id))
        ).all()
    assert dict(escalated) == {str(i): 1 for i in ids}


def fired(runtime: Runtime) -> int:
    with runtime.session() as session:
        return session.exec(
            select(func.count()).select_from(Timer).where(Timer.kind == "ack_timeout", Timer.state == timers.FIRED)
        ).one()


def pending(runtime: Runtime) -> int:
    with runtime.session() as session:
        return session.exec(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.state == outbox.PENDING)
        ).one()


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


# A worker killed over and over -----------------------------------------------------------------

# 50 kills on PostgreSQL (the production backend, where workers run side by side) when the suite
# has it, else on SQLite. The other backend gets a handful, to keep the suite inside CI's time
# limit: each kill costs half a second (a worker's start, then some work), and SQLite's part is
# also covered by test_watch.py's kill.
KILLS_PRIMARY = 50
KILLS_SECONDARY = 5
KILL_SEED = 20261125


def _watch_child(args: list[str], env: dict[str, str], out: str) -> None:
    """``incident watch ARGS`` in a process forked from a server that has the product imported
    (starting Python and importing everything takes a second; 50 restarts should not)."""
    os.environ.update(env)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    from incident_cli.main import main

    main(["watch", *args], prog_name="incident")


@pytest.fixture(scope="module")
def forkserver() -> multiprocessing.context.BaseContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(
        ["incident_cli.main", "incident_cli.oncall_cmds", "statuspage.worker", "statuspage.oncall.engine", "statuspage.slack.sender",
         "statuspage.webhooks.sender", "statuspage.slack", "statuspage.slack.digest", "statuspage.db.migrate",
         "holidays.countries", "psycopg", "tests.test_faults"]
    )
    return context


def expire_claims(runtime: Runtime) -> None:
    """What waiting out a dead worker's leases does (10 s for timers and the outbox): its
    claims stop holding anything. Only ever called while no worker is alive."""
    with runtime.session() as session:
        session.exec(update(Timer).where(col(Timer.state) == timers.PENDING).values(claimed_until=None))  # type: ignore[call-overload]
        session.exec(
            update(OutboxMessage).where(col(OutboxMessage.state) == outbox.PENDING).values(claimed_until=None)  # type: ignore[call-overload]
        )
        session.commit()


@pytest.mark.slow
def test_a_worker_killed_50_times_pages_and_posts_everything_once(
    db_url: str,
    runtime: Runtime,
    ctx: WriteContext,
    clock: FixedClock,
    slack: SlackServer,
    receiver: Receiver,
    subscribed: None,
    cli_env: dict[str, str],
    tmp_path: Path,
    forkserver: multiprocessing.context.BaseContext,
) -> None:
    primary = make_url(db_url).get_backend_name() == ("postgresql" if PG_URL else "sqlite")
    kills = KILLS_PRIMARY if primary else KILLS_SECONDARY
    rng = random.Random(KILL_SEED)
    env = {**cli_env, **ENV}
    out = str(tmp_path / "watch.out")
    Path(out).touch()
    args = ["--poll-interval", "0.05", "--lease", "1"]
    ids: list[int] = []
    killed = mid_work = 0
    started = time.monotonic()
    for n in range(kills):
        if n % 3 == 0 or pending(runtime) < 10:
            # New incidents keep arriving, declared 31 minutes ago: the tier-1 deadline and the
            # first reminder are due, and Slack has their headline, replies and DMs to carry.
            ids += declare_overdue(ctx, clock, 1, ago=timedelta(minutes=31))
        expire_claims(runtime)
        process = forkserver.Process(target=_watch_child, args=(args, env, out), daemon=True)  # type: ignore[attr-defined]
        size = os.path.getsize(out)
        calls = len(slack.requests)

        def at_work(calls: int = calls, size: int = size) -> bool:  # it has fired a deadline or called Slack
            return len(slack.requests) > calls or b"incident " in Path(out).read_bytes()[size:]

        process.start()
        # Starting takes a fifth of a second or more (configuration, playbooks, schema check); the
        # kill comes at a random moment once the worker is at work, or now and then of its start.
        if rng.random() < 0.85:
            deadline = time.monotonic() + 5  # on a fast machine the work may have run out
            while not at_work() and process.is_alive() and time.monotonic() < deadline:
                time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.3))
        assert process.is_alive(), "the worker stopped by itself: " + Path(out).read_text()[-3000:]
        os.kill(process.pid, signal.SIGKILL)
        process.join(10)
        assert process.exitcode == -signal.SIGKILL
        killed += 1
        mid_work += at_work()
    killing = time.monotonic() - started
    done_while_killing = fired(runtime)
    assert killed == kills
    assert 0 < done_while_killing, "no worker got anywhere before it was killed"
    assert mid_work >= kills // 2, f"only {mid_work} of {kills} kills hit a worker at work"

    # A clean run to the end (the killed workers' claims having run out), stopped with SIGTERM.
    expire_claims(runtime)
    process = forkserver.Process(target=_watch_child, args=(args, env, out))  # type: ignore[attr-defined]
    process.start()
    wait_for(lambda: pending(runtime) == 0 and fired(runtime) == len(ids) or not process.is_alive(), 60, "the last run")
    process.terminate()
    process.join(30)
    assert process.exitcode == 0, Path(out).read_text()[-3000:]
    finishing = time.monotonic() - started - killing
    log = Path(out).read_text()
    assert "Traceback" not in log, log[-3000:]

    with runtime.session() as session:
        due_timers = session.exec(
            select(Timer.kind, func.count()).where(Timer.state == timers.FIRED).group_by(col(Timer.kind))
        ).all()
        tier_2 = session.exec(
            select(PageSent.incident_id, func.count()).where(PageSent.tier == 2).group_by(col(PageSent.incident_id))
        ).all()
    # Declared 31 minutes ago with no update since: each is past its 30-minute update cadence too,
    # a breach recorded once (its record is a timer row written fired).
    assert dict(due_timers) == {"ack_timeout": len(ids), "reminder": len(ids), "sla_breach": len(ids)}
    assert dict(tier_2) == {i: 4 for i in ids}  # Chen Wei and Dana Kowalski, two contacts each
    counts = assert_exactly_once(runtime, slack, receiver, webhook_repeats=_webhook_repeats(receiver))
    assert counts["escalations"] == len(ids)
    assert counts["dms"] == 4 * len(ids)  # Ana, Ben, then Chen and Dana
    sys.stderr.write(f"{kills} kills ({mid_work} at work) in {killing:.1f}s; {done_while_killing} deadlines fired; the last run took {finishing:.1f}s\n")


def _webhook_repeats(receiver: Receiver) -> int:
    """Webhooks are at least once: a worker killed between a POST and its record sends it again
    (same delivery id). Whatever repeated, each repeat is of one delivery id, which
    :func:`assert_exactly_once` checks against the outbox."""
    with receiver.lock:
        received = Counter(r.delivery for r in receiver.requests)
    return sum(received.values()) - len(received)
