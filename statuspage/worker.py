"""The loop behind ``incident watch``: fire due timers, deliver the outbox, post the daily digest.

One process does all three because they are one job — making the on-call promises come true
on time — and because ``make run`` should need one worker beside the web server, not three. Each
pass:

1. fires every due timer (acknowledgement deadlines escalate, reminders remind), each in a write
   transaction of its own (:func:`statuspage.oncall.timers.fire`);
2. delivers what the outbox holds with the senders it was given (webhooks and Slack, as the
   composition root :mod:`statuspage.runtime` makes them), exactly as ``statuspage deliver`` does;
3. runs the periodic jobs it was given (the daily Slack digest, which posts itself when due);
4. records every SLA target newly breached (:func:`statuspage.incidents.sla_watch.record_breaches`),
   once per incident and target, before delivering, so the breach's Slack reply goes out at once.

Nothing is held in memory between passes: every promise lives in a row, so a worker killed at any
point loses nothing (a claim it held runs out and the next pass takes the row) and several workers
may run side by side on PostgreSQL. On SIGTERM or SIGINT the worker finishes the timer or message
in hand, gives back the rest of its batch and returns, so the command exits 0. When the database
goes away (a restart, a failover, a cut connection), the worker waits and carries on by itself:
a timer whose transaction was cut is fired again and an outcome that could not be recorded is
recorded once the database is back, while the worker's claim on them lasts.

Offline (no Slack), the loop prints one line per page, escalation and reminder it causes, so a
terminal running ``incident watch`` is a usable pager during a demo or an outage of Slack itself.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from statuspage import outbox
from statuspage.audit.actions import AuditAction
from statuspage.context import Process
from statuspage.db.models import AuditEvent, OutboxMessage
from statuspage.db.unavailable import database_unavailable
from statuspage.incidents import sla_watch
from statuspage.oncall import timers

log = logging.getLogger(__name__)

@dataclass
class WatchReport:
    """What one or more passes did."""

    fired: int = 0
    stale: int = 0
    failed: int = 0
    delivery: outbox.DeliveryReport = field(default_factory=outbox.DeliveryReport)
    digests: int = 0
    sla_breaches: int = 0

    def add_fires(self, report: timers.FireReport) -> None:
        self.fired += report.fired
        self.stale += report.stale
        self.failed += report.failed

    def __str__(self) -> str:
        failed = f", {self.failed} failed" if self.failed else ""
        return f"{self.fired} timers fired{failed}; outbox: {self.delivery}"


def describe(event: AuditEvent) -> str | None:
    """One line for a person watching the terminal, for the on-call events a timer causes."""
    after: Mapping[str, Any] = event.after or {}
    who = f"incident {event.subject_id}"
    if event.action == AuditAction.INCIDENT_PAGE:
        tier = f"tier {after.get('tier')}" if after.get("tier") is not None else "directly"
        rule = f" by their notification rule (after {after['by_rule']})" if after.get("by_rule") else ""
        return f"{who}: page {tier}: {after.get('owner')} ({after.get('contact_kind')} {after.get('contact')}){rule}"
    if event.action == AuditAction.INCIDENT_NOTIFY_CHANNEL:
        return f"{who}: notify {after.get('channel')} (tier {after.get('tier')})"
    if event.action == AuditAction.INCIDENT_ESCALATE:
        return f"{who}: escalate tier {after.get('from_tier')} → tier {after.get('to_tier')}: {after.get('reason')}"
    if event.action == AuditAction.INCIDENT_REMIND:
        every = f" (every {after['update_every']})" if after.get("update_every") else ""
        return f"{who}: reminder to {after.get('commander')}: post a public update{every}"
    if event.action == AuditAction.INCIDENT_ESCALATION_EXHAUSTED:
        tiers = ", ".join(str(t) for t in after.get("paged_tiers") or []) or "none"
        return f"{who}: nobody acknowledged; every step of the playbook has run (tiers paged: {tiers})"
    if event.action == AuditAction.INCIDENT_PAGE_FAILED:
        return f"{who}: could not page {after.get('owner')} ({after.get('contact_kind')} {after.get('contact')}): {after.get('error')}"
    if event.action == AuditAction.INCIDENT_SLACK:
        return f"{who}: slack {after.get('channel') or '(incidents channel)'}: {after.get('text')}"
    if event.action == AuditAction.INCIDENT_UPDATE:
        return f"{who}: public update ({after.get('status')}): {after.get('message')}"
    if event.action == sla_watch.ACTION:
        target = str(after.get("target") or "").replace("_", " ")
        return f"{who}: SLA breached: {target} target {after.get('promised')} missed (due {after.get('deadline')})"
    return None


def run_watch(
    runtime: Process,
    *,
    stop: threading.Event,
    once: bool = False,
    poll_interval: float = 1.0,
    senders: Mapping[str, outbox.Sender],
    lease: timedelta = timers.DEFAULT_LEASE,
    policy: outbox.RetryPolicy | None = None,
    say: Callable[[str], None] | None = None,
    on_pass: Callable[[WatchReport], None] | None = None,
    jobs: Sequence[Callable[[], bool]] = (),
    other_lanes: Collection[str] = (),
) -> WatchReport:
    """Work until ``stop`` is set, sleeping ``poll_interval`` seconds whenever nothing was due.

    With ``once``, return as soon as a pass finds nothing more to do (due timers fired, the
    outbox's due messages tried once). ``say`` gets the console lines for what fired timers did.
    The senders are the caller's, who closes them. ``jobs`` run on every pass and say whether
    they did something (the daily digest: posted it). ``other_lanes``: channels another lane of
    this process delivers (the subscribers'), not to be warned about.
    """
    active = senders
    totals = WatchReport()
    unsent_warned: set[str] = set()
    if policy is None:
        policy = dataclasses.replace(outbox.DEFAULT_POLICY, lease=lease)

    def fired(result: timers.Fired) -> None:
        for event in result.events:
            line = describe(event)
            if line is None:
                continue
            log.info("%s", line)
            if say is not None:
                say(line)

    outage: _Outage | None = None
    last_scan = float("-inf")
    while not stop.is_set():
        report = WatchReport()
        try:
            fires = timers.fire_due(runtime, lease=lease, stop=stop.is_set, on_fired=fired)
            report.add_fires(fires)
            if stop.is_set():
                totals.add_fires(fires)
                break
            # Measuring every open incident is the costly part of a pass; once a second is
            # "as it happens" and leaves a worker busy firing deadlines free to fire them.
            if once or time.monotonic() - last_scan >= SLA_SCAN_EVERY:
                last_scan = time.monotonic()
                report.sla_breaches = _record_sla_breaches(runtime, say)
            report.delivery = outbox.deliver_due(
                runtime, senders=active, policy=policy, stop=stop.is_set, say=say
            )
            report.digests = _run_jobs(jobs)
            _warn_unsendable(runtime, [*active, *other_lanes], unsent_warned)
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            # The database is restarting or unreachable: what was claimed stays claimed (and
            # is retried when the claim runs out), nothing is lost; wait and try again.
            outage = outage or _Outage()
            outage.failed(exc)
            if once and outage.waited >= ONCE_OUTAGE_PATIENCE:
                raise
            stop.wait(outage.next_wait())
            continue
        if outage is not None:
            log.warning("the database is reachable again after %.1fs", outage.elapsed())
            outage = None
        _add(totals, report)
        busy = fires.claimed + report.delivery.claimed + report.digests + report.sla_breaches
        if on_pass is not None and busy:
            on_pass(report)
        if once:
            # A pass that fired or delivered something may have made more work due (the next
            # message of an ordering key); a pass that only met failures would retry forever.
            done = fires.fired + report.delivery.delivered + report.delivery.dead + report.digests
            if done + report.sla_breaches == 0:
                break
            continue
        if busy == 0:
            stop.wait(_idle_wait(runtime, poll_interval))
    return totals


# How often a busy worker measures the open incidents for SLA breaches (an idle one does it on
# every pass, that is every poll interval).
SLA_SCAN_EVERY = 1.0
# The shortest nap of an idle worker: a timer due in a few milliseconds is not worth a pass more.
MIN_IDLE_WAIT = 0.01


def _idle_wait(runtime: Process, poll_interval: float) -> float:
    """Seconds to sleep when nothing was due: until the next timer falls due, at most
    ``poll_interval`` (which still bounds how late an outbox message or a new timer is noticed)."""
    try:
        with runtime.session() as session:
            soonest = timers.next_due(session, kinds=list(runtime.timer_handlers))
    except Exception as exc:
        if not database_unavailable(exc):
            raise
        return poll_interval
    if soonest is None:
        return poll_interval
    return min(poll_interval, max(MIN_IDLE_WAIT, (soonest - runtime.clock.now()).total_seconds()))


# Waits between passes while the database is unreachable, doubling up to the last.
OUTAGE_FIRST_WAIT = 0.2
OUTAGE_MAX_WAIT = 5.0
# ``--once`` is for scripts and cron: it waits out a short outage, then fails rather than hang.
ONCE_OUTAGE_PATIENCE = 60.0


class _Outage:
    """How long the database has been unreachable, and how long to wait before the next pass."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.waited = 0.0
        self._wait = OUTAGE_FIRST_WAIT
        self._warned = False

    def failed(self, exc: BaseException) -> None:
        first_line = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [""])[0]
        if not self._warned:
            log.warning("the database is unavailable (%s: %s); retrying until it is back", type(exc).__name__, first_line)
            self._warned = True
        else:
            log.debug("the database is still unavailable: %s", first_line)

    def next_wait(self) -> float:
        wait, self._wait = self._wait, min(self._wait * 2, OUTAGE_MAX_WAIT)
        self.waited += wait
        return wait

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def _add(totals: WatchReport, report: WatchReport) -> None:
    totals.fired += report.fired
    totals.stale += report.stale
    totals.failed += report.failed
    totals.delivery.add(report.delivery)
    totals.digests += report.digests
    totals.sla_breaches += report.sla_breaches


def _record_sla_breaches(runtime: Process, say: Callable[[str], None] | None) -> int:
    """Record the SLA breaches this pass notices; how many. A failure is logged, never fatal:
    a broken SLA scan must not stop pages from going out."""
    try:
        report = sla_watch.record_breaches(runtime)
    except Exception:  # noqa: BLE001 - see the docstring
        log.exception("recording SLA breaches failed")
        return 0
    for event in report.events:
        line = describe(event)
        if line is not None:
            log.info("%s", line)
            if say is not None:
                say(line)
    return report.recorded


def _run_jobs(jobs: Sequence[Callable[[], bool]]) -> int:
    """Run the periodic jobs; how many did something. A failure is logged, never fatal: a broken
    digest must not stop pages from going out."""
    done = 0
    for job in jobs:
        try:
            done += bool(job())
        except Exception:  # noqa: BLE001 - see the docstring
            log.exception("a periodic job of the worker failed")
    return done


def _warn_unsendable(runtime: Process, senders: Collection[str], warned: set[str]) -> None:
    """Log, once per channel, messages waiting for a channel this worker has no sender for."""
    with runtime.session() as session:
        channels = session.exec(
            select(OutboxMessage.channel, func.count())
            .where(col(OutboxMessage.state) == outbox.PENDING, col(OutboxMessage.channel).not_in(list(senders) or [""]))
            .group_by(col(OutboxMessage.channel))
        ).all()
    for channel, count in channels:
        if channel not in warned:
            warned.add(channel)
            log.warning("%d outbox message(s) for %r wait: no sender is registered for that channel", count, channel)
