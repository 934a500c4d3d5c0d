"""The escalation state machine: given a playbook, the frozen escalation matrix, a state and an
event, what happens next.

It is pure: no database, no network, no clock. The time comes in with each event, the result is
a new state and a list of :data:`Action` values for the engine to perform, in order, inside the
transaction that delivered the event. Being pure is what makes the hard guarantees cheap to keep:
the engine holds a row lock while it calls :func:`advance`, so an acknowledgement and a timer
firing at the same instant are simply two events applied one after the other, and the second
one sees the first one's state. The same inputs always give the same outputs, so a simulation
(``incident playbook simulate``) shows exactly what a real incident would do.

Timers are named by keys so that a late or duplicate firing is recognised and ignored: only the
timer the state is waiting on (``waiting_key``) or its current reminder (``reminder_key``) does
anything. Keys never repeat within one incident (``ack:<step>:<loop>``, where ``loop`` counts
every jump back and every re-attachment; ``remind:<n>`` counts on), because the timer table has
one row per incident and key.

The playbook and the matrix are the domain's frozen values (:mod:`statuspage.domain.playbook`,
:mod:`statuspage.domain.matrix`), events and actions live in
:mod:`statuspage.domain.escalation_actions`. The texts of ``post_update`` and ``slack`` steps
are templates; the machine renders them through the :class:`TemplateRenderer` it is given, so the
template language stays at the edge (:mod:`statuspage.playbooks.render`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from statuspage.domain.durations import Duration
from statuspage.domain.escalation_actions import (
    Acknowledged,
    Action,
    CancelTimer,
    Escalated,
    EscalateRequested,
    Event,
    Exhausted,
    NotifyChannel,
    Page,
    PageSkipped,
    PostUpdate,
    RemindCommander,
    Resolved,
    ScheduleTimer,
    SetComponent,
    SlackPost,
    Started,
    TimerFired,
)
from statuspage.domain.matrix import Matrix, MatrixOwner, MatrixTier
from statuspage.domain.notification_rules import CONTACT_RULE, fire_rule, page_by_rules, rule_keys_of
from statuspage.domain.playbook import (
    NotifyStep,
    Playbook,
    PostUpdateStep,
    RepeatStep,
    SetComponentStep,
    SlackStep,
    Step,
    WaitForAckStep,
    wall_clock,
)
from statuspage.domain.templating import IncidentView, TemplateRenderer, TemplateRenderError

__all__ = [
    "ACK_TIMEOUT",
    "CONTACT_RULE",
    "MANUAL",
    "REMINDER",
    "Acknowledged",
    "Action",
    "CancelTimer",
    "EscalateRequested",
    "Escalated",
    "EscalationState",
    "Event",
    "Exhausted",
    "IncidentView",
    "NotifyChannel",
    "Page",
    "PageSkipped",
    "PostUpdate",
    "RemindCommander",
    "Resolved",
    "ScheduleTimer",
    "SetComponent",
    "SlackPost",
    "Started",
    "TemplateRenderError",
    "TemplateRenderer",
    "TimerFired",
    "ack_key",
    "advance",
    "reminder_key",
]

ACK_TIMEOUT = "ack_timeout"
REMINDER = "reminder"
MANUAL = "manual"
# Validation guarantees a wait between a repeat and its target, so one event runs at most a few
# dozen steps; this only stops a hand-edited frozen copy from looping forever.
MAX_STEPS_PER_EVENT = 1000


# --- state ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EscalationState:
    """Where an incident's escalation is. Stored as JSON in ``EscalationRun.state``."""

    next_step: int = 0
    loops: dict[int, int] = field(default_factory=dict)  # repeat step index -> times taken
    paged_tiers: tuple[int, ...] = ()  # every tier paged so far, in the order first paged
    last_tier: int | None = None  # the tier whose acknowledge_within a default wait uses
    waiting_key: str | None = None  # the ack timer being waited on
    acknowledged: bool = False
    resolved: bool = False
    finished: bool = False  # ran out of steps
    reminder_key: str | None = None
    # Additions to the shared contract:
    started: bool = False  # a Started event has been applied (a second one re-attaches)
    loop: int = 0  # jumps back so far (repeats, re-attachments): keeps timer keys unique
    reminder_seq: int = 0  # n of the last remind:<n> scheduled
    acknowledged_by: str | None = None
    wait_timeout: str | None = None  # the length of the wait being waited on, for the escalation reason
    not_paging: str | None = None  # who is never paged for this incident: the person who declared it
    rule_seq: int = 0  # n of the last notification rule timer scheduled (rule:<n>:...)
    rule_keys: tuple[str, ...] = ()  # pending notification rule timers (statuspage.domain.notification_rules)

    def to_json(self) -> dict[str, Any]:
        return {
            "next_step": self.next_step,
            "loops": {str(k): v for k, v in sorted(self.loops.items())},
            "paged_tiers": list(self.paged_tiers),
            "last_tier": self.last_tier,
            "waiting_key": self.waiting_key,
            "acknowledged": self.acknowledged,
            "resolved": self.resolved,
            "finished": self.finished,
            "reminder_key": self.reminder_key,
            "started": self.started,
            "loop": self.loop,
            "reminder_seq": self.reminder_seq,
            "acknowledged_by": self.acknowledged_by,
            "wait_timeout": self.wait_timeout,
            **({"not_paging": self.not_paging} if self.not_paging is not None else {}),
            **({"rule_seq": self.rule_seq, "rule_keys": list(self.rule_keys)} if self.rule_seq else {}),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> EscalationState:
        """Read back :meth:`to_json`; an empty or missing document is the initial state."""
        if not data:
            return cls()
        return cls(
            next_step=int(data.get("next_step", 0)),
            loops={int(k): int(v) for k, v in (data.get("loops") or {}).items()},
            paged_tiers=tuple(int(t) for t in data.get("paged_tiers") or ()),
            last_tier=None if data.get("last_tier") is None else int(data["last_tier"]),
            waiting_key=data.get("waiting_key"),
            acknowledged=bool(data.get("acknowledged", False)),
            resolved=bool(data.get("resolved", False)),
            finished=bool(data.get("finished", False)),
            reminder_key=data.get("reminder_key"),
            started=bool(data.get("started", False)),
            loop=int(data.get("loop", 0)),
            reminder_seq=int(data.get("reminder_seq", 0)),
            acknowledged_by=data.get("acknowledged_by"),
            wait_timeout=data.get("wait_timeout"),
            not_paging=data.get("not_paging"),
            rule_seq=int(data.get("rule_seq", 0)),
            rule_keys=tuple(str(k) for k in data.get("rule_keys") or ()),
        )


# --- the machine ---------------------------------------------------------------------------


def same_person(a: str, b: str) -> bool:
    """Two names of one person: compared trimmed and case-insensitively ("ana ruiz " is Ana Ruiz)."""
    return a.strip().casefold() == b.strip().casefold()


def ack_key(step: int, loop: int) -> str:
    return f"ack:{step}:{loop}"


def reminder_key(n: int) -> str:
    return f"remind:{n}"


def advance(
    playbook: Playbook | Mapping[str, Any],
    matrix: Matrix | Mapping[str, Any],
    severity: int,
    state: EscalationState,
    event: Event,
    *,
    incident: IncidentView,
    render: TemplateRenderer,
) -> tuple[EscalationState, list[Action]]:
    """Apply ``event`` to ``state``: the new state, and the actions to perform in order.

    ``playbook`` and ``matrix`` are the frozen copies (objects, or their JSON as stored);
    ``render`` renders the texts of ``post_update`` and ``slack`` steps for ``incident``.
    Rules: Started runs steps until a ``wait_for_ack`` or the end. A timer whose key is not the
    one being waited on (stale, or already acknowledged) does nothing. An acknowledgement stops
    the paging program for good (only reminders and ``on_resolve`` remain). Resolution cancels
    every timer and runs ``on_resolve`` once; after it nothing ever happens again.
    """
    run = _Run(
        playbook if isinstance(playbook, Playbook) else Playbook.from_json(playbook),
        matrix if isinstance(matrix, Matrix) else Matrix.from_json(matrix),
        severity,
        incident,
        render,
        event.at,
    )
    if state.resolved:
        return state, []
    if isinstance(event, Started):
        if event.not_paging is not None:
            state = replace(state, not_paging=event.not_paging)
        return run.started(state, event.at)
    if isinstance(event, TimerFired):
        return run.timer_fired(state, event.key, event.at)
    if isinstance(event, Acknowledged):
        return run.acknowledged(state, event.by)
    if isinstance(event, Resolved):
        return run.resolved(state, event.at)
    if isinstance(event, EscalateRequested):
        return run.escalate(state, event.at, event.to_tier)
    raise TypeError(f"not an escalation event: {event!r}")


@dataclass
class _Run:
    playbook: Playbook
    matrix: Matrix
    severity: int
    incident: IncidentView
    render_template: TemplateRenderer
    at: datetime  # the event's time: when a notification rule's delay starts
    actions: list[Action] = field(default_factory=list)

    # -- events --

    def started(self, state: EscalationState, at: datetime) -> tuple[EscalationState, list[Action]]:
        if state.started:
            # Re-attached (the severity was raised, maybe to a new playbook): drop the old
            # program's timers and start the new one. The loop counter moves on so that no
            # timer key is reused. An acknowledgement stands: the service records only the
            # first one, so a program that needed a second could never be stopped.
            for key in (state.waiting_key, state.reminder_key, *state.rule_keys):
                if key:
                    self.actions.append(CancelTimer(key))
            state = replace(
                state,
                rule_keys=(),
                next_step=0,
                loops={},
                last_tier=None,
                waiting_key=None,
                wait_timeout=None,
                finished=False,
                reminder_key=None,
                loop=state.loop + 1,
            )
        state = replace(state, started=True)
        if not state.acknowledged:
            state = self.run_steps(state, at, reason=None)
        state = self.schedule_reminder(state, at)
        return state, self.actions

    def timer_fired(self, state: EscalationState, key: str, at: datetime) -> tuple[EscalationState, list[Action]]:
        if key == state.waiting_key and not state.acknowledged:
            timeout = state.wait_timeout or str(self.wait_length(state, int(key.split(":")[1])))
            reason = f"no acknowledgement within {timeout}"
            state = self.run_steps(replace(state, waiting_key=None, wait_timeout=None), at, reason=reason)
            return state, self.actions
        if key == state.reminder_key:
            every = self.playbook.remind_every_for(self.severity)
            self.actions.append(RemindCommander(due_at=at, update_every="" if every is None else str(every)))
            state = self.schedule_reminder(replace(state, reminder_key=None), at)
            return state, self.actions
        if key in state.rule_keys:
            # A notification rule's delay ran out (an acknowledgement cancels it; this is a guard).
            self.actions += [] if state.acknowledged else fire_rule(self.matrix, key)
            return replace(state, rule_keys=tuple(k for k in state.rule_keys if k != key)), self.actions
        return state, []  # stale: an old wait, an old reminder, or a duplicate delivery

    def acknowledged(self, state: EscalationState, by: str) -> tuple[EscalationState, list[Action]]:
        if state.acknowledged:
            return state, []
        for key in (state.waiting_key, *state.rule_keys):
            if key:
                self.actions.append(CancelTimer(key))
        state = replace(state, acknowledged=True, acknowledged_by=by, waiting_key=None, wait_timeout=None, rule_keys=())
        return state, self.actions

    def resolved(self, state: EscalationState, at: datetime) -> tuple[EscalationState, list[Action]]:
        for key in (state.waiting_key, state.reminder_key, *state.rule_keys):
            if key:
                self.actions.append(CancelTimer(key))
        for index, step in enumerate(self.playbook.on_resolve):
            self.run_plain_step(step, f"on_resolve[{index}]")
        state = replace(state, resolved=True, waiting_key=None, wait_timeout=None, reminder_key=None, rule_keys=())
        return state, self.actions

    def escalate(
        self, state: EscalationState, at: datetime, to_tier: int | None
    ) -> tuple[EscalationState, list[Action]]:
        target = self.matrix.tier(to_tier) if to_tier is not None else self.next_tier_above(state.last_tier)
        if target is None:
            return state, []  # no such tier, or nobody above the last one paged
        self.actions.append(Escalated(from_tier=state.last_tier, to_tier=target.level, reason=MANUAL))
        step_index = None if (state.acknowledged or state.finished) else self.notify_step_for(state, target.level)
        if step_index is not None:
            # Jump the program to the step that pages this tier, so it carries on from there
            # (its wait, the tiers after it) instead of paging the tier twice.
            if state.waiting_key:
                self.actions.append(CancelTimer(state.waiting_key))
            # Back to a step already run (a lower tier, or the one being waited on): a new pass,
            # so that its wait gets a timer key of its own.
            loop = state.loop + 1 if step_index < state.next_step else state.loop
            state = replace(state, waiting_key=None, wait_timeout=None, next_step=step_index, loop=loop)
            return self.run_steps(state, at, reason=None), self.actions
        # Acknowledged or out of steps: page the tier once; the program stays as it is.
        return self.page_tier(state, target, step=-1), self.actions

    # -- the program --

    def run_steps(self, state: EscalationState, at: datetime, *, reason: str | None) -> EscalationState:
        """Run steps from ``state.next_step`` until a wait (scheduled) or the end.

        ``reason`` is set when an acknowledgement timed out: the first paging step after it is
        reported as an escalation when it targets a higher tier than the one that stayed silent.
        """
        steps = self.playbook.steps
        for _ in range(MAX_STEPS_PER_EVENT):
            if state.next_step >= len(steps):
                break
            index = state.next_step
            step = steps[index]
            body = step.body
            if isinstance(body, NotifyStep):
                state = self.notify(state, index, body, reason)
                reason = None
                state = replace(state, next_step=index + 1)
            elif isinstance(body, WaitForAckStep):
                key = ack_key(index, state.loop)
                timeout = self.wait_length(state, index)
                state = replace(state, waiting_key=key, wait_timeout=str(timeout), next_step=index + 1)
                self.actions.append(ScheduleTimer(key, at + wall_clock(timeout), ACK_TIMEOUT))
                return state
            elif isinstance(body, RepeatStep):
                taken = state.loops.get(index, 0)
                if taken < body.times:
                    # Inner repeats start counting afresh on every pass of an outer one.
                    loops = {k: v for k, v in state.loops.items() if not body.from_step <= k < index}
                    loops[index] = taken + 1
                    state = replace(state, loops=loops, loop=state.loop + 1, next_step=body.from_step)
                else:
                    state = replace(state, next_step=index + 1)
            else:
                self.run_plain_step(step, f"steps[{index}]")
                state = replace(state, next_step=index + 1)
        state = replace(state, finished=True, next_step=len(steps))
        if not state.acknowledged and state.last_tier is not None:
            self.actions.append(Exhausted(paged_tiers=state.paged_tiers))
        return state

    def notify(self, state: EscalationState, index: int, body: NotifyStep, reason: str | None) -> EscalationState:
        if body.tier is not None:
            tier = self.matrix.tier(body.tier)
            if tier is None:
                self.warn(f"steps[{index}] pages tier {body.tier}, which is not in the escalation matrix")
                return state
            if reason is not None and state.last_tier is not None and tier.level > state.last_tier:
                self.actions.append(Escalated(from_tier=state.last_tier, to_tier=tier.level, reason=reason))
            return self.page_tier(state, tier, step=index)
        found = self.matrix.owner(body.owner or "")
        if found is None:
            self.warn(f"steps[{index}] pages {body.owner}, who is not in the escalation matrix")
            return state
        tier, owner = found
        if reason is not None and state.last_tier is not None and tier.level > state.last_tier:
            self.actions.append(Escalated(from_tier=state.last_tier, to_tier=tier.level, reason=reason))
        state = self.page_owner(owner, state, step=index, tier=None)
        return replace(state, last_tier=tier.level)

    def page_tier(self, state: EscalationState, tier: MatrixTier, *, step: int) -> EscalationState:
        for owner in tier.owners:
            state = self.page_owner(owner, state, step=step, tier=tier.level)
        for contact in tier.notify:
            self.actions.append(NotifyChannel(step, contact.address, tier.level, contact.kind))
        paged = state.paged_tiers if tier.level in state.paged_tiers else state.paged_tiers + (tier.level,)
        return replace(state, paged_tiers=paged, last_tier=tier.level)

    def page_owner(self, owner: MatrixOwner, state: EscalationState, *, step: int, tier: int | None) -> EscalationState:
        if state.not_paging is not None and same_person(owner.name, state.not_paging):
            self.actions.append(PageSkipped(step, state.loop, tier, owner.name))
            return state
        # A new page of the person replaces what their notification rules still had to send.
        superseded = rule_keys_of(state.rule_keys, owner.name)
        self.actions += [CancelTimer(key) for key in superseded]
        # Once acknowledged (a tier paged by hand) there is nobody to chase: the rules due at once only.
        at = None if state.acknowledged else self.at
        actions, keys, seq = page_by_rules(owner, step=step, loop=state.loop, tier=tier, at=at, seq=state.rule_seq)
        self.actions += actions
        pending = tuple(k for k in state.rule_keys if k not in superseded) + tuple(keys)
        return replace(state, rule_keys=pending, rule_seq=seq) if superseded or keys else state

    def run_plain_step(self, step: Step, where: str) -> None:
        body = step.body
        if isinstance(body, PostUpdateStep):
            text = self.render(body.template, where)
            if text is not None:
                self.actions.append(PostUpdate(status=body.status, body=text))
        elif isinstance(body, SetComponentStep):
            self.actions.append(SetComponent(component=body.component, status=str(body.status)))
        elif isinstance(body, SlackStep):
            text = self.render(body.template, where)
            if text is not None:
                self.actions.append(SlackPost(channel=body.channel, text=text))

    def render(self, template: str, where: str) -> str | None:
        try:
            return self.render_template(template, incident=self.incident, playbook=self.playbook.name)
        except TemplateRenderError as exc:
            # Validation rendered it with a sample incident, so this is rare; never post a
            # half-rendered text publicly, tell the responders in the incidents channel instead.
            self.warn(f"{where} could not render its template ({exc}); skipped")
            return None

    def warn(self, text: str) -> None:
        self.actions.append(SlackPost(channel=None, text=f"Playbook {self.playbook.name}: {text}."))

    def schedule_reminder(self, state: EscalationState, at: datetime) -> EscalationState:
        every = self.playbook.remind_every_for(self.severity)
        if every is None:
            return state
        n = state.reminder_seq + 1
        key = reminder_key(n)
        self.actions.append(ScheduleTimer(key, at + wall_clock(every), REMINDER))
        return replace(state, reminder_key=key, reminder_seq=n)

    # -- helpers --

    def wait_length(self, state: EscalationState, index: int) -> Duration:
        """How long the wait at step ``index`` lasts: its timeout, else the last paged tier's
        acknowledge_within at this severity."""
        body = self.playbook.steps[index].body
        if isinstance(body, WaitForAckStep) and body.timeout is not None:
            return body.timeout
        found = self.matrix.ack_within(state.last_tier, self.severity) if state.last_tier is not None else None
        if found is None:
            # Only reachable with a hand-edited frozen copy: validation requires a page first.
            lowest = min(self.matrix.tiers, key=lambda t: t.level, default=None)
            return lowest.ack_within(self.severity) if lowest else Duration(seconds=3600)
        return found

    def next_tier_above(self, level: int | None) -> MatrixTier | None:
        above = [t for t in self.matrix.tiers if level is None or t.level > level]
        return min(above, key=lambda t: t.level, default=None)

    def notify_step_for(self, state: EscalationState, level: int) -> int | None:
        """The step that pages tier ``level``: the next one from here, else the first anywhere."""
        steps = self.playbook.steps
        order = list(range(state.next_step, len(steps))) + list(range(0, min(state.next_step, len(steps))))
        for index in order:
            body = steps[index].body
            if isinstance(body, NotifyStep) and body.tier == level:
                return index
        return None
