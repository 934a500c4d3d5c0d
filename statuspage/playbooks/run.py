"""Running playbooks: the pure escalation machine with its templates rendered here, at the edge.

:func:`statuspage.domain.escalation.advance` and :func:`statuspage.domain.simulation.simulate`
take the template renderer as an argument; these are the same functions with Jinja's
(:func:`statuspage.playbooks.render.render_text`), as the engine and ``incident playbook
simulate`` run them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from statuspage.domain import escalation, simulation
from statuspage.domain.escalation import Action, EscalationState, Event, IncidentView
from statuspage.domain.matrix import Matrix
from statuspage.domain.playbook import Playbook
from statuspage.domain.simulation import SimulatedEvent
from statuspage.playbooks.render import render_text

__all__ = ["advance", "simulate"]


def advance(
    playbook: Playbook | Mapping[str, Any],
    matrix: Matrix | Mapping[str, Any],
    severity: int,
    state: EscalationState,
    event: Event,
    *,
    incident: IncidentView,
) -> tuple[EscalationState, list[Action]]:
    """Apply ``event`` to ``state`` (see :func:`statuspage.domain.escalation.advance`)."""
    return escalation.advance(playbook, matrix, severity, state, event, incident=incident, render=render_text)


def simulate(
    playbook: Playbook,
    matrix: Matrix,
    severity: int,
    *,
    incident: IncidentView,
    start: datetime,
    ack_after: timedelta | None = None,
    ack_by: str | None = None,
    resolve_after: timedelta | None = None,
    until: timedelta | None = None,
    max_events: int = 10_000,
) -> list[SimulatedEvent]:
    """Run the machine under simulated time (see :func:`statuspage.domain.simulation.simulate`)."""
    return simulation.simulate(
        playbook,
        matrix,
        severity,
        incident=incident,
        render=render_text,
        start=start,
        ack_after=ack_after,
        ack_by=ack_by,
        resolve_after=resolve_after,
        until=until,
        max_events=max_events,
    )
