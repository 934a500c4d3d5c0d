"""``incident watch`` as a real process: it fires what is due, prints it, stops cleanly on SIGTERM,
and a worker killed outright in the middle of its work loses and doubles nothing.

The incidents are declared by the test with its FixedClock set a few minutes into the past, so
their first acknowledgement deadlines (5 minutes for a Sev-1 in the demo configuration) are due
by the real clock the process reads, while nothing else is.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from statuspage.clock import FixedClock
from statuspage.context import WriteContext
from statuspage.db.models import AuditEvent, PageSent, Timer
from statuspage.runtime import Runtime
from tests.overdue import declare_overdue

pytestmark = pytest.mark.slow

INCIDENT = Path(sys.executable).parent / "incident"


def fired_ack_timers(runtime: Runtime) -> int:
    with runtime.session() as session:
        return session.exec(
            select(func.count()).select_from(Timer).where(Timer.kind == "ack_timeout", Timer.state == "fired")
        ).one()


@pytest.fixture
def spawn(cli_env: dict[str, str], tmp_path: Path) -> Iterator[object]:
    """Start ``incident watch ARGS`` with stdout and stderr in files (a full pipe would block it)."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str, name: str = "watch") -> tuple[subprocess.Popen[bytes], Path, Path]:
        out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:  # the child keeps its own copies
            process = subprocess.Popen([str(INCIDENT), "watch", *args], env={**os.environ, **cli_env}, stdout=stdout, stderr=stderr)
        started.append(process)
        return process, out, err

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def wait_for(condition: object, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}")


def test_watch_fires_due_deadlines_prints_them_and_stops_cleanly_on_sigterm(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, spawn: object
) -> None:
    (incident_id,) = declare_overdue(ctx, clock, 1)
    process, out, err = spawn("--poll-interval", "0.1")  # type: ignore[operator]
    wait_for(lambda: fired_ack_timers(runtime) == 1 or process.poll() is not None, what="the deadline to fire")
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0, err.read_text()
    stdout, stderr = out.read_text(), err.read_text()
    assert "Traceback" not in stderr
    assert f"incident {incident_id}: escalate tier 1 → tier 2: no acknowledgement within 5m" in stdout
    assert f"incident {incident_id}: page tier 2: Chen Wei (slack_user U01CHENWEI)" in stdout
    assert stdout.strip().splitlines()[-1].startswith("1 timers fired; outbox:")
    with runtime.session() as session:
        tier_2 = session.exec(select(func.count()).select_from(PageSent).where(PageSent.tier == 2)).one()
    assert tier_2 == 4  # Chen Wei and Dana Kowalski, two contacts each


def test_a_worker_killed_mid_work_loses_nothing_and_doubles_nothing(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, spawn: object
) -> None:
    count = 60
    ids = declare_overdue(ctx, clock, count)
    process, _out, err = spawn("--poll-interval", "0.05", "--lease", "1", name="killed")  # type: ignore[operator]
    wait_for(lambda: fired_ack_timers(runtime) >= 5 or process.poll() is not None, what="some deadlines to fire")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    done_before = fired_ack_timers(runtime)
    assert done_before < count, "the worker finished before it could be killed; raise count"

    # What the dead worker had claimed waits out its lease (1 s), then a new worker takes it all.
    time.sleep(1.2)
    again, out, err = spawn("--once", "--lease", "1", name="restarted")  # type: ignore[operator]
    assert again.wait(timeout=60) == 0, err.read_text()
    assert fired_ack_timers(runtime) == count

    with runtime.session() as session:
        escalations = session.exec(
            select(AuditEvent.subject_id, func.count())
            .where(AuditEvent.action == "incident.escalate")
            .group_by(col(AuditEvent.subject_id))
        ).all()
        tier_2_pages = session.exec(
            select(PageSent.incident_id, func.count()).where(PageSent.tier == 2).group_by(col(PageSent.incident_id))
        ).all()
        next_deadlines = session.exec(
            select(func.count()).select_from(Timer).where(Timer.key == "ack:3:0", Timer.state == "pending")
        ).one()
    assert dict(escalations) == {str(i): 1 for i in ids}  # every incident escalated, exactly once
    assert dict(tier_2_pages) == {i: 4 for i in ids}
    assert next_deadlines == count  # and each now waits on tier 2, once
