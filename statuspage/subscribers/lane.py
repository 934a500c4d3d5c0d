"""The subscribers' lane: a thread of the worker of its own, so that a fan-out to many
subscribers never delays a page.

The on-call worker (``incident watch``, ``statuspage deliver``) delivers pages, Slack and admin
webhooks on its main loop; this lane, beside it, expands notices into messages
(:mod:`statuspage.subscribers.fanout`) and sends the subscribers' channels: the emails with links
first (a confirmation is never stuck behind a fan-out), then notices by email and webhook, in
larger batches. Both lanes claim from the same outbox, each only its own channels, so neither
waits for the other's messages; a lane that dies loses nothing (its claims run out).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta

from statuspage import outbox
from statuspage.context import Process
from statuspage.db.unavailable import database_unavailable
from statuspage.subscribers.fanout import expand_due
from statuspage.subscribers.service import EMAIL_CHANNEL, NOTICE_CHANNEL, WEBHOOK_CHANNEL

log = logging.getLogger(__name__)

CHANNELS = (EMAIL_CHANNEL, NOTICE_CHANNEL, WEBHOOK_CHANNEL)
# Chunks of a fan-out queued before each round of sending (5,000 subscribers each): a fan-out to
# 50,000 is queued in one go, in about a second, then sent.
EXPAND_BUDGET = 10
# Larger batches than pages' (the lease is renewed while a batch is sent, as for pages). A wait (a
# mail server saying "try later") backs off further, up to five minutes. Outcomes are recorded
# without waiting for PostgreSQL's disk flush: a killed worker loses nothing by it, and only a
# crash of the database server could send a notice twice (with the same Message-ID).
POLICY = outbox.RetryPolicy(batch_size=100, max_wait=timedelta(minutes=5), relaxed_commit=True)
# After a failed pass (the database busy or away), wait this long, doubling with each failure in a
# row up to half a minute: a write lock held a moment by another process costs a fraction of a second.
OUTAGE_WAIT = 0.2
# An idle lane looks for new notices this often (at most the worker's poll interval): three small
# queries, so a fan-out starts well within a second of the change.
IDLE_WAIT = 0.25


class SubscribersLane:
    """Runs :meth:`run` in a thread: ``start()``, then ``join()`` after ``stop`` is set (or, with
    ``once``, when everything due was tried)."""

    def __init__(
        self,
        runtime: Process,
        *,
        senders: Mapping[str, outbox.Sender],
        stop: threading.Event,
        once: bool = False,
        poll_interval: float = 1.0,
        policy: outbox.RetryPolicy = POLICY,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.runtime = runtime
        self.senders = senders
        self.stop = stop
        self.once = once
        self.poll_interval = poll_interval
        self.policy = policy
        self.say = say
        self.report = outbox.DeliveryReport()
        self.queued = 0
        self._thread = threading.Thread(target=self.run, name="subscribers-lane", daemon=True)

    def start(self) -> SubscribersLane:
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> outbox.DeliveryReport:
        self._thread.join(timeout)
        return self.report

    def run(self) -> None:
        # One claim per channel, links first: each claim then walks its channel's index in order
        # (one claim over several channels checks every pending row, slow with thousands).
        lanes = [{c: self.senders[c]} for c in (EMAIL_CHANNEL, NOTICE_CHANNEL, WEBHOOK_CHANNEL) if c in self.senders]
        failures = 0
        while not self.stop.is_set():
            try:
                queued = expand_due(self.runtime, budget=EXPAND_BUDGET)
                self.queued += queued
                passes = [
                    outbox.deliver_due(self.runtime, senders=lane, policy=self.policy, stop=self.stop.is_set, say=self.say)
                    for lane in lanes
                ]
                failures = 0
            except Exception as exc:  # noqa: BLE001 - the lane must outlive a bad pass; nothing is lost
                failures += 1
                if database_unavailable(exc):
                    log.warning("subscribers' lane: the database is unavailable; retrying")
                else:
                    log.exception("subscribers' lane: a pass failed; retrying")
                if self.once and failures >= 5:
                    return
                self.stop.wait(min(OUTAGE_WAIT * 2 ** (failures - 1), 30.0))
                continue
            for report in passes:
                self.report.add(report)
            done = queued + sum(report.delivered + report.dead for report in passes)
            if self.once:
                if done == 0:
                    return
                continue
            if queued == 0 and sum(report.claimed for report in passes) == 0:
                self.stop.wait(min(self.poll_interval, IDLE_WAIT))


@contextmanager
def running(
    runtime: Process,
    *,
    senders: Mapping[str, outbox.Sender],
    stop: threading.Event,
    once: bool = False,
    poll_interval: float = 1.0,
    lease: timedelta | None = None,
    say: Callable[[str], None] | None = None,
) -> Iterator[SubscribersLane]:
    """The lane, running beside the body of the ``with``. On leaving, the lane is stopped (unless
    ``once``: then it finishes what is due) and joined."""
    policy = POLICY if lease is None else dataclasses.replace(POLICY, lease=lease)
    lane = SubscribersLane(
        runtime, senders=senders, stop=stop, once=once, poll_interval=poll_interval, policy=policy, say=say
    ).start()
    failed = True
    try:
        yield lane
        failed = False
    finally:
        if failed or not once:
            stop.set()
        lane.join()
