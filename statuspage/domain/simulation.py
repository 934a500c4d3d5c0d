"""The escalation state machine under simulated time (``incident playbook simulate``).

Timers fire when they fall due, an acknowledgement and a resolution happen when planned; nothing
is sent and nothing is stored. The machine is pure, so the timeline is exactly what a real
incident would do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from statuspage.domain.escalation import (
    Acknowledged,
    Action,
    CancelTimer,
    EscalationState,
    Event,
    IncidentView,
    Page,
    Resolved,
    ScheduleTimer,
    Started,
    TemplateRenderer,
    TimerFired,
    advance,
)
from statuspage.domain.matrix import Matrix
from statuspage.domain.notification_rules import is_rule_key
from statuspage.domain.playbook import Playbook

__all__ = ["SimulatedEvent", "simulate"]


@dataclass(frozen=True, slots=True)
class SimulatedEvent:
    """One event of a simulation and what the machine did with it."""

    at: datetime
    event: Event
    actions: tuple[Action, ...]
    state: EscalationState


def simulate(
    playbook: Playbook,
    matrix: Matrix,
    severity: int,
    *,
    incident: IncidentView,
    render: TemplateRenderer,
    start: datetime,
    ack_after: timedelta | None = None,
    ack_by: str | None = None,
    resolve_after: timedelta | None = None,
    until: timedelta | None = None,
    max_events: int = 10_000,
) -> list[SimulatedEvent]:
    """Run the machine under simulated time, firing timers when they fall due.

    An acknowledgement planned for the same instant as a timer goes first (an acknowledgement
    "within 15m" counts at 15m exactly), and a resolution after it. Without ``until`` the run
    ends once only reminders are left to fire. ``ack_by`` defaults to the first owner paged by
    the latest paging step.
    """
    state = EscalationState()
    timers: dict[str, tuple[datetime, int]] = {}
    sequence = 0
    log: list[SimulatedEvent] = []
    ack_at = None if ack_after is None else start + ack_after
    resolve_at = None if resolve_after is None else start + resolve_after
    end = None if until is None else start + until
    latest_pager: str | None = None

    def apply(event: Event, at: datetime) -> None:
        nonlocal state, sequence, latest_pager
        state, actions = advance(playbook, matrix, severity, state, event, incident=incident, render=render)
        first_page = next((a for a in actions if isinstance(a, Page)), None)
        if first_page is not None:
            latest_pager = first_page.owner
        for action in actions:
            if isinstance(action, ScheduleTimer):
                sequence += 1
                timers[action.key] = (action.due_at, sequence)
            elif isinstance(action, CancelTimer):
                timers.pop(action.key, None)
        log.append(SimulatedEvent(at, event, tuple(actions), state))

    apply(Started(start), start)
    while len(log) < max_events and not state.resolved:
        candidates: list[tuple[datetime, int, int, Event]] = []
        if ack_at is not None and not state.acknowledged:
            candidates.append((ack_at, 0, 0, Acknowledged(ack_by or latest_pager or "the commander", ack_at)))
        if resolve_at is not None:
            candidates.append((resolve_at, 1, 0, Resolved(resolve_at)))
        for key, (due, seq) in timers.items():
            candidates.append((due, 2, seq, TimerFired(key, due)))
        if not candidates:
            break
        if end is None and not any(c[1] < 2 or _is_ack_key(c[3]) for c in candidates):
            break  # only reminders left
        at, kind, _, event = min(candidates, key=lambda c: (c[0], c[1], c[2]))
        if end is not None and at > end:
            break
        if kind == 0:
            ack_at = None
        elif kind == 1:
            resolve_at = None
        else:
            assert isinstance(event, TimerFired)
            timers.pop(event.key, None)
        apply(event, at)
    return log


def _is_ack_key(event: Event) -> bool:
    """An acknowledgement deadline or a notification rule: a timer that pages, not a reminder."""
    return isinstance(event, TimerFired) and (event.key.startswith("ack:") or is_rule_key(event.key))
