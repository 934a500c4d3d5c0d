"""The escalation engine: runs an incident's playbook by feeding events to the pure state machine
(:mod:`statuspage.domain.escalation`) and performing the actions it returns.

Everything here happens inside the caller's write transaction (a declaration, an
acknowledgement, a resolution, a timer firing in the worker), under a row lock on the incident's
``EscalationRun``: ``SELECT … FOR UPDATE`` on PostgreSQL; on SQLite the write transaction's
``BEGIN`` plus the data-version bump already make writers take turns. So an acknowledgement and
an acknowledgement deadline arriving together are applied one after the other, the second seeing
the first's state, and exactly one of "escalated, then acknowledged" and "acknowledged, the
deadline did nothing" is what happened. The service functions lock the incident row before the
run row, and so does the timer handler, so the two locks are always taken in the same order.

What is frozen, and why: when a playbook is attached its validated JSON and the escalation
matrix in force are copied onto the run row. The machine reads only those copies, so editing a
playbook file or the configuration in the middle of an incident changes nothing for it: the
people already being paged keep being paged by the rules they were paged under. Raising the
severity attaches the new severity's playbook from that moment on the matrix frozen before (see
:mod:`statuspage.oncall.frozen`); the machine's ``Started`` event re-attaches, dropping the old
program's timers and keeping an acknowledgement that was given.

What the engine says, as audit events (the contract the Slack side reads; see the on-call spec):
``incident.playbook``, ``incident.page`` (with a ``PageSent`` row), ``incident.notify_channel``,
``incident.escalate``, ``incident.remind``, ``incident.escalation_exhausted``, ``incident.slack``.
Public updates and component changes a playbook asks for go through the incident service like any
other, so they keep its invariants and are audited by it.

Where the playbooks come from: the directory every context carries (:attr:`Wiring.playbooks_dir`,
:attr:`Settings.playbooks_dir` as the composition root sets it). At declaration time the playbooks are loaded *leniently*: a broken file is skipped and
logged rather than refusing the declaration, because an incident must be declarable even when
someone has just broken a playbook. A Sev-1 with no playbook still pages, through
:func:`builtin_playbook` (every tier in turn). ``incident watch`` and ``incident playbook
validate`` load them strictly and refuse to start on any problem.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import update
from sqlmodel import col, select

from statuspage.audit.actions import AuditAction
from statuspage.context import WriteContext, write
from statuspage.db.models import EscalationRun, Incident, PageSent, Timer
from statuspage.domain import escalation as machine
from statuspage.domain.matrix import Matrix
from statuspage.domain.playbook import Playbook
from statuspage.errors import Conflict, InvalidInput
from statuspage.oncall import delivery, timers
from statuspage.oncall.frozen import matrix_for_reattach
from statuspage.playbooks import PlaybookError, load_playbook_file, load_playbooks, playbook_for
from statuspage.playbooks.run import advance
from statuspage.playbooks.schema import playbook_from_data
from statuspage.settings import Config

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

BUILTIN_NAME = "builtin"
# The audit actions the engine writes: what a reader interested only in the incident's own story
# (the public timeline, webhook receivers) can leave out.
ONCALL_ACTIONS = frozenset(
    {
        AuditAction.INCIDENT_PLAYBOOK,
        AuditAction.INCIDENT_PAGE,
        AuditAction.INCIDENT_PAGE_SKIPPED,
        AuditAction.INCIDENT_NOTIFY_CHANNEL,
        AuditAction.INCIDENT_ESCALATE,
        AuditAction.INCIDENT_REMIND,
        AuditAction.INCIDENT_ESCALATION_EXHAUSTED,
        AuditAction.INCIDENT_SLACK,
        AuditAction.INCIDENT_PAGE_FAILED,
        # Not the engine's, but on-call's too: what became of a page, and its one-click link.
        AuditAction.INCIDENT_PAGE_DELIVERED,
        AuditAction.INCIDENT_ACK_LINK,
    }
)
# The severity that must always page, playbook file or not.
ALWAYS_PAGED = 1


# Where the playbooks are ---------------------------------------------------------------------

def load_strict(config: Config, directory: Path) -> dict[str, Playbook]:
    """Every playbook in ``directory``, checked as a set; raises :class:`PlaybookError` (with one
    line per problem) on any problem, including a Sev-1 without a playbook. For start-up checks."""
    return load_playbooks(directory, config)


def load_lenient(config: Config, directory: Path) -> tuple[dict[str, Playbook], list[str]]:
    """The playbooks in ``directory`` that load, and the problem lines of those that do not."""
    problems: list[str] = []
    loaded: dict[str, Playbook] = {}
    if not directory.is_dir():
        return loaded, [f"{directory}: no such directory of playbooks"]
    for path in sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml")):
        try:
            playbook = load_playbook_file(path, config)
        except PlaybookError as exc:
            problems += exc.lines
            continue
        loaded.setdefault(playbook.name, playbook)
    return loaded, problems


def builtin_playbook(config: Config) -> Playbook:
    """What a Sev-1 runs when no playbook file claims it: every tier of the matrix in turn, each
    given its acknowledge_within, with reminders at the severity's update_every."""
    steps: list[dict[str, Any]] = []
    for tier in sorted(config.escalation.tiers, key=lambda t: t.level):
        steps += [{"notify": {"tier": tier.level}}, {"wait_for_ack": {}}]
    reminders = {level: severity.update_every for level in config.severity_levels if (severity := config.severity(level))}
    return playbook_from_data(
        {
            "name": BUILTIN_NAME,
            "description": "Built in: no playbook file is chosen for this severity. Pages every tier in turn.",
            "severities": [ALWAYS_PAGED],
            "steps": steps,
            "reminders": reminders,
        }
    )


