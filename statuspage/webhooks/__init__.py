"""Webhooks: every incident and maintenance change POSTed, signed, to each subscriber's URL.

- :mod:`statuspage.webhooks.service`: subscriptions, and the before-commit hook that queues one
  outbox message per change per subscriber in the change's own transaction.
- :mod:`statuspage.webhooks.sender`: the outbox sender that makes the signed POSTs, and
  :func:`~statuspage.webhooks.sender.verify_signature` for receivers.

Receivers get each change at least once, in order per incident (or maintenance), each delivery
with a unique id to de-duplicate on; see :mod:`statuspage.outbox` for the whole contract.
"""
