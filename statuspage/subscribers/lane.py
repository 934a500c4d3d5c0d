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
# Larger batches than pages' (the lease is renewed while a batch is sent, as for pages). A wait (a
# mail server saying "try later") backs off further, up to five minutes.
POLICY = outbox.RetryPolicy(batch_size=100, max_wait=timedelta(minutes=5))
OUTAGE_WAIT = 2.0


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
        links = {c: s for c, s in self.senders.items() if c == EMAIL_CHANNEL}
        bulk = {c: s for c, s in self.senders.items() if c in (NOTICE_CHANNEL, WEBHOOK_CHANNEL)}
        failures = 0
        while not self.stop.is_set():
            try:
                queued = expand_due(self.runtime)
                self.queued += queued
                first = outbox.deliver_due(self.runtime, senders=links, policy=self.policy, stop=self.stop.is_set, say=self.say)
                second = outbox.deliver_due(self.runtime, senders=bulk, policy=self.policy, stop=self.stop.is_set, say=self.say)
                failures = 0
            except Exception as exc:  # noqa: BLE001 - the lane must outlive a bad pass; nothing is lost
                failures += 1
                if database_unavailable(exc):
                    log.warning("subscribers' lane: the database is unavailable; retrying")
                else:
                    log.exception("subscribers' lane: a pass failed; retrying")
                if self.once and failures >= 5:
                    return
                self.stop.wait(min(OUTAGE_WAIT * failures, 30.0))
                continue
            self.report.add(first)
            self.report.add(second)
            done = queued + first.delivered + first.dead + second.delivered + second.dead
            if self.once:
                if done == 0:
                    return
                continue
            if queued == 0 and first.claimed + second.claimed == 0:
                self.stop.wait(self.poll_interval)


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