def choose_playbook(config: Config, directory: Path, severity: int, name: str | None = None) -> Playbook | None:
    """The playbook in ``directory`` to attach: ``name`` if given (an unknown name is refused),
    else the one chosen for ``severity``, else the built-in one for a Sev-1, else none."""
    playbooks, problems = load_lenient(config, directory)
    for line in problems:
        log.error("playbook problem (declaring anyway): %s", line)
    if name is not None:
        if name == BUILTIN_NAME:
            return builtin_playbook(config)
        if name not in playbooks:
            known = ", ".join(sorted(playbooks)) or "none could be loaded"
            raise InvalidInput(f"no playbook {name!r} (known: {known})", field="playbook")
        return playbooks[name]
    chosen = playbook_for(severity, playbooks)
    if chosen is None and severity == ALWAYS_PAGED:
        log.error("no playbook is chosen for sev%d; paging with the built-in escalation", severity)
        return builtin_playbook(config)
    return chosen


# What the engine asks of the incident service: a playbook's public steps (post an update, set a
# component's status) are changes to the incident like any other, made by the service that owns
# them. The service passes this function in with every event, so the engine needs no import of it.
Publish = Callable[[WriteContext, Incident, "machine.PostUpdate | machine.SetComponent", datetime], None]


# Events in -----------------------------------------------------------------------------------


def get_run(ctx: WriteContext, incident_id: int, *, lock: bool = True) -> EscalationRun | None:
    statement = select(EscalationRun).where(EscalationRun.incident_id == incident_id)
    if lock:
        statement = statement.with_for_update()
    return ctx.session.exec(statement.execution_options(populate_existing=True)).first()


