"""Which escalation matrix a re-attached playbook runs on.

An incident's matrix is frozen when its escalation starts (normally at the declaration, see
:func:`statuspage.oncall.engine.attach`). When its severity is raised the new severity's playbook
is attached to the same run and keeps that frozen matrix: the owners, their contacts and
notification rules, and the tiers' channels as they were then. Somebody removed from the
configuration since is still paged for it, somebody added since is not.

Acknowledgement times are read from the frozen matrix too, for the new severity: a tier's own
time for that severity when the frozen copy holds one, else, when the configuration now gives
that tier (same level) a time for that severity, that time, else the frozen tier's default. The
second case is a severity the tier had no time of its own for at the declaration; a time given
since is the organisation's only statement of how fast that tier must answer at that severity.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from statuspage.domain.matrix import EscalationSource, Matrix

__all__ = ["matrix_for_reattach"]


def matrix_for_reattach(frozen: Mapping[str, Any], current: EscalationSource, severity: int) -> dict[str, Any]:
    """The frozen matrix JSON (as stored on the run) for a playbook re-attached at ``severity``:
    unchanged, except for the acknowledgement times described in the module's documentation.
    ``current`` is the configuration's escalation section as it is now."""
    key = f"sev{severity}"
    now = Matrix.from_escalation(current)
    result = copy.deepcopy(dict(frozen))
    for tier in result.get("tiers") or ():
        times = tier.get("acknowledge_within")
        if not isinstance(times, dict) or key in times:
            continue
        configured = now.tier(int(tier["level"]))
        if configured is not None and key in configured.acknowledge_within:
            tier["acknowledge_within"] = {**times, key: str(configured.acknowledge_within[key])}
    return result
