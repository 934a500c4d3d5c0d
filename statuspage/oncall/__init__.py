"""On call: the escalation engine that runs an incident's playbook, and its durable timers.

- :mod:`statuspage.oncall.timers` — timers as rows, claimed with a lease and fired exactly once;
- :mod:`statuspage.oncall.engine` — attaches a frozen playbook to an incident and performs what the
  pure state machine (:mod:`statuspage.domain.escalation`) decides, inside the caller's transaction;
- :mod:`statuspage.oncall.delivery` — whether each page reached its person (sent, failed, not sent);
- :mod:`statuspage.oncall.queries` — who is being paged, and each page with its delivery;
- :mod:`statuspage.worker` (beside this package) — the loop behind ``incident watch``, which fires
  them, delivers the outbox and records SLA breaches.
"""