def attach(
    ctx: WriteContext, incident: Incident, playbook: Playbook, *, at: datetime, publish: Publish, not_paging: str | None = None
) -> EscalationRun:
    """Freeze ``playbook`` and the current escalation matrix onto the incident and start it.

    A run already there (the severity was raised) is re-attached: the machine keeps its state
    (an acknowledgement stands, timer keys never repeat) and starts the new program on the matrix
    frozen when the run began (:func:`~statuspage.oncall.frozen.matrix_for_reattach`). A new run
    for an incident someone has already acknowledged starts acknowledged: it reminds, it does
    not page. ``not_paging`` names a person the run never pages (who declared the incident).
    """
    assert incident.id is not None
    run = get_run(ctx, incident.id)
    frozen_playbook = playbook.to_json()
    if run is None:
        # The matrix frozen at the declaration (a playbook attached later, by a raise, runs on it
        # too); the configuration's as it is now only for an incident declared before it was kept.
        if incident.escalation_matrix:
            matrix = matrix_for_reattach(incident.escalation_matrix, ctx.config.escalation, incident.severity)
        else:
            matrix = Matrix.from_escalation(ctx.config.escalation).to_json()
        acknowledged = incident.acknowledged_at is not None
        state = machine.EscalationState(acknowledged=acknowledged, acknowledged_by=incident.acknowledged_by)
        run = EscalationRun(
            incident_id=incident.id,
            playbook_name=playbook.name,
            severity=incident.severity,
            playbook=frozen_playbook,
            matrix=matrix,
            state=state.to_json(),
            version=0,
            started_at=at,
            updated_at=at,
        )
    else:
        run.playbook_name = playbook.name
        run.severity = incident.severity
        run.playbook = frozen_playbook
        run.matrix = matrix_for_reattach(run.matrix, ctx.config.escalation, incident.severity)
        run.updated_at = at
    ctx.session.add(run)
    ctx.session.flush()
    ctx.audit(
        action=AuditAction.INCIDENT_PLAYBOOK,
        subject_type="incident",
        subject_id=incident.id,
        at=at,
        after={"playbook": playbook.name, "severity": incident.severity},
    )
    _dispatch(ctx, incident, machine.Started(at, not_paging=not_paging), publish)
    return run


def acknowledge(ctx: WriteContext, incident: Incident, *, by: str, at: datetime, publish: Publish) -> int:
    """Stop the paging program and record the acknowledgement on every outstanding page.

    Returns how many pages it acknowledged. The incident row is locked by the caller.
    """
    assert incident.id is not None
    _dispatch(ctx, incident, machine.Acknowledged(by=by, at=at), publish)
    result = ctx.session.exec(
        update(PageSent)
        .where(col(PageSent.incident_id) == incident.id, col(PageSent.acknowledged_at).is_(None))
        .values(acknowledged_at=at, acknowledged_by=by)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)


def resolve(ctx: WriteContext, incident: Incident, *, at: datetime, publish: Publish) -> None:
    """Cancel every timer of the incident and run the playbook's ``on_resolve`` steps once.

    Called by the incident service *before* it marks the incident resolved, so that an
    ``on_resolve`` public update is still allowed and the resolution is the transaction's last
    word (webhook receivers are told ``incident.resolved``).
    """
    assert incident.id is not None
    _dispatch(ctx, incident, machine.Resolved(at), publish)
    timers.cancel_all(
        ctx.session, incident_id=incident.id, kinds=(machine.ACK_TIMEOUT, machine.REMINDER, machine.CONTACT_RULE)
    )


def reopen(ctx: WriteContext, incident: Incident, *, at: datetime, publish: Publish) -> None:
    """Start the frozen playbook again for a reopened incident.

    The machine ignores everything once resolved, by design; reopening is the one way back, so the
    engine clears the flag and feeds ``Started``, which re-attaches the same frozen program (new
    timer keys, an acknowledgement standing).
    """
    assert incident.id is not None
    run = get_run(ctx, incident.id)
    if run is None:
        return
    state = machine.EscalationState.from_json(run.state)
    if state.resolved:
        run.state = replace(state, resolved=False).to_json()
        ctx.session.add(run)
    _dispatch(ctx, incident, machine.Started(at), publish)


