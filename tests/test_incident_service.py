"""The service layer: every state change, its invariants and its audit event."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlmodel import Session, col, select

from statuspage.clock import FixedClock
from statuspage.components import service as components
from statuspage.context import WriteContext
from statuspage.db.models import AuditEvent, Component, ComponentStatusChange, Incident, IncidentUpdate, SiteState
from statuspage.errors import Conflict, InvalidInput, NotFound
from statuspage.incidents import handling
from statuspage.incidents import service as incidents
from statuspage.maintenance import service as maintenance
from statuspage.oncall.engine import ONCALL_ACTIONS


def component_status(ctx: WriteContext, component_id: str) -> str:
    ctx.session.expire_all()
    row = ctx.session.get(Component, component_id)
    assert row is not None
    return row.status


def audit_actions(session: Session, subject_id: object) -> list[str]:
    session.expire_all()
    return list(
        session.exec(
            select(AuditEvent.action).where(AuditEvent.subject_id == str(subject_id)).order_by(col(AuditEvent.id))
        ).all()
    )


def count(session: Session, model: type) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def data_version(session: Session) -> int:
    session.expire_all()
    state = session.get(SiteState, 1)
    assert state is not None
    return state.data_version


def declare(ctx: WriteContext, **overrides: object) -> Incident:
    values: dict[str, object] = {"severity": 1, "title": "Checkout failing", "components": ["api"]}
    values.update(overrides)
    return incidents.declare(ctx=ctx, **values)  # type: ignore[arg-type]


def test_declare_opens_incident_with_first_public_update(ctx: WriteContext, clock: FixedClock) -> None:
    incident = declare(ctx, message="Payments fail at checkout.")
    assert incident.status == "investigating"
    assert incident.severity == 1
    assert incident.impact == "critical"
    assert incident.commander == "alice"
    assert incident.declared_at == clock.now()
    assert incident.first_response_at == clock.now()
    (update,) = incidents.timeline(session=ctx.session, incident_id=incident.id or 0)
    assert update.body == "Payments fail at checkout."
    assert update.author == "alice"
    assert update.affected_components == [
        {"code": "api", "name": "API", "old_status": "operational", "new_status": "major_outage"}
    ]


def test_declare_without_message_posts_standard_text_naming_components(ctx: WriteContext) -> None:
    incident = declare(ctx, components=["api", "checkout"])
    (update,) = incidents.timeline(session=ctx.session, incident_id=incident.id or 0)
    assert update.body == "We are investigating reports of problems with API, Checkout and payments."


@pytest.mark.parametrize(
    ("severity", "impact", "shown"),
    [(1, "critical", "major_outage"), (2, "major", "partial_outage"), (3, "minor", "degraded_performance"), ("sev2", "major", "partial_outage")],
)
def test_severity_sets_impact_and_component_status(ctx: WriteContext, severity: object, impact: str, shown: str) -> None:
    incident = declare(ctx, severity=severity)
    assert incident.impact == impact
    assert component_status(ctx, "api") == shown


def test_declare_with_explicit_component_status(ctx: WriteContext) -> None:
    declare(ctx, components={"api": "degraded_performance", "web": None})
    assert component_status(ctx, "api") == "degraded_performance"
    assert component_status(ctx, "web") == "major_outage"


def test_declare_writes_audit_event_and_bumps_data_version(ctx: WriteContext) -> None:
    before = data_version(ctx.session)
    incident = declare(ctx)
    assert data_version(ctx.session) == before + 1
    event = ctx.session.exec(select(AuditEvent).where(AuditEvent.action == "incident.declare")).one()
    assert (event.actor, event.source, event.subject_type, event.subject_id) == ("alice", "cli", "incident", str(incident.id))
    assert event.after is not None and event.after["title"] == "Checkout failing"
    assert event.after["components"] == {"api": "major_outage"}


def test_declare_records_component_status_history(ctx: WriteContext, clock: FixedClock) -> None:
    incident = declare(ctx)
    change = ctx.session.exec(select(ComponentStatusChange).where(ComponentStatusChange.component_id == "api")).one()
    assert (change.old_status, change.new_status, change.at, change.incident_id) == ("operational", "major_outage", clock.now(), incident.id)


@pytest.mark.parametrize(
    ("overrides", "error", "words"),
    [
        ({"components": ["nope"]}, NotFound, "unknown component 'nope'"),
        ({"components": []}, InvalidInput, "at least one affected component"),
        ({"severity": 9}, InvalidInput, "'9' is not a severity"),
        ({"severity": "high"}, InvalidInput, "'high' is not a severity"),
        ({"title": "   "}, InvalidInput, "title: must not be empty"),
        ({"title": "x" * 201}, InvalidInput, "title: must be at most 200 characters"),
        ({"components": {"api": "broken"}}, InvalidInput, "'broken' is not a component status"),
        ({"impact": "maintenance"}, InvalidInput, "not an impact"),
    ],
)
def test_bad_declaration_is_refused_and_writes_nothing(
    ctx: WriteContext, overrides: dict[str, object], error: type[Exception], words: str
) -> None:
    before = data_version(ctx.session)
    with pytest.raises(error, match=words):
        declare(ctx, **overrides)
    assert count(ctx.session, Incident) == 0
    assert count(ctx.session, AuditEvent.__table__) == audit_count_after_sync(ctx.session)
    assert data_version(ctx.session) == before
    assert component_status(ctx, "api") == "operational"


def audit_count_after_sync(session: Session) -> int:
    # Only the configuration sync (component.create and component_group.create) wrote events.
    return session.exec(select(func.count()).select_from(AuditEvent).where(col(AuditEvent.action).like("component%"))).one()


def test_failure_midway_leaves_no_half_written_state(ctx: WriteContext, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(**_: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(incidents, "refresh_statuses", explode)
    with pytest.raises(RuntimeError):
        declare(ctx)
    assert count(ctx.session, Incident) == 0
    assert count(ctx.session, IncidentUpdate) == 0
    assert audit_actions(ctx.session, 1) == []


def test_detected_in_the_future_is_refused(ctx: WriteContext, clock: FixedClock) -> None:
    with pytest.raises(InvalidInput, match="in the future"):
        declare(ctx, detected_at=clock.now() + timedelta(minutes=1))


def test_detection_time_is_kept(ctx: WriteContext, clock: FixedClock) -> None:
    incident = declare(ctx, detected_at=clock.now() - timedelta(minutes=12))
    assert incident.detected_at == clock.now() - timedelta(minutes=12)
    assert incident.declared_at == clock.now()


def test_status_progression_sets_mitigated_and_resolved_times(ctx: WriteContext, clock: FixedClock) -> None:
    incident = declare(ctx)
    clock.advance(minutes=10)
    incidents.post_update(ctx=ctx, incident_id=incident.id or 0, status="identified", message="Bad deploy.")
    clock.advance(minutes=10)
    incidents.post_update(ctx=ctx, incident_id=incident.id or 0, status="monitoring", message="Rolled back.")
    mitigated = clock.now()
    clock.advance(minutes=30)
    incidents.resolve(ctx=ctx, incident_id=incident.id or 0, message="All good.")
    ctx.session.refresh(incident)
    assert incident.status == "resolved"
    assert incident.mitigated_at == mitigated
    assert incident.resolved_at == clock.now()
    statuses = [u.status for u in incidents.timeline(session=ctx.session, incident_id=incident.id or 0)]
    assert statuses == ["investigating", "identified", "monitoring", "resolved"]
    # Not the paging, nor the service-recovery action items the Sev-1's resolution added (their own subject).
    own = [a for a in audit_actions(ctx.session, incident.id) if a not in ONCALL_ACTIONS and a != "action_item.add"]
    assert own == ["incident.declare", "incident.update", "incident.update", "incident.resolve"]


def test_update_to_resolved_resolves(ctx: WriteContext) -> None:
    incident = declare(ctx)
    incidents.post_update(ctx=ctx, incident_id=incident.id or 0, status="resolved", message="Fixed.")
    ctx.session.refresh(incident)
    assert incident.status == "resolved"
    assert component_status(ctx, "api") == "operational"


def test_no_update_on_resolved_incident_until_reopened(ctx: WriteContext, clock: FixedClock) -> None:
    incident = declare(ctx)
    incidents.resolve(ctx=ctx, incident_id=incident.id or 0)
    with pytest.raises(Conflict, match="reopen it"):
        incidents.post_update(ctx=ctx, incident_id=incident.id or 0, message="More news")
    with pytest.raises(Conflict, match="already resolved"):
        incidents.resolve(ctx=ctx, incident_id=incident.id or 0)
    clock.advance(minutes=5)
    incidents.reopen(ctx=ctx, incident_id=incident.id or 0, message="It is back.")
    ctx.session.refresh(incident)
    assert incident.status == "investigating"
    assert incident.resolved_at is None
    assert component_status(ctx, "api") == "major_outage"
    incidents.post_update(ctx=ctx, incident_id=incident.id or 0, message="More news")


def test_reopen_of_open_incident_is_refused(ctx: WriteContext) -> None:
    incident = declare(ctx)
    with pytest.raises(Conflict, match="still open"):
        incidents.reopen(ctx=ctx, incident_id=incident.id or 0)


def test_explicit_time_before_last_entry_is_refused(ctx: WriteContext, clock: FixedClock) -> None:
    incident = declare(ctx)
    clock.advance(minutes=10)
    with pytest.raises(InvalidInput, match="times never go backwards"):
        incidents.post_update(ctx=ctx, incident_id=incident.id or 0, message="late", at=clock.now() - timedelta(minutes=11))
    update = incidents.post_update(ctx=ctx, incident_id=incident.id or 0, message="ok", at=clock.now() - timedelta(minutes=5))
    assert update.created_at == clock.now() - timedelta(minutes=5)


def test_clock_running_backwards_never_moves_the_timeline_back(ctx: WriteContext, clock: FixedClock) -> None:
    incident = declare(ctx)
    declared = clock.now()
    clock.advance(minutes=-3)  # another host's clock is behind
    update = incidents.post_update(ctx=ctx, incident_id=incident.id or 0, message="from a slow clock")
    assert update.created_at == declared
    times = [u.created_at for u in incidents.timeline(session=ctx.session, incident_id=incident.id or 0)]
    assert times == sorted(times)


def test_resolving_restores_component_unless_another_open_incident_holds_it(ctx: WriteContext, clock: FixedClock) -> None:
    first = declare(ctx, severity=2, components=["api"])
    clock.advance(minutes=1)
    second = declare(ctx, severity=1, title="API down", components=["api", "web"])
    assert component_status(ctx, "api") == "major_outage"
    clock.advance(minutes=1)
    update = incidents.resolve(ctx=ctx, incident_id=second.id or 0)
    assert component_status(ctx, "api") == "partial_outage"  # still held by the first incident
    assert component_status(ctx, "web") == "operational"
    assert {c["code"]: c["new_status"] for c in update.affected_components or []} == {"api": "partial_outage", "web": "operational"}
    clock.advance(minutes=1)
    incidents.resolve(ctx=ctx, incident_id=first.id or 0)
    assert component_status(ctx, "api") == "operational"


def test_resolving_restores_the_components_own_status(ctx: WriteContext) -> None:
    components.set_status(ctx=ctx, component_id="api", status="degraded_performance")
    incident = declare(ctx)
    incidents.resolve(ctx=ctx, incident_id=incident.id or 0)
    assert component_status(ctx, "api") == "degraded_performance"


def test_update_can_move_component_status(ctx: WriteContext) -> None:
    incident = declare(ctx)
    update = incidents.post_update(ctx=ctx, incident_id=incident.id or 0, message="Partly back", components={"api": "partial_outage"})
    assert component_status(ctx, "api") == "partial_outage"
    assert update.affected_components == [{"code": "api", "name": "API", "old_status": "major_outage", "new_status": "partial_outage"}]


def test_update_without_words_or_status_is_refused(ctx: WriteContext) -> None:
    incident = declare(ctx)
    with pytest.raises(InvalidInput, match="message: is required"):
        incidents.post_update(ctx=ctx, incident_id=incident.id or 0, message=None)


@pytest.mark.parametrize("incident_id", [999, "abc"])
def test_missing_incident_is_not_found(ctx: WriteContext, incident_id: object) -> None:
    with pytest.raises(NotFound, match="no incident"):
        incidents.post_update(ctx=ctx, incident_id=incident_id, message="hello")  # type: ignore[arg-type]


def test_first_acknowledgement_counts_later_ones_change_nothing(make_ctx: Callable[..., WriteContext], clock: FixedClock) -> None:
    ctx = make_ctx("alice")
    incident = declare(ctx)
    clock.advance(minutes=3)
    _, changed = incidents.acknowledge(ctx=make_ctx("bob"), incident_id=incident.id or 0)
    assert changed
    clock.advance(minutes=3)
    again, changed_again = incidents.acknowledge(ctx=make_ctx("carol"), incident_id=incident.id or 0)
    assert not changed_again
    assert again.acknowledged_by == "bob"
    assert again.acknowledged_at == clock.now() - timedelta(minutes=3)
    assert audit_actions(ctx.session, incident.id).count("incident.acknowledge") == 1


def test_hand_over_leaves_audit_trail(ctx: WriteContext) -> None:
    incident = declare(ctx)
    handling.hand_over(ctx=ctx, incident_id=incident.id or 0, to="Chen Wei")
    event = ctx.session.exec(select(AuditEvent).where(AuditEvent.action == "incident.hand_over")).one()
    assert (event.actor, event.before, event.after) == ("alice", {"commander": "alice"}, {"commander": "Chen Wei"})
    with pytest.raises(Conflict, match="already the commander"):
        handling.hand_over(ctx=ctx, incident_id=incident.id or 0, to="Chen Wei")


def test_maintenance_shows_components_under_maintenance_while_in_progress(ctx: WriteContext, clock: FixedClock) -> None:
    window = maintenance.schedule(
        ctx=ctx, title="DB upgrade", components=["api"],
        scheduled_for=clock.now() + timedelta(hours=1), scheduled_until=clock.now() + timedelta(hours=2),
    )
    assert component_status(ctx, "api") == "operational"
    maintenance.set_status(ctx=ctx, maintenance_id=window.id or 0, status="in_progress")
    assert component_status(ctx, "api") == "under_maintenance"
    incident = declare(ctx)
    assert component_status(ctx, "api") == "major_outage"  # an outage outranks maintenance
    incidents.resolve(ctx=ctx, incident_id=incident.id or 0)
    assert component_status(ctx, "api") == "under_maintenance"
    maintenance.set_status(ctx=ctx, maintenance_id=window.id or 0, status="completed")
    assert component_status(ctx, "api") == "operational"
    with pytest.raises(Conflict, match="cannot move"):
        maintenance.set_status(ctx=ctx, maintenance_id=window.id or 0, status="in_progress")


def test_maintenance_window_must_end_after_it_starts(ctx: WriteContext, clock: FixedClock) -> None:
    with pytest.raises(InvalidInput, match="after scheduled_for"):
        maintenance.schedule(ctx=ctx, title="x", components=["api"], scheduled_for=clock.now(), scheduled_until=clock.now())


def test_concurrent_sessions_see_each_others_writes(make_ctx: Callable[..., WriteContext]) -> None:
    writer, reader = make_ctx("alice"), make_ctx("bob")
    incident = declare(writer)
    incidents.post_update(ctx=reader, incident_id=incident.id or 0, message="from another session")
    assert len(incidents.timeline(session=writer.session, incident_id=incident.id or 0)) == 2
