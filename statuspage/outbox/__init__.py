"""The outbox: messages to the outside world (webhook POSTs, later Slack calls), written in the
same transaction as the change that causes them and delivered afterwards by a worker.

Why an outbox rather than sending from the service function: a POST made inside the transaction
could announce a change that then rolls back, and one made after the commit is lost if the
process dies in between. Writing the message as a row in the change's own transaction makes
"the change happened" and "it will be announced" one fact; a worker (``statuspage deliver``)
then delivers the rows, retrying as long as it makes sense.

The contract a receiver can rely on: **at least once, with a delivery id, in order per key.**

- *At least once*: a message is marked delivered only after its sender reported success. If the
  worker dies between sending and marking (or its claim's lease runs out mid-send), the message is
  sent again later, so a receiver can see the same message twice.
- *With a delivery id*: every message has a unique ``delivery_id`` that stays the same on every
  attempt (for webhooks: the ``X-Statuspage-Delivery`` header and the payload's ``id``). Receivers
  de-duplicate on it.
- *In order per key*: messages sharing an ``ordering_key`` (for webhooks: one incident to one
  subscriber) are attempted strictly one after the other, oldest first: a message is not tried
  while an older one with its key is still pending, even if the older one is waiting out a
  backoff. A message that went dead no longer holds the ones behind it. Messages with different
  keys are independent, so one slow receiver or incident does not hold up the others.

Three kinds of failure, told apart by the sender:

- *wait*: the receiver is rate-limiting us (429 with ``Retry-After``) or is unreachable (5xx,
  time-outs, refused connections). Waiting that out is not a failed attempt: the message is
  tried again after the wait asked for, or after a backoff that grows with the waits but stays
  short (``max_wait``), and never goes dead for it however long it lasts.
- *retry*: an answer that is wrong but might not stay wrong (a webhook receiver answering 404
  during a deploy). It counts as a failed attempt: after ``max_attempts`` of them, or once such a
  failure happens more than ``max_age`` after the message was written, it is dead.
- *dead*: an answer that can never succeed (a revoked token, a channel that does not exist).

Dead letters stay in the table, visible with ``statuspage outbox`` and sent again with
``statuspage outbox retry``; the worker says so on its console, and a sender may act on them
(a page that cannot be delivered is reported so that someone pages the person another way).

Claiming is one ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING id`` in a
short transaction of its own, setting ``claimed_until`` (a lease) on the rows it takes. The lease
is short (seconds) and renewed by a heartbeat while the worker holds the batch, so a worker that
is killed gives its messages up within one lease, and the ordering keys behind them move on. On
PostgreSQL, several workers can run side by side: each skips the rows another is claiming. On
SQLite the statement runs under the database's single write lock, so claims are atomic too, but
workers would only take turns: run one. The network call happens outside any transaction, and
each result is recorded in a transaction of its own right after.
"""

from statuspage.db.unavailable import RECORD_RETRY_FIRST, RECORD_RETRY_MAX, database_unavailable
from statuspage.outbox.delivery import DeliveryReport, deliver_due, run_worker
from statuspage.outbox.heartbeat import Heartbeat
from statuspage.outbox.reading import OutboxSummary, oldest_pending, retry_dead, summary, summary_json
from statuspage.outbox.store import (
    DEAD,
    DEFAULT_POLICY,
    DELIVERED,
    MAX_ERROR,
    MIN_DELAY,
    PENDING,
    STATES,
    WORKER_ACTOR,
    Outcome,
    RetryPolicy,
    Sender,
    SenderFactory,
    claim_due,
    enqueue,
    new_delivery_id,
    record,
    release,
)

__all__ = [
    "DEAD",
    "DEFAULT_POLICY",
    "DELIVERED",
    "MAX_ERROR",
    "MIN_DELAY",
    "PENDING",
    "RECORD_RETRY_FIRST",
    "RECORD_RETRY_MAX",
    "STATES",
    "WORKER_ACTOR",
    "DeliveryReport",
    "Heartbeat",
    "Outcome",
    "OutboxSummary",
    "RetryPolicy",
    "Sender",
    "SenderFactory",
    "claim_due",
    "database_unavailable",
    "deliver_due",
    "enqueue",
    "new_delivery_id",
    "oldest_pending",
    "record",
    "release",
    "retry_dead",
    "run_worker",
    "summary",
    "summary_json",
]