def escalate(ctx: WriteContext, incident: Incident, *, to_tier: int | None, at: datetime, publish: Publish) -> int:
    """Page a tier now: ``to_tier``, or the one above the last tier paged. Returns the tier paged."""
    assert incident.id is not None
    run = get_run(ctx, incident.id)
    if run is None:
        raise Conflict(
            f"incident {incident.id} has no playbook running (sev{incident.severity} has none); "
            f"raise its severity (incident severity {incident.id} N) or declare with --playbook"
        )
    matrix = Matrix.from_json(run.matrix)
    levels = sorted(t.level for t in matrix.tiers)
    state = machine.EscalationState.from_json(run.state)
    if to_tier is not None:
        if matrix.tier(to_tier) is None:
            known = ", ".join(str(level) for level in levels)
            raise InvalidInput(f"no escalation tier {to_tier} (known: {known})", field="to_tier")
        target = to_tier
    else:
        above = [level for level in levels if state.last_tier is None or level > state.last_tier]
        if not above:
            raise Conflict(f"tier {state.last_tier} is the highest tier; give --to-tier to page a tier again")
        target = above[0]
    _dispatch(ctx, incident, machine.EscalateRequested(at=at, by=ctx.actor.name, to_tier=target), publish)
    return target


def on_timer(ctx: WriteContext, incident: Incident, timer: Timer, *, publish: Publish) -> None:
    """An acknowledgement deadline, reminder or notification rule of ``incident`` fell due (the
    incident service's timer handler calls this with the incident row locked)."""
    _dispatch(ctx, incident, machine.TimerFired(key=timer.key, at=ctx.now()), publish)


# Actions out ---------------------------------------------------------------------------------


@dataclass
class _Busy:
    """Events that arrived for an incident while its actions were being performed (a playbook's
    public update reaches the incident service, which could report back), run after them."""

    queue: list[machine.Event]


def _dispatch(ctx: WriteContext, incident: Incident, event: machine.Event, publish: Publish) -> None:
    assert incident.id is not None
    busy: dict[int, _Busy] = ctx.session.info.setdefault("oncall_busy", {})
    if incident.id in busy:
        busy[incident.id].queue.append(event)
        return
    busy[incident.id] = entry = _Busy([event])
    try:
        while entry.queue:
            _apply(ctx, incident, entry.queue.pop(0), publish)
    finally:
        del busy[incident.id]


def _apply(ctx: WriteContext, incident: Incident, event: machine.Event, publish: Publish) -> None:
    assert incident.id is not None
    run = get_run(ctx, incident.id)
    if run is None:
        return  # no playbook for this incident: nothing to run
    view = machine.IncidentView(
        id=incident.id,
        title=incident.title,
        severity=incident.severity,
        status=incident.status,
        commander=incident.commander,
        url=ctx.config.incident_url(incident.id),
    )
    state = machine.EscalationState.from_json(run.state)
    new_state, actions = advance(run.playbook, run.matrix, run.severity, state, event, incident=view)
    if not actions and new_state == state:
        return
    # Everything the event causes is dated with the event: a resolution given "--at 10m ago" runs
    # its on_resolve steps at that moment, not at the moment the command was typed.
    run.state = new_state.to_json()
    run.version += 1
    run.updated_at = event.at
    ctx.session.add(run)
    for action in actions:
        _perform(ctx, incident, run, action, event.at, publish)


@write
def report_failed_page(
    *,
    ctx: WriteContext,
    incident_id: int,
    owner: str,
    contact_kind: str,
    contact: str,
    tier: int | None,
    error: str,
    page_id: int | None = None,
) -> list[str]:
    """Record that a page can never reach ``owner`` through ``contact`` (the outbox gave up on
    it), and tell the people who can act: the incident's timeline and Slack thread, and the
    paged tier's own channels other than the one that failed. The page's row (``page_id``)
    reads ``failed`` with the provider's answer. Returns where it was told."""
    incident = ctx.session.get(Incident, incident_id)
    if incident is None:
        return []
    if page_id is not None:
        delivery.mark_failed(ctx, page_id, error)
    matrix_tier = ctx.config.escalation.tier(tier) if tier is not None else None
    channels = [
        c.address
        for c in (matrix_tier.notify if matrix_tier is not None else ())
        if c.slack_channel and c.address != contact
    ]
    ctx.audit(
        action=AuditAction.INCIDENT_PAGE_FAILED,
        subject_type="incident",
        subject_id=incident_id,
        at=ctx.now(),
        after={
            "owner": owner,
            "contact_kind": contact_kind,
            "contact": contact,
            "tier": tier,
            "error": error,
            "channels": channels,
            "delivery": {"state": delivery.FAILED, "error": error, **({"page_id": page_id} if page_id else {})},
        },
    )
    return [*channels, "the incident's Slack thread"] if ctx.config.slack.enabled else channels


