"""``incident ack``, ``escalate``, ``severity``, ``handover``, ``pause``, ``resume`` and ``watch``:
who has the incident, who gets paged next, and the worker that pages them."""

from __future__ import annotations

import functools
import sys
from datetime import timedelta

import click

from incident_cli.paging import say_paging
from incident_cli.state import NAME, State, parse_components, pass_state
from statuspage import validators
from statuspage.clickutil import Checked
from statuspage.domain.durations import describe_seconds
from statuspage.oncall import engine as oncall
from statuspage.oncall import timers as oncall_timers
from statuspage.playbooks import PlaybookError
from statuspage.settings import ConfigError
from statuspage.stopping import stop_on_signals

REASON = Checked(functools.partial(validators.free_text, limit=validators.MAX_REASON, required=True))


@click.command("ack", help="Acknowledge an incident: you have it. Paging stops, and your acknowledgement is recorded on the outstanding pages.")
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


@click.command("escalate", help="Page the next tier now instead of waiting for the acknowledgement deadline (or --to-tier N).")
@click.argument("incident_id")
@click.option("--to-tier", type=click.IntRange(1, 9), metavar="N", help="Page this tier (default: the one above the last tier paged).")
@pass_state
def escalate(state: State, incident_id: str, to_tier: int | None) -> None:
    escalated = state.backend.escalate(incident_id=incident_id, to_tier=to_tier)
    click.echo(f"Incident {escalated.incident_id} escalated to tier {escalated.tier}")
    say_paging(state, escalated.incident_id, escalated.paging)


@click.command("severity", help="Change an incident's severity, e.g. 'incident severity 12 1'. Raising it starts the new severity's "
               "playbook and moves the components still at the old severity's status to the new one's.")
@click.argument("incident_id")
@click.argument("severity")
@click.option("--component", "-c", "components", multiple=True, metavar="ID[=STATUS]",
              help="Set this component's status with the change (default: what the new severity implies); repeat for more.")
@pass_state
def severity(state: State, incident_id: str, severity: str, components: tuple[str, ...]) -> None:
    changed = state.backend.change_severity(incident_id=incident_id, severity=severity, components=parse_components(components))
    incident = changed.incident
    attached = f"; playbook {changed.playbook} runs from now" if changed.playbook else ""
    click.echo(f"Incident {incident.id} is now sev{incident.severity} (was sev{changed.previous}, impact {incident.impact}){attached}")
    say_paging(state, incident.id, changed.paging)


@click.command("watch", help="Fire escalation deadlines and reminders when they fall due, and deliver outgoing messages (Slack, "
               "webhooks), until SIGTERM or Ctrl-C. Prints a line for every page, escalation and reminder.")
@click.option("--once", is_flag=True, help="Do what is due now, then exit.")
@click.option("--poll-interval", default=1.0, show_default=True, type=click.FloatRange(0.05, 60), help="Seconds between polls when idle.")
@click.option("--lease", default=oncall_timers.DEFAULT_LEASE.total_seconds(), show_default=True, type=click.FloatRange(1, 3600),
              help="Seconds a worker holds the timers and messages it claims (renewed while it works on them); "
              "a worker that dies delays them at most this long.")
@pass_state
def watch(state: State, once: bool, poll_interval: float, lease: float) -> None:
    from statuspage import worker
    from statuspage.subscribers.lane import running as subscribers_lane

    runtime = state.local_runtime("incident watch")
    try:
        # Refuse to start with a broken playbook, or a Sev-1 without one: better now than at 3 a.m.
        oncall.load_strict(runtime.settings.config, runtime.wiring.playbooks_dir)
    except PlaybookError as exc:
        raise ConfigError(exc.lines) from None
    zone = state.renderer.zone
    def say(line: str) -> None:
        click.echo(f"{runtime.clock.now().astimezone(zone):%H:%M:%S}  {line}")
        sys.stdout.flush()

    senders = runtime.senders()
    bulk = runtime.subscriber_senders()
    try:
        with stop_on_signals() as stop:
            if not once:
                click.echo(f"Watching for due escalations and reminders in {runtime.settings.config.page.name}'s incidents; stop with Ctrl-C or SIGTERM.", err=True)
            # Notices to the page's subscribers go out on a lane of their own, never ahead of a page.
            with subscribers_lane(runtime, senders=bulk, stop=stop, once=once, poll_interval=poll_interval,
                                  lease=timedelta(seconds=lease), say=say) as lane:
                totals = worker.run_watch(
                    runtime,
                    stop=stop,
                    once=once,
                    senders=senders,
                    poll_interval=poll_interval,
                    lease=timedelta(seconds=lease),
                    say=say,
                    jobs=runtime.worker_jobs(),
                    other_lanes=list(bulk),
                )
            totals.delivery.add(lane.report)
    finally:
        for sender in [*senders.values(), *bulk.values()]:
            sender.close()
    click.echo(str(totals))


@click.command("handover", help="Hand over command of an incident.")
@click.argument("incident_id")
@click.option("--to", "to", required=True, type=NAME, help="The new incident commander.")
@pass_state
def handover(state: State, incident_id: str, to: str) -> None:
    incident = state.backend.hand_over(incident_id=incident_id, to=to)
    click.echo(f"Incident {incident.id} is now commanded by {incident.commander}")


@click.command("pause", help="Pause the incident's SLA clocks while waiting on the customer (their logs, their confirmation). "
               "Time paused does not count against any target; 'incident resume' starts the clocks again.")
@click.argument("incident_id")
@click.option("--reason", "-r", required=True, type=REASON, help="What you are waiting for, e.g. 'customer to send HAR file'.")
@pass_state
def pause(state: State, incident_id: str, reason: str) -> None:
    incident = state.backend.pause_sla(incident_id=incident_id, reason=reason)
    click.echo(f"Incident {incident.id}: SLA clocks paused ({reason}); resume with: incident resume {incident.id}")


@click.command("resume", help="Start a paused incident's SLA clocks again; resolving the incident also ends the pause.")
@click.argument("incident_id")
@pass_state
def resume(state: State, incident_id: str) -> None:
    incident = state.backend.resume_sla(incident_id=incident_id)
    last = incident.sla_pauses[-1] if incident.sla_pauses else None
    took = ""
    if last is not None and last.end is not None:
        took = f" after {describe_seconds(int((last.end - last.start).total_seconds()))}"
    click.echo(f"Incident {incident.id}: SLA clocks running again{took}")
