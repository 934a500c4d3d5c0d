"""Retention: what ``statuspage db prune`` may delete, and when (see :mod:`statuspage.retention.prune`).

Only constants live here (ages are :mod:`statuspage.domain.age`), so that nothing that reads them pulls in
the database layer.
"""

from __future__ import annotations

from statuspage.audit.actions import AuditAction

# The audit action of one admin API request (see statuspage.web.admin): pruned as "access".
ACCESS_ACTION = AuditAction.API_REQUEST
# The audit action of anonymous refused admin API requests, counted per client address and minute
# (see statuspage.web.refusals): pruned as "access" too.
REFUSED_ACTION = AuditAction.API_REFUSED
ACCESS_ACTIONS = (ACCESS_ACTION, REFUSED_ACTION)
# The audit action recording a prune: never pruned, so what was deleted stays on record.
PRUNED_ACTION = AuditAction.RETENTION_PRUNED
# What ``statuspage db prune`` may delete, in the order it does (see statuspage.retention.prune).
KINDS = ("outbox", "oncall", "alerts", "access", "audit")
