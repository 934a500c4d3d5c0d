"""Several processes on one database, as in production: ``statuspage serve --workers 2`` keeps the
public page up while the database is away, and an ``incident watch`` worker stopped with SIGTERM
hands back what it had claimed so that another worker carries on at once, not after a lease.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func
from sqlalchemy.engine import make_url
from sqlmodel import col, select

from statuspage import outbox
from statuspage.clock import FixedClock
from statuspage.context import WriteContext
from statuspage.db.models import AuditEvent, OutboxMessage, Timer
from statuspage.incidents import service as incidents
from statuspage.oncall import timers
from statuspage.runtime import Runtime
from tests.conftest import SHIPPED_CONFIG
from tests.overdue import declare_overdue
from tests.slack_server import Fault, SlackServer
from tests.tcp_proxy import TcpProxy
from tests.test_faults import (  # noqa: F401 - fixtures
    ENV,
    _watch_child,
    assert_exactly_once,
    fired,
    forkserver,
    pending,
    slack,
    wait_for,
)

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent


@pytest.fixture
def config_file(tmp_path: Path, slack: SlackServer, request: pytest.FixtureRequest) -> Path:  # noqa: F811
    """The demo configuration, its Slack pointed at the fake workspace; switched off for tests
    that ask for ``slack_off`` (they are about timers, and each Slack message costs time)."""
    text = SHIPPED_CONFIG.read_text(encoding="utf-8")
    anchor = '  incidents_channel: "#incidents"\n'
    text = text.replace(anchor, anchor + f"  base_url: {slack.base_url}\n")
    if "slack_off" in request.fixturenames:
        assert "slack:\n  enabled: true" in text
        text = text.replace("slack:\n  enabled: true", "slack:\n  enabled: false")
    target = tmp_path / "statuspage.yaml"
    target.write_text(text, encoding="utf-8")
    return target


@pytest.fixture
def slack_off() -> None:
    """Ask for it to run with Slack switched off in the configuration."""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# The public page while the database is down -----------------------------------------------------


def worker_pids(parent: int) -> list[int]:
    """The worker processes under the ``statuspage serve`` process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after its closing parenthesis.
        if int(stat.rsplit(")", 1)[1].split()[1]) != parent:
            continue
        try:
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in command:  # not multiprocessing's resource tracker
            found.append(int(entry.name))
    return sorted(found)


@contextmanager
def only(pid: int, pids: list[int]) -> Iterator[None]:
    """Let only worker ``pid`` accept connections: the others are stopped (SIGSTOP) meanwhile, so
    a request is known to be answered by that process."""
    others = [p for p in pids if p != pid]
    for other in others:
        os.kill(other, signal.SIGSTOP)
    try:
        yield
    finally:
        for other in others:
            os.kill(other, signal.SIGCONT)


def get(url: str) -> httpx.Response:
    # A new connection per request. Each worker listens on its own socket and the kernel picks one
    # by the connection's addresses: one picked for a stopped worker waits, so try another.
    deadline = time.monotonic() + 20
    while True:
        try:
            return httpx.get(url, timeout=1, headers={"connection": "close"})
        except httpx.TimeoutException:
            if time.monotonic() > deadline:
                raise


