"""``incident``: declare, update and resolve incidents from a terminal.

The commands work on the database directly (the default), or, given ``--server URL`` (or
``$STATUSPAGE_URL``) and a token, through the admin API of a running status page. Either way they
call one :class:`Backend`, so each command is written once and prints the same thing.

Exit status: 0 done; 2 the request was refused (bad input, unknown id, a conflict, and in remote
mode any 4xx answer, a bad token included); 1 something needed is unavailable (the database, or in
remote mode the server: unreachable, timed out, or a 5xx answer).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

import click
from rich.table import Table
from rich.text import Text
from sqlalchemy import func
from sqlmodel import col, select

from incident_cli.playbook_cmds import playbook
from incident_cli.postmortem_cmds import action, postmortem
from incident_cli.render import Renderer, console
from incident_cli.report_cmds import report
from statuspage import validators
from statuspage.clickutil import Checked, OneLineErrors
from statuspage.components import service as components_service
from statuspage.context import Actor
from statuspage.db.models import (
    AuditEvent,
    Component,
    Incident,
    IncidentComponent,
    IncidentUpdate,
    Maintenance,
    MaintenanceUpdate,
    Page,
    Timer,
)
from statuspage.domain.durations import describe_seconds
from statuspage.domain.enums import Source
from statuspage.domain.sla import IncidentEvaluation
from statuspage.errors import InvalidInput, UserError
from statuspage.ids import parse_id
from statuspage.incidents import service as incidents
from statuspage.incidents import sla as incident_sla
from statuspage.maintenance import service as maintenance_service
from statuspage.oncall import engine as oncall
from statuspage.oncall import timers as oncall_timers
from statuspage.playbooks import PlaybookError
from statuspage.postmortems import service as postmortems
from statuspage.runtime import Runtime, default_actor_name, open_runtime, parse_when
from statuspage.settings import ConfigError
from statuspage.tokens import service as tokens
from statuspage.web.v2 import V2Builder

JSON = dict[str, Any]
# What ``show`` prints: the incident, its timeline, its components (held at, shown now), its audit events.
IncidentDetail = tuple[Incident, Sequence[IncidentUpdate], Sequence[tuple[IncidentComponent, Component]], Sequence[AuditEvent]]


class Backend(Protocol):
    """What the commands need from the status page, wherever it runs.

    Results are the database models (detached, or rebuilt from the API's JSON) so that one
    :class:`~incident_cli.render.Renderer` prints both. Times given as text are parsed by the
    command with :meth:`now` and :attr:`time_zone` (the page's), so both backends read '15m ago'
    and naive ISO times alike.
    """

    @property
    def time_zone(self) -> str: ...

    def now(self) -> datetime: ...

    def incident_url(self, incident_id: int) -> str: ...

    def declare(
        self,
        *,
        severity: str,
        title: str,
        components: dict[str, str | None],
        message: str | None,
        commander: str | None,
        detected_at: datetime | None,
        impact: str | None,
        playbook: str | None = None,
    ) -> Incident: ...

    def post_update(
        self,
        *,
        incident_id: str,
        message: str | None,
        status: str | None,
        components: dict[str, str | None],
        at: datetime | None,
    ) -> IncidentUpdate: ...

    def resolve(self, *, incident_id: str, message: str | None, at: datetime | None) -> IncidentUpdate: ...

    def reopen(self, *, incident_id: str, message: str | None, status: str) -> IncidentUpdate: ...

    def acknowledge(self, *, incident_id: str, by: str) -> tuple[Incident, bool]: ...

    def hand_over(self, *, incident_id: str, to: str) -> Incident: ...

    def pause_sla(self, *, incident_id: str, reason: str) -> Incident: ...

    def resume_sla(self, *, incident_id: str) -> Incident: ...

    def record_root_cause(self, *, incident_id: str, root_cause: str | None, remediation: str | None) -> Incident: ...

    def list_incidents(self, *, open_only: bool, limit: int) -> Sequence[Incident]: ...

    def incidents_json(self, *, open_only: bool, limit: int) -> list[JSON]: ...

    def incident_json(self, incident_id: str | int) -> JSON: ...

    def incident_detail(self, incident_id: str) -> IncidentDetail: ...

    def sla_evaluation(self, incident: Incident) -> IncidentEvaluation | None:
        """The incident against its severity's targets as of now; ``None`` when unknown."""
        ...

    def list_components(self) -> Sequence[Component]: ...

    def set_component_status(self, *, component_id: str, status: str) -> list[dict[str, str]]: ...

    def schedule_maintenance(
        self,
        *,
        title: str,
        components: list[str],
        scheduled_for: datetime,
        scheduled_until: datetime,
        message: str | None,
    ) -> Maintenance: ...

    def set_maintenance_status(self, *, maintenance_id: str, status: str, message: str | None) -> MaintenanceUpdate: ...

    def close(self) -> None: ...


class LocalBackend:
    """The database named by the configuration, through the service layer; one session per call."""

    def __init__(self, state: State) -> None:
        self.state = state

    @property
    def runtime(self) -> Runtime:
        return self.state.runtime

    @property
    def time_zone(self) -> str:
        return self.runtime.settings.config.page.time_zone

    def now(self) -> datetime:
        return self.runtime.clock.now()

    def incident_url(self, incident_id: int) -> str:
        return self.runtime.settings.incident_url(incident_id)

    def declare(
        self,
        *,
        severity: str,
        title: str,
        components: dict[str, str | None],
        message: str | None,
        commander: str | None,
        detected_at: datetime | None,
        impact: str | None,
        playbook: str | None = None,
    ) -> Incident:
        with self.runtime.session() as session:
            return incidents.declare(
                ctx=self.runtime.context(session, self.state.actor),
                severity=severity,
                title=title,
                components=components,
                message=message,
                commander=commander,
                detected_at=detected_at,
                impact=impact,
                playbook=playbook,
            )

    def post_update(
        self,
        *,
        incident_id: str,
        message: str | None,
        status: str | None,
        components: dict[str, str | None],
        at: datetime | None,
    ) -> IncidentUpdate:
        with self.runtime.session() as session:
            return incidents.post_update(
                ctx=self.runtime.context(session, self.state.actor),
                incident_id=incident_id,
                message=message,
                status=status,
                components=components,
                at=at,
            )

    def resolve(self, *, incident_id: str, message: str | None, at: datetime | None) -> IncidentUpdate:
        with self.runtime.session() as session:
            ctx = self.runtime.context(session, self.state.actor)
            return incidents.resolve(ctx=ctx, incident_id=incident_id, message=message, at=at)

    def reopen(self, *, incident_id: str, message: str | None, status: str) -> IncidentUpdate:
        with self.runtime.session() as session:
            ctx = self.runtime.context(session, self.state.actor)
            return incidents.reopen(ctx=ctx, incident_id=incident_id, message=message, status=status)

    def acknowledge(self, *, incident_id: str, by: str) -> tuple[Incident, bool]:
        with self.runtime.session() as session:
            return incidents.acknowledge(ctx=self.runtime.context(session, self.state.actor), incident_id=incident_id, by=by)

    def hand_over(self, *, incident_id: str, to: str) -> Incident:
        with self.runtime.session() as session:
            return incidents.hand_over(ctx=self.runtime.context(session, self.state.actor), incident_id=incident_id, to=to)

    def pause_sla(self, *, incident_id: str, reason: str) -> Incident:
        with self.runtime.session() as session:
            return incidents.pause_sla(ctx=self.runtime.context(session, self.state.actor), incident_id=incident_id, reason=reason)

    def resume_sla(self, *, incident_id: str) -> Incident:
        with self.runtime.session() as session:
            return incidents.resume_sla(ctx=self.runtime.context(session, self.state.actor), incident_id=incident_id)

    def record_root_cause(self, *, incident_id: str, root_cause: str | None, remediation: str | None) -> Incident:
        with self.runtime.session() as session:
            ctx = self.runtime.context(session, self.state.actor)
            return incidents.record_root_cause(ctx=ctx, incident_id=incident_id, root_cause=root_cause, remediation=remediation)

    def list_incidents(self, *, open_only: bool, limit: int) -> Sequence[Incident]:
        with self.runtime.session() as session:
            return list(incidents.list_incidents(session=session, open_only=open_only, limit=limit))

    def incidents_json(self, *, open_only: bool, limit: int) -> list[JSON]:
        with self.runtime.session() as session:
            rows = incidents.list_incidents(session=session, open_only=open_only, limit=limit)
            return V2Builder(session, self.runtime.settings.config).incidents_json(rows)

    def incident_json(self, incident_id: str | int) -> JSON:
        with self.runtime.session() as session:
            incident = incidents.get(session=session, incident_id=incident_id)
            (data,) = V2Builder(session, self.runtime.settings.config).incidents_json([incident])
            return data

    def incident_detail(self, incident_id: str) -> IncidentDetail:
        with self.runtime.session() as session:
            incident = incidents.get(session=session, incident_id=incident_id)
            key = incident.id or 0
            events = session.exec(
                select(AuditEvent)
                .where(AuditEvent.subject_type == "incident", AuditEvent.subject_id == str(key))
                .order_by(col(AuditEvent.at), col(AuditEvent.id))
            ).all()
            updates = incidents.timeline(session=session, incident_id=key)
            affected = incidents.affected_components(session=session, incident_id=key)
            return incident, list(updates), list(affected), list(events)

    def sla_evaluation(self, incident: Incident) -> IncidentEvaluation | None:
        config = self.runtime.settings.config
        return incident_sla.measure(incident, config, incident_sla.calendar_for(config), self.now())

    def list_components(self) -> Sequence[Component]:
        with self.runtime.session() as session:
            return list(components_service.list_components(session=session))

    def set_component_status(self, *, component_id: str, status: str) -> list[dict[str, str]]:
        with self.runtime.session() as session:
            ctx = self.runtime.context(session, self.state.actor)
            return components_service.set_status(ctx=ctx, component_id=component_id, status=status)

    def schedule_maintenance(
        self,
        *,
        title: str,
        components: list[str],
        scheduled_for: datetime,
        scheduled_until: datetime,
        message: str | None,
    ) -> Maintenance:
        with self.runtime.session() as session:
            return maintenance_service.schedule(
                ctx=self.runtime.context(session, self.state.actor),
                title=title,
                components=components,
                scheduled_for=scheduled_for,
                scheduled_until=scheduled_until,
                message=message,
            )

    def set_maintenance_status(self, *, maintenance_id: str, status: str, message: str | None) -> MaintenanceUpdate:
        with self.runtime.session() as session:
            ctx = self.runtime.context(session, self.state.actor)
            return maintenance_service.set_status(ctx=ctx, maintenance_id=maintenance_id, status=status, message=message)

    def close(self) -> None:
        self.state.close_runtime()


class State:
    def __init__(self, config_path: str | None, actor_name: str | None, server: str | None = None, token: str | None = None) -> None:
        self.config_path = config_path
        # --as is checked as it is read (see NAME); the person's name is kept without surrounding space.
        self.actor = Actor(actor_name.strip() if actor_name else default_actor_name(), Source.CLI)
        self.server = server or None
        self.token = token or None
        self._runtime: Runtime | None = None
        self._backend: Backend | None = None

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = open_runtime(self.config_path)
            oncall.use_settings(self._runtime.settings)
        return self._runtime

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            if self.server is None:
                self._backend = LocalBackend(self)
            else:
                if self.token is None:
                    raise UserError("--server needs a token: set STATUSPAGE_TOKEN or give --token (make one with: incident token create)")
                # Imported here: local commands need not load the HTTP client.
                from incident_cli.remote import RemoteBackend

                self._backend = RemoteBackend(self.server, self.token, user=self.actor.name)
        return self._backend

    def local_runtime(self, command: str) -> Runtime:
        """The database, for commands that only make sense on it (tokens are made where the data is)."""
        if self.server is not None:
            raise UserError(f"{command} works on the database directly, not through --server; run it without --server or $STATUSPAGE_URL")
        return self.runtime

    def close_runtime(self) -> None:
        if self._runtime is not None:
            self._runtime.engine.dispose()

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
        self.close_runtime()

    @property
    def renderer(self) -> Renderer:
        return Renderer(self.backend.time_zone)

    def when(self, text: str | None, field: str) -> datetime | None:
        """A time option, read in the page's time zone against the backend's clock."""
        if not text:
            return None
        backend = self.backend
        return parse_when(text, now=backend.now(), zone=backend.time_zone, field=field)


pass_state = click.make_pass_decorator(State)
# What people type, checked by the rules the service layer and the admin API apply, as the command
# line is read: refused in the same words before any request is sent or anything is written.
NAME = Checked(validators.person_name)
TITLE = Checked(validators.title)
TEXT = Checked(validators.free_text)
REASON = Checked(functools.partial(validators.free_text, limit=incidents.MAX_REASON, required=True))


def parse_components(values: Sequence[str]) -> dict[str, str | None]:
    """``api`` or ``api=partial_outage``, possibly comma-separated."""
    result: dict[str, str | None] = {}
    for value in values:
        for part in filter(None, (p.strip() for p in value.split(","))):
            name, _, status = part.partition("=")
            result[name.strip()] = status.strip() or None
    return result


@click.group(
    name="incident",
    cls=OneLineErrors,
    help="Declare, update and resolve incidents.\n\n"
    "With --server (or $STATUSPAGE_URL) and a token ($STATUSPAGE_TOKEN) the commands go through the admin API "
    "of a running status page instead of the database. Exit status: 2 when the request is refused (bad input, "
    "unknown id, a 4xx answer), 1 when the database or server cannot be reached.",
)
@click.option("--config", "config_path", envvar="STATUSPAGE_CONFIG", type=click.Path(dir_okay=False), help="Configuration file (default: $STATUSPAGE_CONFIG or ./statuspage.yaml).")
@click.option("--as", "actor_name", envvar="INCIDENT_USER", type=NAME, help="Who you are, for the timeline and the audit log (default: $INCIDENT_USER or your login).")
@click.option("--server", envvar="STATUSPAGE_URL", metavar="URL", help="Work through the admin API of this status page, e.g. https://status.example.com (default: $STATUSPAGE_URL).")
@click.option("--token", envvar="STATUSPAGE_TOKEN", help="Admin API token for --server (default: $STATUSPAGE_TOKEN; prefer the variable, options show in process lists).")
@click.version_option(package_name="statuspage")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, actor_name: str | None, server: str | None, token: str | None) -> None:
    ctx.obj = State(config_path, actor_name, server, token)
    ctx.call_on_close(ctx.obj.close)


@main.command(help="Declare an incident: it is on the status page at once.")
@click.option("--severity", "-s", required=True, help="1-4 (also sev1, P1).")
@click.option("--title", "-t", required=True, type=TITLE, help="What customers see, e.g. 'Checkout failing'.")
@click.option("--component", "-c", "components", multiple=True, required=True, metavar="ID[=STATUS]", help="An affected component; repeat for more. STATUS defaults to what the severity implies.")
@click.option("--message", "-m", type=TEXT, help="The first public update (default: a standard 'investigating' text).")
@click.option("--commander", type=NAME, help="Incident commander (default: you).")
@click.option("--detected-at", help="When the problem began: '12m ago' or 2026-11-25T03:02 (default: now).")
@click.option("--impact", type=click.Choice(["none", "minor", "major", "critical"]), help="Override the impact the severity implies.")
@click.option("--playbook", metavar="NAME", help="Run this playbook instead of the one chosen for the severity (see: incident playbook validate).")
@click.option("--json", "as_json", is_flag=True, help="Print the incident as Statuspage v2 JSON.")
@pass_state
def declare(state: State, severity: str, title: str, components: tuple[str, ...], message: str | None, commander: str | None, detected_at: str | None, impact: str | None, playbook: str | None, as_json: bool) -> None:
    backend = state.backend
    extra: dict[str, Any] = {}
    if playbook is not None:
        state.local_runtime("incident declare --playbook")
        extra["playbook"] = playbook
    local = state.server is None
    if local:
        _warn_playbook_problems(state.runtime)
    mark = _last_page_id(state.runtime) if local else 0
    incident = backend.declare(
        severity=severity,
        title=title,
        components=parse_components(components),
        message=message,
        commander=commander,
        detected_at=state.when(detected_at, "detected-at"),
        impact=impact,
        **extra,
    )
    if as_json:
        _print_json(backend.incident_json(incident.id or 0))
    else:
        out = console()
        out.print(f"Declared incident {incident.id} (sev{incident.severity}, impact {incident.impact}): ", end="")
        out.print(incident.title, markup=False)
        out.print(backend.incident_url(incident.id or 0), markup=False)
    if local:
        # On stderr: stdout stays the two lines (or the JSON) scripts read.
        _say_paging(state, incident.id or 0, mark, err=True)


@main.command(help="Post an update to the public timeline; optionally change status or components.")
@click.argument("incident_id")
@click.option("--status", type=click.Choice(["investigating", "identified", "monitoring", "resolved"]), help="New incident status.")
@click.option("--message", "-m", type=TEXT, help="What customers read (required unless --status is given).")
@click.option("--component", "-c", "components", multiple=True, metavar="ID[=STATUS]", help="Mark a component; repeat for more.")
@click.option("--at", "at", help="When it happened, if not now: '5m ago' or an ISO time.")
@pass_state
def update(state: State, incident_id: str, status: str | None, message: str | None, components: tuple[str, ...], at: str | None) -> None:
    if not (status or message or components):
        raise InvalidInput("give --message, --status or --component")
    result = state.backend.post_update(
        incident_id=incident_id,
        message=message,
        status=status,
        components=parse_components(components),
        at=state.when(at, "at"),
    )
    _say_update(state, result.incident_id, result.status, result.affected_components)


@main.command(help="Resolve an incident; its components return to normal unless another incident holds them.")
@click.argument("incident_id")
@click.option("--message", "-m", type=TEXT, help="The closing update (default: 'This incident has been resolved.').")
@click.option("--at", "at", help="When it was resolved, if not now.")
@pass_state
def resolve(state: State, incident_id: str, message: str | None, at: str | None) -> None:
    result = state.backend.resolve(incident_id=incident_id, message=message, at=state.when(at, "at"))
    _say_update(state, result.incident_id, result.status, result.affected_components)


@main.command(help="Reopen a resolved incident.")
@click.argument("incident_id")
@click.option("--message", "-m", type=TEXT, help="Why it is open again.")
@click.option("--status", default="investigating", show_default=True, type=click.Choice(["investigating", "identified", "monitoring"]))
@pass_state
def reopen(state: State, incident_id: str, message: str | None, status: str) -> None:
    result = state.backend.reopen(incident_id=incident_id, message=message, status=status)
    _say_update(state, result.incident_id, result.status, result.affected_components)


@main.command(help="Acknowledge an incident: you have it. Paging stops, and your acknowledgement is recorded on the outstanding pages.")
@click.argument("incident_id")
@click.option("--as", "as_name", metavar="NAME", type=NAME, help="Who takes it (default: you, as given to incident --as or $INCIDENT_USER).")
@pass_state
def ack(state: State, incident_id: str, as_name: str | None) -> None:
    incident, changed = state.backend.acknowledge(incident_id=incident_id, by=as_name or state.actor.name)
    when = state.renderer.time(incident.acknowledged_at)
    if changed:
        click.echo(f"Incident {incident.id} acknowledged by {incident.acknowledged_by} at {when}")
    else:
        click.echo(f"Incident {incident.id} was already acknowledged by {incident.acknowledged_by} at {when}")


@main.command(help="Page the next tier now instead of waiting for the acknowledgement deadline (or --to-tier N).")
@click.argument("incident_id")
@click.option("--to-tier", type=click.IntRange(1, 9), metavar="N", help="Page this tier (default: the one above the last tier paged).")
@pass_state
def escalate(state: State, incident_id: str, to_tier: int | None) -> None:
    runtime = state.local_runtime("incident escalate")
    mark = _last_page_id(runtime)
    with runtime.session() as session:
        tier = incidents.escalate(ctx=runtime.context(session, state.actor), incident_id=incident_id, to_tier=to_tier)
    key = _incident_key(incident_id)
    click.echo(f"Incident {key} escalated to tier {tier}")
    _say_paging(state, key, mark)


@main.command(help="Change an incident's severity, e.g. 'incident severity 12 1'. Raising it starts the new severity's playbook.")
@click.argument("incident_id")
@click.argument("severity")
@pass_state
def severity(state: State, incident_id: str, severity: str) -> None:
    runtime = state.local_runtime("incident severity")
    mark = _last_page_id(runtime)
    with runtime.session() as session:
        incident = incidents.change_severity(ctx=runtime.context(session, state.actor), incident_id=incident_id, severity=severity)
        change = session.exec(
            select(AuditEvent)
            .where(AuditEvent.subject_type == "incident", AuditEvent.subject_id == str(incident.id), AuditEvent.action == "incident.severity")
            .order_by(col(AuditEvent.id).desc())
        ).first()
    after = (change.after if change else None) or {}
    attached = f"; playbook {after['playbook']} runs from now" if after.get("playbook") else ""
    click.echo(f"Incident {incident.id} is now sev{incident.severity} (was sev{after.get('from')}, impact {incident.impact}){attached}")
    _say_paging(state, incident.id or 0, mark)


@main.command(help="Fire escalation deadlines and reminders when they fall due, and deliver outgoing messages (Slack, "
              "webhooks), until SIGTERM or Ctrl-C. Prints a line for every page, escalation and reminder.")
@click.option("--once", is_flag=True, help="Do what is due now, then exit.")
@click.option("--poll-interval", default=1.0, show_default=True, type=click.FloatRange(0.05, 60), help="Seconds between polls when idle.")
@click.option("--lease", default=oncall_timers.DEFAULT_LEASE.total_seconds(), show_default=True, type=click.FloatRange(1, 3600),
              help="Seconds a worker holds the timers and messages it claims (renewed while it works on them); "
              "a worker that dies delays them at most this long.")
@pass_state
def watch(state: State, once: bool, poll_interval: float, lease: float) -> None:
    import signal
    import threading

    from statuspage.oncall import worker

    runtime = state.local_runtime("incident watch")
    try:
        # Refuse to start with a broken playbook, or a Sev-1 without one: better now than at 3 a.m.
        oncall.load_strict(runtime.settings.config)
    except PlaybookError as exc:
        raise ConfigError(exc.lines) from None
    zone = state.renderer.zone
    stop = threading.Event()
    previous: dict[int, Any] = {}

    def request_stop(_signum: int, _frame: object) -> None:
        # Finish the timer or message in hand, give back the rest of the batch, then exit 0.
        stop.set()

    def say(line: str) -> None:
        click.echo(f"{runtime.clock.now().astimezone(zone):%H:%M:%S}  {line}")
        sys.stdout.flush()

    senders = runtime.senders()
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous[signum] = signal.signal(signum, request_stop)
    try:
        if not once:
            click.echo(f"Watching for due escalations and reminders in {runtime.settings.config.page.name}'s incidents; stop with Ctrl-C or SIGTERM.", err=True)
        totals = worker.run_watch(
            runtime,
            stop=stop,
            once=once,
            senders=senders,
            poll_interval=poll_interval,
            lease=timedelta(seconds=lease),
            say=say,
        )
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for sender in senders.values():
            sender.close()
    click.echo(str(totals))


@main.command(help="Hand over command of an incident.")
@click.argument("incident_id")
@click.option("--to", "to", required=True, type=NAME, help="The new incident commander.")
@pass_state
def handover(state: State, incident_id: str, to: str) -> None:
    incident = state.backend.hand_over(incident_id=incident_id, to=to)
    click.echo(f"Incident {incident.id} is now commanded by {incident.commander}")


@main.command(help="Pause the incident's SLA clocks while waiting on the customer (their logs, their confirmation). "
              "Time paused does not count against any target; 'incident resume' starts the clocks again.")
@click.argument("incident_id")
@click.option("--reason", "-r", required=True, type=REASON, help="What you are waiting for, e.g. 'customer to send HAR file'.")
@pass_state
def pause(state: State, incident_id: str, reason: str) -> None:
    incident = state.backend.pause_sla(incident_id=incident_id, reason=reason)
    click.echo(f"Incident {incident.id}: SLA clocks paused ({reason}); resume with: incident resume {incident.id}")


@main.command(help="Start a paused incident's SLA clocks again; resolving the incident also ends the pause.")
@click.argument("incident_id")
@pass_state
def resume(state: State, incident_id: str) -> None:
    incident = state.backend.resume_sla(incident_id=incident_id)
    pauses = incident.sla_pauses or []
    last = pauses[-1] if pauses else {}
    took = ""
    if last.get("start") and last.get("end"):
        seconds = (datetime.fromisoformat(str(last["end"])) - datetime.fromisoformat(str(last["start"]))).total_seconds()
        took = f" after {describe_seconds(int(seconds))}"
    click.echo(f"Incident {incident.id}: SLA clocks running again{took}")


@main.command(help="Publish an incident's root cause and remediation (shown on its page and on /sla), and record the "
              "postmortem analysis: contributing factors, the why-chain, detection and response gaps.")
@click.argument("incident_id")
@click.option("--root-cause", type=TEXT, help="What went wrong and why, for customers.")
@click.option("--remediation", type=TEXT, help="What is being changed so it does not happen again.")
@click.option("--factor", "factors", multiple=True, type=TEXT, help="A contributing factor; repeat for several. Adds to those recorded.")
@click.option("--why", "whys", multiple=True, type=TEXT, help="One answer of the why-chain, most immediate first; repeat in order. Replaces the chain.")
@click.option("--detection-gap", type=TEXT, help="What detection missed or how late it was (empty text clears it).")
@click.option("--response-gap", type=TEXT, help="What the response missed or how late it was (empty text clears it).")
@pass_state
def rca(
    state: State,
    incident_id: str,
    root_cause: str | None,
    remediation: str | None,
    factors: tuple[str, ...],
    whys: tuple[str, ...],
    detection_gap: str | None,
    response_gap: str | None,
) -> None:
    if factors or whys or detection_gap is not None or response_gap is not None:
        if state.server is not None:
            raise UserError("--factor, --why, --detection-gap and --response-gap work on the database directly: "
                            "the admin API has no postmortem endpoints; run without --server or $STATUSPAGE_URL")
        runtime = state.runtime
        with runtime.session() as session:
            incident = postmortems.record_analysis(
                ctx=runtime.context(session, state.actor), incident_id=incident_id, root_cause=root_cause, remediation=remediation,
                factors=factors, whys=whys, detection_gap=detection_gap, response_gap=response_gap,
            )
        click.echo(f"Incident {incident.id}: postmortem analysis recorded")
        if root_cause is None and remediation is None:
            return
    else:
        incident = state.backend.record_root_cause(incident_id=incident_id, root_cause=root_cause, remediation=remediation)
    click.echo(f"Incident {incident.id}: root cause and remediation published on {state.backend.incident_url(incident.id or 0)}")


@main.command("list", help="List incidents, newest first.")
@click.option("--open", "open_only", is_flag=True, help="Only incidents not yet resolved.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="Statuspage v2 JSON.")
@pass_state
def list_command(state: State, open_only: bool, limit: int, as_json: bool) -> None:
    backend = state.backend
    if as_json:
        click.echo(json.dumps({"incidents": backend.incidents_json(open_only=open_only, limit=limit)}, indent=2, ensure_ascii=False))
        return
    rows = backend.list_incidents(open_only=open_only, limit=limit)
    if not rows:
        click.echo("No open incidents." if open_only else "No incidents.")
        return
    console().print(state.renderer.incident_list(rows))


@main.command(help="Show an incident: facts, affected components and the full timeline.")
@click.argument("incident_id")
@click.option("--json", "as_json", is_flag=True, help="Statuspage v2 JSON.")
@pass_state
def show(state: State, incident_id: str, as_json: bool) -> None:
    backend = state.backend
    if as_json:
        _print_json(backend.incident_json(incident_id))
        return
    incident, updates, affected, events = backend.incident_detail(incident_id)
    console().print(
        state.renderer.incident(
            incident,
            url=backend.incident_url(incident.id or 0),
            updates=updates,
            components=affected,
            events=events,
            now=backend.now(),
            sla=backend.sla_evaluation(incident),
        )
    )


@main.group(help="Components and their status.")
def component() -> None:
    pass


@component.command("list", help="Components and their current status.")
@pass_state
def component_list(state: State) -> None:
    rows = state.backend.list_components()
    renderer = state.renderer
    out = console()
    for row in rows:
        out.print(f"{row.id:<16} ", end="", markup=False)
        out.print(renderer.status(row.status), end="")
        out.print(f"  {row.name}", markup=False)


@component.command("set", help="Set a component's own status, outside any incident.")
@click.argument("component_id")
@click.argument("status", type=click.Choice(["operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"]))
@pass_state
def component_set(state: State, component_id: str, status: str) -> None:
    changes = state.backend.set_component_status(component_id=component_id, status=status)
    if changes:
        for change in changes:
            click.echo(f"{change['code']}: {change['old_status']} → {change['new_status']}")
    else:
        click.echo(f"{component_id}: status unchanged (open incidents or maintenance decide what it shows)")


@main.group(help="Scheduled maintenance.")
def maintenance() -> None:
    pass


@maintenance.command("schedule", help="Announce a maintenance window.")
@click.option("--title", "-t", required=True, type=TITLE)
@click.option("--component", "-c", "components", multiple=True, required=True, metavar="ID")
@click.option("--start", required=True, help="ISO time, e.g. 2026-12-01T06:00 (page time zone unless an offset is given).")
@click.option("--end", required=True, help="ISO time.")
@click.option("--message", "-m", type=TEXT)
@pass_state
def maintenance_schedule(state: State, title: str, components: tuple[str, ...], start: str, end: str, message: str | None) -> None:
    scheduled_for = state.when(start, "start")
    scheduled_until = state.when(end, "end")
    assert scheduled_for is not None and scheduled_until is not None
    row = state.backend.schedule_maintenance(
        title=title,
        components=list(parse_components(components)),
        scheduled_for=scheduled_for,
        scheduled_until=scheduled_until,
        message=message,
    )
    renderer = state.renderer
    click.echo(f"Scheduled maintenance {row.id}: {renderer.time(row.scheduled_for)} – {renderer.time(row.scheduled_until)}")


@maintenance.command("status", help="Move a maintenance to in_progress, verifying or completed.")
@click.argument("maintenance_id")
@click.argument("status", type=click.Choice(["in_progress", "verifying", "completed"]))
@click.option("--message", "-m", type=TEXT)
@pass_state
def maintenance_status(state: State, maintenance_id: str, status: str, message: str | None) -> None:
    result = state.backend.set_maintenance_status(maintenance_id=maintenance_id, status=status, message=message)
    click.echo(f"Maintenance {result.maintenance_id} is now {result.status.replace('_', ' ')}")


@main.group(help="Admin API tokens. These work on the database directly, never through --server.")
def token() -> None:
    pass


@token.command("create", help="Make a token. The secret is printed once, alone on standard output, and cannot be shown again.")
@click.option("--name", required=True, help="What the token is for, e.g. ci or grafana; audit events name it.")
@click.option("--scope", required=True, type=click.Choice(["read", "write"]), help="read: GET only; write: also change incidents, components and maintenance.")
@pass_state
def token_create(state: State, name: str, scope: str) -> None:
    runtime = state.local_runtime("incident token create")
    with runtime.session() as session:
        row, secret = tokens.create_token(ctx=runtime.context(session, state.actor), name=name, scope=scope)
    err = console(stderr=True)
    err.print(Text(f"Created {row.scope} token ").append(Text(row.name)).append(f" ({row.prefix}…):"))
    # Alone on stdout, so that TOKEN=$(incident token create ...) captures exactly the secret.
    click.echo(secret)
    err.print("Store it now: it will not be shown again, and only its hash is kept.", markup=False)


@token.command("list", help="Tokens, oldest first (never their secrets).")
@pass_state
def token_list(state: State) -> None:
    runtime = state.local_runtime("incident token list")
    with runtime.session() as session:
        rows = tokens.list_tokens(session=session)
    if not rows:
        click.echo("No tokens.")
        return
    renderer = Renderer(runtime.settings.config.page.time_zone)
    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    for column in ("NAME", "SCOPE", "PREFIX", "CREATED", "BY", "LAST USED", "REVOKED"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(
            Text(row.name),
            row.scope,
            Text(row.prefix),
            renderer.time(row.created_at),
            Text(row.created_by),
            renderer.time(row.last_used_at),
            renderer.time(row.revoked_at) if row.revoked_at else "",
        )
    console().print(table)


@token.command("revoke", help="Refuse a token from now on. Its name stays taken, for the audit log.")
@click.argument("name")
@pass_state
def token_revoke(state: State, name: str) -> None:
    runtime = state.local_runtime("incident token revoke")
    with runtime.session() as session:
        row = tokens.revoke_token(ctx=runtime.context(session, state.actor), name=name)
    console().print(Text("Revoked token ").append(Text(row.name)).append(": requests with it are refused from now on."))


def _say_update(state: State, incident_id: int, status: str, changes: list[dict[str, str]] | None) -> None:
    out = console()
    out.print(f"Incident {incident_id} is {status}.", markup=False)
    for change in changes or []:
        out.print(f"  {change['name']}: {change['old_status']} → {change['new_status']}", markup=False)
    out.print(state.backend.incident_url(incident_id), markup=False)


def _print_json(data: JSON) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


main.add_command(playbook)
main.add_command(report)
main.add_command(action)
main.add_command(postmortem)


def _incident_key(incident_id: str | int) -> int:
    return parse_id(str(incident_id).strip().lstrip("#"))


def _last_page_id(runtime: Runtime) -> int:
    """The newest page so far, so that what a command paged can be told from what was paged before."""
    with runtime.session() as session:
        return session.exec(select(func.coalesce(func.max(Page.id), 0))).one()


def _warn_playbook_problems(runtime: Runtime) -> None:
    """Say so when a playbook is broken: the declaration goes ahead regardless (a Sev-1 then pages
    through the built-in escalation), but somebody should fix the file."""
    _loaded, problems = oncall.load_lenient(runtime.settings.config)
    for line in problems:
        click.echo(f"warning: {line}", err=True)


def _say_paging(state: State, incident_id: int, after_page_id: int, *, err: bool = False) -> None:
    """Who a command paged, and when the next tier will be paged unless someone acknowledges."""
    runtime = state.runtime
    with runtime.session() as session:
        pages = session.exec(
            select(Page).where(Page.incident_id == incident_id, col(Page.id) > after_page_id).order_by(col(Page.id))
        ).all()
        deadline = session.exec(
            select(func.min(Timer.due_at)).where(
                Timer.incident_id == incident_id, Timer.state == oncall_timers.PENDING, Timer.kind == "ack_timeout"
            )
        ).one()
    by_tier: dict[str, list[str]] = {}
    for page in pages:
        label = f"tier {page.tier}" if page.tier is not None else "by name"
        names = by_tier.setdefault(label, [])
        if page.owner not in names:
            names.append(page.owner)
    for label, names in by_tier.items():
        click.echo(f"Paged {label}: {', '.join(names)}", err=err)
    if pages and deadline is not None:
        click.echo(
            f"Unless someone acknowledges (incident ack {incident_id}), the next step runs at {state.renderer.time(deadline)}",
            err=err,
        )
