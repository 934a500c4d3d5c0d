"""Demo data: a plausible recent history for the demo organisation in ``statuspage.yaml``.

Seeding goes through the service layer, with a clock set to each moment of the story, so the
demo's timelines, component history and audit log are exactly what real use would write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from statuspage.clock import FixedClock
from statuspage.context import Actor, WriteContext
from statuspage.db.models import Component, ComponentGroup, Incident, Maintenance
from statuspage.incidents import handling
from statuspage.incidents import plan as plans
from statuspage.incidents import service as incidents
from statuspage.maintenance import service as maintenance
from statuspage.postmortems import service as postmortems
from statuspage.runtime import Runtime


@dataclass(frozen=True)
class Step:
    after: timedelta
    status: str
    message: str


@dataclass(frozen=True)
class Story:
    days_ago: float
    severity: int
    title: str
    components: dict[str, str | None]
    commander: str
    detected_before: timedelta
    opening: str
    steps: list[Step] = field(default_factory=list)
    root_cause: str | None = None
    remediation: str | None = None
    category: str | None = None  # an id of `causes:` in statuspage.yaml
    plan: Step | None = None  # the resolution plan, recorded at plan.after (its status is not used)


STORIES = [
    Story(
        days_ago=80, severity=2, title="Webhook deliveries delayed",
        components={"api": "degraded_performance"}, commander="Chen Wei",
        detected_before=timedelta(minutes=75),
        opening="Webhooks reach customers up to 40 minutes late. No events are lost.",
        steps=[
            Step(timedelta(minutes=50), "identified", "A queue consumer stopped after a configuration change; it is restarted."),
            Step(timedelta(hours=2), "resolved", "The backlog is delivered and webhooks are on time again."),
        ],
        root_cause=(
            "A configuration change lowered the webhook consumer's memory limit; it was killed and not restarted. "
            "Our alert watched delivery errors, not delivery delay, so customers told us first, 75 minutes in."
        ),
        remediation="Alert on queue age over 5 minutes (done). Restart policy for all consumers (done).",
        category="configuration",
    ),
    Story(
        days_ago=45, severity=1, title="API errors for EU customers",
        components={"api": None}, commander="Dana Kowalski",
        detected_before=timedelta(minutes=8),
        opening="API requests from the EU region fail with server errors. We are investigating.",
        steps=[
            Step(timedelta(hours=1), "identified", "A database failover in the EU region left connections pointing at the old primary."),
            Step(timedelta(hours=3, minutes=30), "monitoring", "Connections were recycled; error rates are back to normal. Monitoring."),
            Step(timedelta(hours=4, minutes=35), "resolved", "The EU API has been stable for an hour. Resolved."),
        ],
        plan=Step(timedelta(hours=1, minutes=10), "", "Recycle the API's database connection pools in the EU region, "
                  "write path first, then watch error rates for an hour. Expected back to normal within 3 hours."),
        root_cause=(
            "A planned database failover in the EU region promoted a new primary, but the API's connection "
            "pool kept connections to the old one, which had turned read-only. Writes failed until the pools were recycled."
        ),
        remediation="Connection pools now re-resolve the primary on failover (done). Failover drills include the API (due Jan 31).",
        category="infrastructure",
    ),
    Story(
        days_ago=52, severity=1, title="Checkout failing for card payments",
        components={"checkout": None, "api": "partial_outage"}, commander="Ana Ruiz",
        detected_before=timedelta(minutes=6),
        opening="Card payments fail at checkout with a gateway error. We are investigating.",
        steps=[
            Step(timedelta(minutes=25), "identified", "A certificate on the payment gateway connection expired. We are rotating it."),
            Step(timedelta(minutes=70), "monitoring", "The certificate has been replaced and payments succeed again. We are monitoring."),
            Step(timedelta(hours=2, minutes=10), "resolved", "Payments have worked normally for an hour. This incident is resolved."),
        ],
        plan=Step(timedelta(minutes=30), "", "Issue and install a new gateway client certificate (about 30 minutes), "
                  "then watch card payments for an hour before resolving."),
        root_cause=(
            "The client certificate for the payment gateway expired. Its renewal was a manual yearly task whose "
            "owner had left, and nothing warned of the expiry."
        ),
        remediation="The certificate is renewed automatically (done). We alert 30 days before any certificate expires (done).",
        category="process",
    ),
    Story(
        days_ago=38, severity=2, title="Slow dashboard loading",
        components={"web": None}, commander="Chen Wei", detected_before=timedelta(minutes=20),
        opening="Dashboards take up to a minute to load for some customers.",
        steps=[
            Step(timedelta(hours=1), "identified", "A database index was dropped by a migration; it is being rebuilt."),
            Step(timedelta(hours=3), "resolved", "The index is rebuilt and dashboards load normally."),
        ],
        root_cause="A schema migration in a release dropped and did not recreate an index the dashboard queries use.",
        remediation="Migrations are checked against the production query plans before release (done).",
        category="change",
    ),
    Story(
        days_ago=21, severity=1, title="Sign-in unavailable",
        components={"auth": None, "web": "partial_outage", "api": "partial_outage"}, commander="Ana Ruiz",
        detected_before=timedelta(minutes=19),
        opening="Customers cannot sign in. Existing sessions keep working.",
        steps=[
            Step(timedelta(hours=1, minutes=40), "identified", "Our identity provider is rate-limiting our token requests. We are working with them."),
            Step(timedelta(hours=4, minutes=20), "monitoring", "A higher limit is in place and sign-ins succeed. Monitoring."),
            Step(timedelta(hours=5, minutes=5), "resolved", "Sign-in has been stable. Resolved; a postmortem will follow."),
        ],
        plan=Step(timedelta(hours=2), "", "Roll back the release that doubled token refreshes and ask the identity "
                  "provider for a higher rate limit; sign-in expected back within 3 hours."),
        root_cause=(
            "A release doubled the token refreshes each session makes, which pushed us past our identity "
            "provider's rate limit. Our alerting watched error rates on sign-in pages, not the provider's "
            "429 responses, so the first page went out 19 minutes after failures began."
        ),
        remediation=(
            "Token refreshes are cached again and a load test now guards them (done). We alert on the "
            "provider's rate-limit responses and hold a standing limit increase with them (due Dec 15)."
        ),
        category="change",
    ),
    Story(
        days_ago=9, severity=3, title="Delayed email notifications",
        components={"notifications": None}, commander="Ben Okafor", detected_before=timedelta(minutes=45),
        opening="Notification emails arrive up to 30 minutes late.",
        steps=[Step(timedelta(hours=6), "resolved", "The mail queue has drained; emails are on time again.")],
    ),
    Story(
        days_ago=3, severity=2, title="Chat support unreachable",
        components={"chat-support": "major_outage"}, commander="Ben Okafor", detected_before=timedelta(minutes=10),
        opening="The chat widget does not connect. Please email support@sendero.example meanwhile.",
        steps=[
            Step(timedelta(minutes=40), "monitoring", "Our chat vendor restored service. Monitoring."),
            Step(timedelta(hours=1, minutes=15), "resolved", "Chat support is available again."),
        ],
        root_cause="Our chat vendor had an outage of their connection service; the widget had no fallback.",
        remediation="The widget now offers email when the chat cannot connect (due Jan 15).",
        category="third-party",
    ),
]


DEMO_HISTORY_DAYS = 120


def seed(*, session: Session, runtime: Runtime, actor: Actor) -> str:
    """Write the demo history once. A database that already has incidents is left alone.

    History is recorded, not lived: nobody is paged for it and nothing is announced."""
    if session.exec(select(func.count()).select_from(Incident)).one() or session.exec(
        select(func.count()).select_from(Maintenance)
    ).one():
        return "demo data: the database already holds incidents or maintenance; nothing added"
    now = runtime.clock.now().replace(microsecond=0)
    config = runtime.settings.config
    # The demo organisation has published its status for months, so the uptime bars have history.
    opened = now - timedelta(days=DEMO_HISTORY_DAYS)
    rows: list[Component | ComponentGroup] = [
        *session.exec(select(Component)).all(),
        *session.exec(select(ComponentGroup)).all(),
    ]
    for row in rows:
        row.created_at = min(row.created_at, opened)
        session.add(row)
    for story in STORIES:
        declared = now - timedelta(days=story.days_ago)
        clock = FixedClock(declared)
        ctx = WriteContext(
            session=session,
            clock=clock,
            actor=Actor(story.commander, actor.source),
            config=config,
            wiring=runtime.wiring,
            announce=False,
        )
        incident = incidents.declare(
            ctx=ctx,
            severity=story.severity,
            title=story.title,
            components=story.components,
            message=story.opening,
            commander=story.commander,
            detected_at=declared - story.detected_before,
        )
        clock.advance(minutes=4)
        incidents.acknowledge(ctx=ctx, incident_id=incident.id or 0, by=story.commander)
        plan = story.plan
        for step in story.steps:
            if plan is not None and plan.after <= step.after:
                clock.at = declared + plan.after
                plans.record_plan(ctx=ctx, incident_id=incident.id or 0, plan=plan.message)
                plan = None
            clock.at = declared + step.after
            incidents.post_update(ctx=ctx, incident_id=incident.id or 0, status=step.status, message=step.message)
        if story.root_cause or story.remediation:
            clock.advance(days=2)
            handling.record_root_cause(
                ctx=ctx, incident_id=incident.id or 0, root_cause=story.root_cause, remediation=story.remediation,
                category=story.category if story.category in config.causes else None,
            )
        # The service recovery the resolution started was carried out the next day.
        clock.advance(days=1)
        for item in postmortems.action_items(session=session, incident_id=incident.id, open_only=True):
            postmortems.complete_action(ctx=ctx, action_id=item.id or 0)
    ctx = WriteContext(
        session=session, clock=runtime.clock, actor=actor, config=config, wiring=runtime.wiring, announce=False
    )
    start = _next_weekday_night(now)
    maintenance.schedule(
        ctx=ctx,
        title="Database upgrade",
        components=["api", "web"],
        scheduled_for=start,
        scheduled_until=start + timedelta(hours=2),
        message="We are upgrading our primary database. The API and web app may be read-only for up to 10 minutes.",
    )
    from statuspage.accounts import demo as accounts_demo

    figures = accounts_demo.seed(ctx)
    return f"demo data: {len(STORIES)} past incidents, 1 scheduled maintenance, {figures} added"


def _next_weekday_night(now: datetime) -> datetime:
    moment = (now + timedelta(days=3)).replace(hour=6, minute=0, second=0)
    while moment.weekday() >= 5:
        moment += timedelta(days=1)
    return moment