def _perform(
    ctx: WriteContext, incident: Incident, run: EscalationRun, action: machine.Action, at: datetime, publish: Publish
) -> None:
    assert incident.id is not None
    session = ctx.session

    def audit(action_name: AuditAction, after: Mapping[str, Any]) -> None:
        ctx.audit(action=action_name, subject_type="incident", subject_id=incident.id or 0, at=at, after=dict(after))

    if isinstance(action, machine.Page):
        # A contact no channel carries (a phone) is recorded as not sent, never as paged.
        state, why = delivery.initial_state(action.contact_kind, ctx.config)
        session.add(
            PageSent(
                incident_id=incident.id,
                step=action.step,
                loop=action.loop,
                tier=action.tier,
                owner=action.owner,
                contact_kind=action.contact_kind,
                contact=action.contact,
                paged_at=at,
                delivery_state=state,
                delivery_error=why,
            )
        )
        audit(
            AuditAction.INCIDENT_PAGE,
            {
                "step": action.step,
                "loop": action.loop,
                "tier": action.tier,
                "owner": action.owner,
                "contact_kind": action.contact_kind,
                "contact": action.contact,
                **({"by_rule": action.by_rule} if action.by_rule else {}),
            },
        )
    elif isinstance(action, machine.PageSkipped):
        audit(AuditAction.INCIDENT_PAGE_SKIPPED, {"step": action.step, "loop": action.loop, "tier": action.tier, "owner": action.owner})
    elif isinstance(action, machine.NotifyChannel):
        audit(AuditAction.INCIDENT_NOTIFY_CHANNEL, {"step": action.step, "tier": action.tier, "channel": action.channel})
    elif isinstance(action, machine.ScheduleTimer):
        timers.schedule(
            session,
            incident_id=incident.id,
            kind=action.kind,
            key=action.key,
            due_at=action.due_at,
            now=at,
            payload={"playbook": run.playbook_name},
        )
    elif isinstance(action, machine.CancelTimer):
        timers.cancel(session, incident_id=incident.id, key=action.key)
    elif isinstance(action, machine.Escalated):
        audit(AuditAction.INCIDENT_ESCALATE, {"from_tier": action.from_tier, "to_tier": action.to_tier, "reason": action.reason})
    elif isinstance(action, machine.PostUpdate | machine.SetComponent):
        publish(ctx, incident, action, at)
    elif isinstance(action, machine.SlackPost):
        audit(AuditAction.INCIDENT_SLACK, {"channel": action.channel, "text": action.text})
    elif isinstance(action, machine.RemindCommander):
        audit(AuditAction.INCIDENT_REMIND, {"commander": incident.commander, "update_every": action.update_every})
    elif isinstance(action, machine.Exhausted):
        audit(AuditAction.INCIDENT_ESCALATION_EXHAUSTED, {"paged_tiers": list(action.paged_tiers)})
    else:  # pragma: no cover - a new action kind the engine does not know yet
        raise TypeError(f"the engine cannot perform {action!r}")


__all__ = [
    "BUILTIN_NAME",
    "ONCALL_ACTIONS",
    "acknowledge",
    "attach",
    "builtin_playbook",
    "choose_playbook",
    "escalate",
    "get_run",
    "load_lenient",
    "load_strict",
    "on_timer",
    "reopen",
    "report_failed_page",
    "resolve",
]
