"""A Sev-1 declared while Slack is rate-limiting, failing or hanging, with the worker SIGKILLed in
the middle: every page, post and reply reaches Slack exactly once and none goes dead; and a
killed worker's claimed messages are taken over within seconds, not after a long lease.

Real processes on the real clock: ``incident watch`` forked from a server that has the product
imported (tests/test_faults.py), the Slack stand-in of tests/slack_server.py in storm mode (every
call answered with the same fault until the storm ends).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlmodel import col, select

from statuspage import outbox
from statuspage.clock import SystemClock
from statuspage.context import Actor
from statuspage.db.engine import make_engine
from statuspage.db.models import OutboxMessage
from statuspage.domain.enums import Source
from statuspage.incidents import service as incidents
from statuspage.runtime import Runtime, ensure_ready
from statuspage.settings import Settings
from statuspage.slack.sender import SlackSender
from tests.conftest import PG_URL
from tests.slack_server import Fault, SlackServer
from tests.test_faults import (  # noqa: F401 - config_file, forkserver and slack are fixtures
    ENV,
    _watch_child,
    assert_exactly_once,
    config_file,
    forkserver,
    slack,
    wait_for,
)

TIER_1 = ("U01ANARUIZ", "U01BENOKAF")


@pytest.fixture
def live(settings: Settings) -> Iterator[Runtime]:
    """The runtime on the real clock, like the worker processes."""
    engine = make_engine(settings.database_url)
    runtime = Runtime(settings=settings, engine=engine, clock=SystemClock())
    ensure_ready(runtime)
    yield runtime
    engine.dispose()


def declare_sev1(runtime: Runtime) -> int:
    with runtime.session() as session:
        ctx = runtime.context(session, Actor("alice", Source.CLI))
        incident = incidents.declare(
            ctx=ctx, severity=1, title="Checkout failing", components=["checkout"], message="Card payments time out."
        )
        assert incident.id is not None
        return incident.id


def outbox_rows(runtime: Runtime) -> list[OutboxMessage]:
    with runtime.session() as session:
        return list(session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all())


def settled(runtime: Runtime) -> bool:
    return all(m.state != outbox.PENDING for m in outbox_rows(runtime))


def start_worker(
    forkserver: multiprocessing.context.BaseContext, env: dict[str, str], out: Path, *extra: str
) -> multiprocessing.process.BaseProcess:
    process = forkserver.Process(  # type: ignore[attr-defined]
        target=_watch_child, args=(["--poll-interval", "0.2", *extra], env, str(out)), daemon=True
    )
    process.start()
    return process


def kill(process: multiprocessing.process.BaseProcess) -> None:
    assert process.is_alive()
    assert process.pid is not None
    os.kill(process.pid, signal.SIGKILL)
    process.join(10)
    assert process.exitcode == -signal.SIGKILL


STORMS = {
    # Slack's own words: 429 with Retry-After: 1, for 40 seconds.
    "429": (40.0, Fault(429, retry_after=1)),
    "5xx": (20.0, Fault(503)),
    # Calls carried out, their answers held past the client's time-out: the hardest case.
    "hang": (20.0, Fault(hang=11.0)),
}
# The storms run as real processes on the production backend (PostgreSQL when the suite has it,
# else SQLite), to keep the suite inside CI's time; tests/test_slack_outages.py drives the same
# rules in process on every backend.
EVERY_BACKEND: set[str] = set()


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(STORMS))
def test_a_sev1_declared_in_a_slack_storm_pages_everyone_exactly_once(
    kind: str,
    live: Runtime,
    slack: SlackServer,
    cli_env: dict[str, str],
    tmp_path: Path,
    forkserver: multiprocessing.context.BaseContext,
) -> None:
    backend = make_url(live.settings.database_url).get_backend_name()
    if kind not in EVERY_BACKEND and backend != ("postgresql" if PG_URL else "sqlite"):
        pytest.skip(f"the {kind} storm runs on the production backend only")
    seconds, fault = STORMS[kind]
    slack.storm(seconds, fault)
    storm_ends = time.monotonic() + seconds
    incident_id = declare_sev1(live)
    env = {**cli_env, **ENV}
    out = tmp_path / "watch.out"
    out.touch()

    first = start_worker(forkserver, env, out)
    # Let it meet the storm for a while, then kill it mid-work.
    wait_for(lambda: len(slack.requests) >= 3, 30, "the worker to call Slack")
    time.sleep(min(8.0, seconds / 4))
    kill(first)
    second = start_worker(forkserver, env, out)
    try:
        wait_for(lambda: time.monotonic() > storm_ends and settled(live), seconds + 90, "the outbox to settle")
    finally:
        second.terminate()
        second.join(30)
    log = out.read_text()
    assert "Traceback" not in log, log[-3000:]

    rows = outbox_rows(live)
    assert not [m for m in rows if m.state == outbox.DEAD], [(m.event, m.last_error) for m in rows if m.state == "dead"]
    assert all(m.attempts <= 1 for m in rows), [(m.event, m.attempts, m.last_error) for m in rows]
    counts = assert_exactly_once(live, slack, None)
    assert counts["dms"] == 2
    for user in TIER_1:
        (dm,) = slack.dm(user)
        assert f"#{incident_id}" in dm.text
    assert len(slack.top_level("#oncall")) == 1
    (headline,) = slack.top_level("#incidents")
    assert "Checkout failing" in headline.text
    # The headline ends up showing the incident's current state, not the one it was queued with.
    final = headline.edits[-1]["text"] if headline.edits else headline.text
    assert "paging" in final.lower() or "Ana Ruiz" in final


@pytest.mark.slow
def test_a_killed_workers_claims_are_taken_over_within_seconds(
    live: Runtime,
    slack: SlackServer,
    cli_env: dict[str, str],
    tmp_path: Path,
    forkserver: multiprocessing.context.BaseContext,
) -> None:
    # Slack holds every answer back: the worker is stuck inside a call, holding its batch.
    slack.storm(600, Fault(hang=600.0, apply=False))
    declare_sev1(live)
    env = {**cli_env, **ENV}
    out = tmp_path / "watch.out"
    out.touch()
    first = start_worker(forkserver, env, out)  # the default lease

    def claimed() -> list[int]:
        now = live.clock.now()
        return [m.id or 0 for m in outbox_rows(live) if m.claimed_until is not None and m.claimed_until > now]

    wait_for(lambda: bool(claimed()) and len(slack.requests) >= 1, 30, "the worker to claim messages")
    held = claimed()
    kill(first)
    killed_at = time.monotonic()
    slack.storm(0, Fault())
    second = start_worker(forkserver, env, out)
    try:
        wait_for(lambda: all(m.state == outbox.DELIVERED for m in outbox_rows(live) if m.id in held), 60, "the takeover")
        taken_over = time.monotonic() - killed_at
    finally:
        second.terminate()
        second.join(30)
    assert taken_over <= 15, f"the killed worker's messages waited {taken_over:.1f}s"


def test_a_live_workers_claim_outlasts_its_lease_and_a_second_worker_keeps_off(
    live: Runtime, slack: SlackServer
) -> None:
    declare_sev1(live)
    policy = outbox.RetryPolicy(lease=timedelta(seconds=1), batch_size=1)
    slack.fail("chat.postMessage", Fault(hang=3.0))  # the headline's post is slow, but works
    sender = SlackSender(timeout=10, env=ENV)
    first = threading.Thread(target=lambda: outbox.deliver_due(live, senders={"slack": sender}, policy=policy))
    first.start()
    try:
        wait_for(lambda: len(slack.calls("chat.postMessage")) == 1, 10, "the first post")
        time.sleep(1.5)  # past the lease: renewed by the heartbeat
        with live.session() as session:
            taken = outbox.claim_due(session, now=live.clock.now(), channels=["slack"], policy=policy)
            outbox.release(session, [m.id or 0 for m in taken])
        assert [m.event for m in taken] != ["slack.headline.post"]
    finally:
        first.join(15)
        sender.close()
    (headline,) = [m for m in outbox_rows(live) if m.event == "slack.headline.post"]
    assert headline.state == outbox.DELIVERED
    assert len(slack.top_level("#incidents")) == 1
