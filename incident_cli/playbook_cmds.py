"""``incident playbook``: check playbooks, and see what one would do before it pages anybody.

``validate`` checks files against the configuration they will run with (tiers, owners and
components must exist) and prints every problem as one line ``file:line:col: field: message``,
exit status 2, so it fits in CI and editors. ``simulate`` runs the escalation state machine
under simulated time and prints the timeline; it sends nothing and touches no database, which
is the point: the machine is pure, so the simulation is exactly what a real incident would do.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NoReturn

import click

from statuspage.clickutil import EXIT_USER_ERROR, OneLineErrors
from statuspage.contact_urls import shown_contact
from statuspage.domain.durations import Duration, DurationError
from statuspage.domain.escalation import (
    Acknowledged,
    Escalated,
    EscalateRequested,
    Exhausted,
    IncidentView,
    NotifyChannel,
    Page,
    PostUpdate,
    RemindCommander,
    Resolved,
    ScheduleTimer,
    SetComponent,
    SlackPost,
    Started,
    TimerFired,
)
from statuspage.domain.matrix import Matrix
from statuspage.domain.playbook import Playbook
from statuspage.domain.simulation import SimulatedEvent
from statuspage.errors import InvalidInput
from statuspage.incidents.parsing import parse_severity
from statuspage.oncall.engine import ALWAYS_PAGED, builtin_playbook
from statuspage.playbooks.load import (
    PlaybookError,
    check_playbook_set,
    load_playbook_files,
    load_playbooks,
    playbook_for,
)
from statuspage.playbooks.run import simulate
from statuspage.settings import Config, ConfigError, Settings, load_settings

SIMULATION_START = datetime(2026, 1, 1, tzinfo=UTC)  # only offsets from it are printed
COLLAPSE_REMINDERS = 3  # this many reminders in a row or more are summarised


@click.group("playbook", cls=OneLineErrors, help="Check playbooks, and simulate what one would do.")
def playbook() -> None:
    pass


@playbook.command(
    "validate",
    help="Check playbook files against the configuration; every problem is one line and the exit status is 2. "
    "Without FILE, checks the configured playbooks directory as a set (a Sev-1 must have a playbook).",
)
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def validate(ctx: click.Context, files: tuple[Path, ...]) -> None:
    settings = _settings(ctx)
    config = settings.config
    if not files:
        directory = settings.playbooks_dir
        try:
            found = load_playbooks(directory, config)
        except PlaybookError as exc:
            _fail(exc.lines)
        for name in sorted(found):
            click.echo(f"{directory}: {name} ok ({_summary(found[name])})")
        return
    loaded, lines = load_playbook_files(files, config)
    lines += check_playbook_set(loaded, config)
    if lines:
        _fail(lines)
    for item, document in loaded:
        click.echo(f"{document.display_name}: ok ({item.name}: {_summary(item)})")


@playbook.command(
    "simulate",
    help="Run a playbook under simulated time and print its timeline; nothing is sent. NAME is a playbook "
    "name, a file, or a severity as declare takes it (1, sev1, P1: the playbook that severity runs). Without "
    "--ack-after nobody acknowledges; with it, the incident runs on to resolution (default: at the severity's "
    "resolution target).",
)
@click.argument("name")
@click.option("--ack-after", metavar="DURATION", help="Someone acknowledges this long after the declaration, e.g. 20m.")
@click.option("--ack-by", metavar="NAME", help="Who acknowledges (default: the first person the latest step paged).")
@click.option("--resolve-after", metavar="DURATION", help="The incident is resolved this long after the declaration.")
@click.option("--until", "until", metavar="DURATION", help="Stop here (default: when only reminders are left).")
@click.option("--severity", "-s", metavar="N", help="A configured severity (1, sev1, P1); default: the playbook's first.")
@click.option("--title", default="Checkout failing", show_default=True, help="The incident title templates see.")
@click.pass_context
def simulate_command(
    ctx: click.Context,
    name: str,
    ack_after: str | None,
    ack_by: str | None,
    resolve_after: str | None,
    until: str | None,
    severity: str | None,
    title: str,
) -> None:
    settings = _settings(ctx)
    config = settings.config
    chosen = _find_playbook(name, settings)
    level = _severity(severity, config) if severity else (chosen.severities[0] if chosen.severities else 1)
    if config.severity(level) is None:
        known = ", ".join(str(n) for n in config.severity_levels)
        _fail([f"playbook simulate: no severity {level} is configured (known: {known})"])
    resolve_at = _duration(resolve_after, "--resolve-after")
    if resolve_at is None and ack_after is not None:
        # Acknowledged, it runs on to resolution: by default at the severity's resolution target.
        resolve_at = _resolution_target(config, level)
    incident = IncidentView(
        id=1, title=title, severity=level, status="investigating", commander=None, url=config.incident_url(1)
    )
    log = simulate(
        chosen,
        Matrix.from_escalation(config.escalation),
        level,
        incident=incident,
        start=SIMULATION_START,
        ack_after=_duration(ack_after, "--ack-after"),
        ack_by=ack_by,
        resolve_after=resolve_at,
        until=_duration(until, "--until"),
    )
    click.echo(f"Playbook {chosen.name} for a severity {level} incident, simulated: nothing is sent.")
    for line in timeline(log, SIMULATION_START):
        click.echo(line)



# --- the timeline --------------------------------------------------------------------------


def timeline(log: Sequence[SimulatedEvent], start: datetime) -> list[str]:
    """The simulation as lines ``+HH:MM what happened``, one per page and per decision."""
    lines: list[str] = []
    index = 0
    while index < len(log):
        run_end = index
        while run_end < len(log) and _reminder_only(log[run_end]):
            run_end += 1
        if run_end - index >= COLLAPSE_REMINDERS:
            first, last = log[index], log[run_end - 1]
            lines += _describe(first, log[index - 1] if index else None, start)
            every = next(a.update_every for a in first.actions if isinstance(a, RemindCommander))
            lines.append(
                f"{'':>6} ... {run_end - index - 1} more reminders every {every}, the last at {_offset(last.at, start)}"
            )
            index = run_end
            continue
        lines += _describe(log[index], log[index - 1] if index else None, start)
        index += 1
    return lines


def _reminder_only(item: SimulatedEvent) -> bool:
    return bool(item.actions) and all(
        isinstance(a, RemindCommander) or (isinstance(a, ScheduleTimer) and a.kind == "reminder") for a in item.actions
    )


def _describe(item: SimulatedEvent, previous: SimulatedEvent | None, start: datetime) -> list[str]:
    at = _offset(item.at, start)
    lines: list[str] = []
    event = item.event
    if isinstance(event, TimerFired) and event.key.startswith("ack:"):
        escalated = [a for a in item.actions if isinstance(a, Escalated)]
        if not escalated:
            waited = previous.state.wait_timeout if previous else None
            lines.append(f"{at} no ack within {waited}" if waited else f"{at} no ack")
    elif isinstance(event, Acknowledged):
        lines.append(f"{at} acknowledged by {event.by}: paging stops")
    elif isinstance(event, Resolved):
        lines.append(f"{at} resolved: every timer is cancelled")
    elif isinstance(event, EscalateRequested):
        lines.append(f"{at} escalation requested by {event.by or 'someone'}")
    elif isinstance(event, Started) and not item.actions:
        lines.append(f"{at} started: nothing to do")
    for action in item.actions:
        text = _action_text(action, start)
        if text:
            lines.append(f"{at} {text}")
    return lines


def _action_text(action: object, start: datetime) -> str | None:
    if isinstance(action, Page):
        who = f"tier {action.tier}: {action.owner}" if action.tier is not None else action.owner
        rule = f" by their notification rule (after {action.by_rule})" if action.by_rule else ""
        return f"page {who} ({action.contact_kind} {shown_contact(action.contact_kind, action.contact)}){rule}"
    if isinstance(action, NotifyChannel):
        return f"notify {action.channel} (tier {action.tier})"
    if isinstance(action, ScheduleTimer) and action.kind == "ack_timeout":
        return f"wait for an acknowledgement until {_offset(action.due_at, start)}"
    if isinstance(action, Escalated):
        cause = "no ack" if action.reason != "manual" else "manual"
        return f"{cause}: escalate to tier {action.to_tier}"
    if isinstance(action, PostUpdate):
        status = f" ({action.status})" if action.status else ""
        return f"post a public update{status}: {action.body}"
    if isinstance(action, SetComponent):
        return f"set component {action.component} to {action.status}"
    if isinstance(action, SlackPost):
        return f"slack {action.channel or 'to the incidents channel'}: {action.text}"
    if isinstance(action, RemindCommander):
        return f"remind the commander to post a public update (every {action.update_every})"
    if isinstance(action, Exhausted):
        tiers = ", ".join(str(t) for t in action.paged_tiers) or "none"
        return f"escalation exhausted: nobody acknowledged (tiers paged: {tiers})"
    return None  # timers scheduled for reminders, cancellations: bookkeeping


def _offset(at: datetime, start: datetime) -> str:
    seconds = int((at - start).total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"+{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")


# --- helpers -------------------------------------------------------------------------------


def _settings(ctx: click.Context) -> Settings:
    # Inside `incident`, the root's State knows --config; run alone, $STATUSPAGE_CONFIG or ./statuspage.yaml.
    config_path = getattr(ctx.find_root().obj, "config_path", None)
    try:
        return load_settings(config_path)
    except ConfigError as exc:
        _fail(exc.lines)


def _find_playbook(name: str, settings: Settings) -> Playbook:
    """A playbook file, a playbook by name, or the one a declaration of that severity would run
    (``1``, ``sev1``, ``P1``: as ``incident declare -s`` reads it)."""
    config = settings.config
    if name.endswith((".yaml", ".yml")):
        loaded, lines = load_playbook_files([Path(name)], config)
        if lines:
            _fail(lines)
        return loaded[0][0]
    directory = settings.playbooks_dir
    try:
        found = load_playbooks(directory, config)
    except PlaybookError as exc:
        _fail(exc.lines)
    if name in found:
        return found[name]
    try:
        level = parse_severity(name, config)
    except InvalidInput:
        known = ", ".join(sorted(found)) or "none"
        _fail([f"playbook simulate: no playbook or severity {name!r} in {directory} (playbooks: {known}; severities: "
               f"{', '.join(str(n) for n in config.severity_levels)})"])
    chosen = playbook_for(level, found)
    if chosen is None and level == ALWAYS_PAGED:
        chosen = builtin_playbook(config)
    if chosen is None:
        _fail([f"playbook simulate: no playbook is chosen for severity {level}: a sev{level} incident pages nobody"])
    return chosen


def _severity(text: str, config: Config) -> int:
    try:
        return parse_severity(text, config)
    except InvalidInput as exc:
        raise click.BadParameter(exc.message.removeprefix("severity: "), param_hint="--severity") from None


def _resolution_target(config: Config, level: int) -> timedelta | None:
    definition = config.severity(level)
    target = definition.resolution if definition is not None else None
    # Simulated time is wall-clock: a target in business hours has no fixed length to run to.
    return None if target is None or target.is_business else target.timedelta


def _duration(text: str | None, option: str) -> timedelta | None:
    if text is None:
        return None
    try:
        duration = Duration.parse(text)
    except DurationError:
        raise click.BadParameter(f"{text!r} is not a duration like 20m or 4h", param_hint=option) from None
    if duration.is_business:
        raise click.BadParameter(f"{text!r} counts business time; simulated time is wall-clock, like 4h", param_hint=option)
    return duration.timedelta


def _summary(item: Playbook) -> str:
    severities = ", ".join(str(s) for s in item.severities) or "none (chosen by name only)"
    return f"severities {severities}, {len(item.steps)} steps, {len(item.on_resolve)} on resolve"


def _fail(lines: Sequence[str]) -> NoReturn:
    for line in lines:
        click.echo(line, err=True)
    sys.exit(EXIT_USER_ERROR)
