"""On call: the escalation engine that runs an incident's playbook, its durable timers, and the
``incident watch`` worker that fires them and delivers the outbox.

- :mod:`statuspage.oncall.timers` — timers as rows, claimed with a lease and fired exactly once;
- :mod:`statuspage.oncall.engine` — attaches a frozen playbook to an incident and performs what the
  pure state machine (:mod:`statuspage.domain.escalation`) decides, inside the caller's transaction;
- :mod:`statuspage.oncall.worker` — the loop behind ``incident watch``.
"""