def test_every_web_process_serves_the_last_good_page_while_the_database_is_down(
    db_url: str, cli_env: dict[str, str], ctx: WriteContext, tmp_path: Path
) -> None:
    url = make_url(db_url)
    if url.get_backend_name() != "postgresql":
        pytest.skip("a database server to cut off: PostgreSQL only")
    incidents.declare(ctx=ctx, severity=2, title="Slow dashboards", components=["web"])
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        env = {**os.environ, **cli_env, "DATABASE_URL": proxy.url_for(db_url)}
        log = (tmp_path / "serve.log").open("w")
        server = subprocess.Popen(
            [str(BIN / "statuspage"), "serve", "--workers", "2", "--port", str(port), "--log-level", "warning"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            wait_for(lambda: _up(base) or server.poll() is not None, 60, "the server to start")
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            wait_for(lambda: len(worker_pids(server.pid)) == 2, 30, "two worker processes")
            pids = worker_pids(server.pid)
            good: dict[int, bytes] = {}
            for pid in pids:  # each process renders the page once while all is well
                with only(pid, pids):
                    page = get(f"{base}/")
                    assert page.status_code == 200 and "Slow dashboards" in page.text
                    assert get(f"{base}/healthz").status_code == 200
                    assert get(f"{base}/api/v2/summary.json").status_code == 200
                    good[pid] = page.content

            # The database goes away: live connections die, new ones are refused.
            proxy.refuse()
            proxy.cut()
            for pid in pids:
                with only(pid, pids):
                    page = get(f"{base}/")
                    assert page.status_code == 200, f"worker {pid}: {page.status_code}"
                    assert page.content == good[pid]
                    assert "Slow dashboards" in page.text
                    assert "Last updated <time datetime=" in page.text  # how old the page is, shown
                    assert get(f"{base}/api/v2/summary.json").status_code == 200
                    health = get(f"{base}/healthz")
                    assert health.status_code == 503 and "database unavailable" in health.text
            time.sleep(1.0)  # past the version check interval: still served, from the last good copy
            for pid in pids:
                with only(pid, pids):
                    assert get(f"{base}/").content == good[pid]

            # The database is back: every process notices by itself and shows new writes.
            proxy.accept()
            incidents.declare(ctx=ctx, severity=1, title="Checkout failing", components=["checkout"])
            for pid in pids:
                with only(pid, pids):
                    wait_for(lambda: get(f"{base}/healthz").status_code == 200, 15, f"worker {pid} to be healthy")
                    wait_for(lambda: "Checkout failing" in get(f"{base}/").text, 15, f"worker {pid} to show the new incident")
            assert server.poll() is None
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            finally:
                log.close()
    output = (tmp_path / "serve.log").read_text()
    assert server.returncode == 0, output
    assert "Traceback" not in output.replace("cannot read the data version", ""), output[-3000:]


def _up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


# Graceful shutdown of the worker ----------------------------------------------------------------


def live_claims(runtime: Runtime) -> tuple[int, int]:
    """(timers, outbox messages) still pending and held by an unexpired claim."""
    now = datetime.now(UTC)
    with runtime.session() as session:
        claimed_timers = session.exec(
            select(func.count()).select_from(Timer).where(Timer.state == timers.PENDING, col(Timer.claimed_until) > now)
        ).one()
        claimed_messages = session.exec(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.state == outbox.PENDING, col(OutboxMessage.claimed_until) > now)
        ).one()
    return claimed_timers, claimed_messages


def start(context: multiprocessing.context.BaseContext, args: list[str], env: dict[str, str], out: Path) -> multiprocessing.Process:
    process = context.Process(target=_watch_child, args=(args, env, str(out)))  # type: ignore[attr-defined]
    process.start()
    return process


def test_sigterm_hands_back_claimed_deadlines_for_the_next_worker_at_once(
    slack_off: None,
    runtime: Runtime,
    ctx: WriteContext,
    clock: FixedClock,
    cli_env: dict[str, str],
    tmp_path: Path,
    forkserver: multiprocessing.context.BaseContext,  # noqa: F811 - the fixture
) -> None:
    count = 30  # more than one batch of claims (20)
    ids = declare_overdue(ctx, clock, count)
    env = dict(cli_env)
    # A lease of ten minutes: whatever the first worker kept would wait that long.
    first = start(forkserver, ["--poll-interval", "0.05", "--lease", "600"], env, tmp_path / "first.out")
    wait_for(lambda: fired(runtime) >= 2 or not first.is_alive(), 30, "the first deadlines to fire")
    held_timers, _ = live_claims(runtime)
    first.terminate()  # SIGTERM
    first.join(20)
    assert first.exitcode == 0, (tmp_path / "first.out").read_text()[-3000:]
    assert held_timers > 0, "the worker held no claim when it was stopped; raise count"
    assert fired(runtime) < count
    assert live_claims(runtime) == (0, 0)  # given back, not left to run out

    second = start(forkserver, ["--once", "--lease", "600"], env, tmp_path / "second.out")
    second.join(60)
    assert second.exitcode == 0, (tmp_path / "second.out").read_text()[-3000:]
    assert fired(runtime) == count
    with runtime.session() as session:
        escalations = session.exec(
            select(AuditEvent.subject_id, func.count())
            .where(AuditEvent.action == "incident.escalate")
            .group_by(col(AuditEvent.subject_id))
        ).all()
    assert dict(escalations) == {str(i): 1 for i in ids}


def test_sigterm_mid_delivery_finishes_the_message_in_hand_and_hands_back_the_rest(
    runtime: Runtime,
    ctx: WriteContext,
    slack: SlackServer,  # noqa: F811 - the fixture
    cli_env: dict[str, str],
    tmp_path: Path,
    forkserver: multiprocessing.context.BaseContext,  # noqa: F811
) -> None:
    for n in range(2):  # declared now: nothing is due but their Slack messages (headline, replies, pages)
        incidents.declare(ctx=ctx, severity=1, title=f"Checkout {n}", components=["checkout"])
    assert pending(runtime) > 10  # more than one batch
    # The first post is answered only after 2 seconds: the worker is in the middle of its batch.
    slack.fail("chat.postMessage", Fault(hang=2.0))
    env = {**cli_env, **ENV}
    first = start(forkserver, ["--poll-interval", "0.05"], env, tmp_path / "first.out")
    wait_for(lambda: bool(slack.calls("chat.postMessage")) or not first.is_alive(), 30, "the first post")
    _, held_messages = live_claims(runtime)
    stopping = time.monotonic()
    first.terminate()
    first.join(20)
    assert first.exitcode == 0, (tmp_path / "first.out").read_text()[-3000:]
    assert time.monotonic() - stopping < 10
    assert held_messages > 1
    assert live_claims(runtime) == (0, 0)
    with runtime.session() as session:
        (in_hand,) = session.exec(
            select(OutboxMessage).where(OutboxMessage.delivery_id == slack.calls("chat.postMessage")[0].delivery_id)
        ).all()
    assert in_hand.state == outbox.DELIVERED  # finished, not abandoned
    assert len(slack.calls("chat.postMessage")) == 1  # and nothing more was started

    # The next worker takes the rest at once, not after the five-minute lease (headline edits wait
    # a few seconds by design, to fold a burst of changes into one edit).
    second = start(forkserver, ["--poll-interval", "0.05"], env, tmp_path / "second.out")
    wait_for(lambda: pending(runtime) == 0 or not second.is_alive(), 30, "the next worker to deliver the rest")
    second.terminate()
    second.join(20)
    assert second.exitcode == 0, (tmp_path / "second.out").read_text()[-3000:]
    assert_exactly_once(runtime, slack, None)
