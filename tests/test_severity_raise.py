"""Raising an incident's severity: the new severity's playbook runs on the escalation matrix frozen
at the declaration (the configuration edited since changes nobody's pages), and the components
still at the old severity's status follow the new one on the public page; lowering leaves both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from freezegun import freeze_time
from sqlmodel import col, select
from starlette.testclient import TestClient

from incident_cli.main import main as incident_main
from statuspage.clock import FixedClock
from statuspage.context import WriteContext
from statuspage.db.models import ComponentStatusChange, EscalationRun, IncidentUpdate, PageSent
from statuspage.db.subscriber_models import SubscriberNotice
from statuspage.errors import NotFound
from statuspage.incidents import service as incidents
from statuspage.oncall.frozen import matrix_for_reattach
from statuspage.runtime import Runtime
from statuspage.settings import load_settings
from statuspage.subscribers import service as subscribers
from statuspage.web.admin.calls import PREFIX
from statuspage.web.app import create_app
from tests.test_oncall import Time, events, fire, pending, time  # noqa: F401 - time is a fixture

BEN = """        - name: Ben Okafor
          role: Support supervisor
          contacts: [{slack_user: U01BENOKAF}, {email: ben.okafor@sendero.example}]
"""
DANA = """        - name: Dana Kowalski
          role: Engineering manager
          contacts: [{slack_user: U01DANAKOW}, {email: dana.kowalski@sendero.example}]
"""
TIER_1_TIMES = "acknowledge_within: {default: 4h, sev1: 5m, sev2: 15m}"


def edit_config(config_file: Path, *replacements: tuple[str, str]) -> None:
    text = config_file.read_text()
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    config_file.write_text(text)


# Ben and Dana leave the rota, Zoe and Yuki join it, and tier 1 gets 30 minutes at Sev-1.
NEW_ROTA = (
    (BEN, BEN.replace("Ben Okafor", "Zoe Lindqvist").replace("U01BENOKAF", "U01ZOELIND").replace("ben.okafor", "zoe")),
    (DANA, DANA.replace("Dana Kowalski", "Yuki Tanaka").replace("U01DANAKOW", "U01YUKITAN").replace("dana.kowalski", "yuki")),
    (TIER_1_TIMES, TIER_1_TIMES.replace("sev1: 5m", "sev1: 30m")),
)


@pytest.fixture
def reconfigure(runtime: Runtime, config_file: Path, db_url: str, make_ctx: Callable[..., WriteContext]) -> Callable[..., WriteContext]:
    """Edit the configuration file and load it, as a restarted server and worker would; returns a
    context that sees the new configuration."""

    def apply(*replacements: tuple[str, str]) -> WriteContext:
        edit_config(config_file, *replacements)
        runtime.settings = load_settings(config_file, env={"DATABASE_URL": db_url})
        return make_ctx()

    return apply


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime.settings, runtime.engine, clock=runtime.clock, version_check_interval=0)) as test_client:
        yield test_client


def declare(ctx: WriteContext, severity: int, components: Any, title: str = "Checkout failing") -> int:
    incident = incidents.declare(ctx=ctx, severity=severity, title=title, components=components)
    assert incident.id is not None
    return incident.id


def pages_at(ctx: WriteContext, incident_id: int, minutes: float, time: Time) -> list[tuple[int | None, str, str]]:
    ctx.session.rollback()
    rows = ctx.session.exec(
        select(PageSent)
        .where(PageSent.incident_id == incident_id, PageSent.paged_at == time.start + timedelta(minutes=minutes))
        .order_by(col(PageSent.id))
    ).all()
    return [(p.tier, p.owner, p.contact) for p in rows]


def public_statuses(client: TestClient) -> dict[str, str]:
    reply = client.get("/api/v2/components.json")
    assert reply.status_code == 200
    return {c["name"]: c["status"] for c in reply.json()["components"] if not c.get("group")}


# The frozen matrix ---------------------------------------------------------------------------


def test_a_raise_pages_the_matrix_frozen_at_the_declaration(
    runtime: Runtime, ctx: WriteContext, time: Time, reconfigure: Callable[..., WriteContext]
) -> None:
    incident_id = declare(ctx, 2, ["checkout"])
    frozen = dict(ctx.session.exec(select(EscalationRun)).one().matrix)
    ctx_now = reconfigure(*NEW_ROTA)

    time.at(minutes=2)
    raised = incidents.change_severity(ctx=ctx_now, incident_id=incident_id, severity=1)
    assert (raised.severity, raised.impact) == (1, "critical")
    # The Sev-1 playbook's first step, tier 1 as it was at the declaration: Ben, not Zoe.
    assert pages_at(ctx, incident_id, 2, time) == [
        (1, "Ana Ruiz", "U01ANARUIZ"),
        (1, "Ana Ruiz", "+1 555 0101"),
        (1, "Ana Ruiz", "ana.ruiz@sendero.example"),
        (1, "Ben Okafor", "U01BENOKAF"),
        (1, "Ben Okafor", "ben.okafor@sendero.example"),
    ]
    run = ctx.session.exec(select(EscalationRun)).one()
    assert (run.playbook_name, run.severity, run.matrix) == ("sev1", 1, frozen)
    # Tier 1's frozen Sev-1 time is 5 minutes (the configuration says 30 now).
    assert pending(ctx.session, incident_id) == {
        "ack:1:1": time.start + timedelta(minutes=7),
        "remind:2": time.start + timedelta(minutes=32),
    }
    time.at(minutes=7)
    fire(runtime)
    assert {owner for _, owner, _ in pages_at(ctx, incident_id, 7, time)} == {"Chen Wei", "Dana Kowalski"}
    assert not ctx.session.exec(select(PageSent).where(col(PageSent.owner).in_(["Zoe Lindqvist", "Yuki Tanaka"]))).all()

    # Audited in the raise's transaction, at its moment: the severity, the components, the playbook.
    at_raise = [(e.action, e.after) for e in events(ctx.session, incident_id) if e.at == time.start + timedelta(minutes=2)]
    assert at_raise[0] == ("incident.severity", {"from": 2, "to": 1, "playbook": "sev1"})
    update = next(after for action, after in at_raise if action == "incident.update")
    assert update["components"] == {"checkout": "major_outage"} and update["severity"] == 1
    assert ("incident.playbook", {"playbook": "sev1", "severity": 1}) in at_raise


def test_an_incident_declared_without_a_playbook_keeps_its_declaration_matrix_too(
    ctx: WriteContext, time: Time, reconfigure: Callable[..., WriteContext]
) -> None:
    """A Sev-3 runs no playbook, but its matrix is frozen when it is declared all the same: raised
    to Sev-1 after the rota changed, it pages the people of the declaration."""
    incident_id = declare(ctx, 3, ["checkout"])
    assert ctx.session.exec(select(EscalationRun)).first() is None  # nothing runs for a Sev-3
    ctx_now = reconfigure(*NEW_ROTA)
    time.at(minutes=2)
    incidents.change_severity(ctx=ctx_now, incident_id=incident_id, severity=1)
    assert {owner for _, owner, _ in pages_at(ctx, incident_id, 2, time)} == {"Ana Ruiz", "Ben Okafor"}
    # Tier 1's Sev-1 time as it was at the declaration: 5 minutes, not the 30 configured now.
    assert pending(ctx.session, incident_id)["ack:1:0"] == time.start + timedelta(minutes=7)


def test_the_cli_says_whom_the_raise_paged(cli_env: dict[str, str], config_file: Path) -> None:
    runner = CliRunner(env=cli_env)

    def run(*args: str) -> Result:
        result = runner.invoke(incident_main, list(args), prog_name="incident", catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result

    assert "Paged tier 1: Ana Ruiz, Ben Okafor" in run("declare", "-s", "2", "-t", "Checkout slow", "-c", "checkout").stderr
    edit_config(config_file, *NEW_ROTA)
    lines = run("severity", "1", "1").stdout.splitlines()
    assert lines[:2] == [
        "Incident 1 is now sev1 (was sev2, impact critical); playbook sev1 runs from now",
        "Paged tier 1: Ana Ruiz, Ben Okafor",
    ]
    assert "Zoe" not in "\n".join(lines)


def test_a_new_severity_time_the_frozen_tier_lacks_comes_from_the_configuration(
    runtime: Runtime, ctx: WriteContext, time: Time, reconfigure: Callable[..., WriteContext]
) -> None:
    """Tier 2 had no Sev-1 time of its own at the declaration; one given since applies. Tier 1
    keeps its frozen one."""
    ctx = reconfigure(("acknowledge_within: {default: 24h, sev1: 15m, sev2: 1h}", "acknowledge_within: {default: 24h, sev2: 1h}"))
    incident_id = declare(ctx, 2, ["checkout"])
    ctx = reconfigure(
        ("acknowledge_within: {default: 24h, sev2: 1h}", "acknowledge_within: {default: 24h, sev1: 20m, sev2: 1h}"),
        NEW_ROTA[2],
    )
    time.at(minutes=1)
    incidents.change_severity(ctx=ctx, incident_id=incident_id, severity="sev1")
    times = {t["level"]: t["acknowledge_within"] for t in ctx.session.exec(select(EscalationRun)).one().matrix["tiers"]}
    assert times == {
        1: {"default": "4h", "sev1": "5m", "sev2": "15m"},  # frozen; the configuration says 30m now
        2: {"default": "1d", "sev2": "1h", "sev1": "20m"},  # Sev-1's time given since
        3: {"default": "3d"},
    }
    time.at(minutes=6)
    fire(runtime)  # tier 1's frozen 5 minutes ran out: tier 2 is paged and has 20 minutes
    assert pending(ctx.session, incident_id)["ack:3:1"] == time.start + timedelta(minutes=26)


def test_matrix_for_reattach_fills_only_what_the_frozen_copy_lacks(config_file: Path, db_url: str) -> None:
    frozen = {
        "tiers": [
            {"level": 1, "name": "Front line", "acknowledge_within": {"default": "4h", "sev1": "5m"}, "owners": [], "notify": []},
            {"level": 2, "name": "Specialists", "acknowledge_within": {"default": "24h"}, "owners": [], "notify": []},
            {"level": 7, "name": "Gone since", "acknowledge_within": {"default": "1h"}, "owners": [], "notify": []},
        ]
    }
    escalation = load_settings(config_file, env={"DATABASE_URL": db_url}).config.escalation
    result = matrix_for_reattach(frozen, escalation, 1)
    assert [t["acknowledge_within"] for t in result["tiers"]] == [
        {"default": "4h", "sev1": "5m"},
        {"default": "24h", "sev1": "15m"},
        {"default": "1h"},
    ]
    assert frozen["tiers"][1]["acknowledge_within"] == {"default": "24h"}  # the stored copy is not touched
    assert matrix_for_reattach(frozen, escalation, 4) == frozen


# The components ------------------------------------------------------------------------------


def test_components_at_the_old_default_follow_the_raise_on_the_public_page(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock, client: TestClient
) -> None:
    subscribers.subscribe(ctx=ctx, email="watcher@example.com", confirmed=True, source="import")
    incident_id = declare(ctx, 3, {"api": None, "web": "partial_outage"})
    shown = public_statuses(client)
    assert (shown["API"], shown["Web app"]) == ("degraded_performance", "partial_outage")

    clock.advance(minutes=1)
    incidents.change_severity(ctx=ctx, incident_id=incident_id, severity=1)
    shown = public_statuses(client)
    assert (shown["API"], shown["Web app"]) == ("major_outage", "partial_outage")
    changes = ctx.session.exec(select(ComponentStatusChange).where(ComponentStatusChange.at == clock.now())).all()
    assert [(c.component_id, c.old_status, c.new_status, c.incident_id) for c in changes] == [
        ("api", "degraded_performance", "major_outage", incident_id)
    ]
    updates = ctx.session.exec(select(IncidentUpdate).where(IncidentUpdate.incident_id == incident_id).order_by(col(IncidentUpdate.id))).all()
    assert len(updates) == 2 and updates[1].affected_components == [
        {"code": "api", "name": "API", "old_status": "degraded_performance", "new_status": "major_outage"}
    ]
    incident = client.get("/api/v2/incidents.json").json()["incidents"][0]
    assert incident["impact"] == "critical" and len(incident["incident_updates"]) == 2
    notices = ctx.session.exec(select(SubscriberNotice).order_by(col(SubscriberNotice.id))).all()
    assert [(n.event, n.subject_id) for n in notices if n.created_at == clock.now()] == [
        ("incident.updated", str(incident_id)),
        ("component.updated", "api"),
    ]


def test_statuses_given_with_the_raise_and_set_since_the_declaration_are_kept(ctx: WriteContext, clock: FixedClock) -> None:
    incident_id = declare(ctx, 3, ["api", "web", "auth"])
    clock.advance(minutes=1)
    incidents.post_update(ctx=ctx, incident_id=incident_id, message="Web is worse.", components={"web": "partial_outage"})
    clock.advance(minutes=1)
    incidents.change_severity(ctx=ctx, incident_id=incident_id, severity=1, components={"api": "degraded_performance"})
    latest = ctx.session.exec(select(IncidentUpdate).order_by(col(IncidentUpdate.id).desc())).first()
    assert latest is not None and latest.affected_components == [
        {"code": "auth", "name": "Sign-in", "old_status": "degraded_performance", "new_status": "major_outage"}
    ]
    held = incidents.affected_components(session=ctx.session, incident_id=incident_id)
    assert {component.id: row.status for row, component in held} == {
        "api": "degraded_performance",  # given with the raise
        "web": "partial_outage",  # set by the update since the declaration
        "auth": "major_outage",  # still at Sev-3's degraded_performance: follows
    }


def test_a_raise_with_an_unknown_component_writes_nothing(
    ctx: WriteContext, clock: FixedClock, make_ctx: Callable[..., WriteContext]
) -> None:
    incident_id = declare(ctx, 2, ["api"])
    clock.advance(minutes=1)
    with pytest.raises(NotFound, match="unknown component 'nope'"):
        incidents.change_severity(ctx=ctx, incident_id=incident_id, severity=1, components={"nope": None})
    check = make_ctx()
    incident = incidents.get(session=check.session, incident_id=incident_id)
    assert (incident.severity, incident.impact) == (2, "major")
    assert check.session.exec(select(PageSent).where(PageSent.paged_at == clock.now())).all() == []
    assert [e.action for e in events(check.session, incident_id) if e.at == clock.now()] == []


def test_lowering_keeps_the_components_and_the_running_escalation(ctx: WriteContext, clock: FixedClock) -> None:
    incident_id = declare(ctx, 1, ["checkout"])
    run_before = ctx.session.exec(select(EscalationRun)).one()
    frozen = (run_before.playbook_name, dict(run_before.matrix))
    clock.advance(minutes=1)
    lowered = incidents.change_severity(ctx=ctx, incident_id=incident_id, severity=3)
    assert (lowered.severity, lowered.impact) == (3, "minor")
    assert len(ctx.session.exec(select(IncidentUpdate).where(IncidentUpdate.incident_id == incident_id)).all()) == 1
    assert [e.after for e in events(ctx.session, incident_id, "incident.severity")] == [{"from": 1, "to": 3, "playbook": None}]
    run = ctx.session.exec(select(EscalationRun)).one()
    assert (run.playbook_name, run.matrix) == frozen
    held = incidents.affected_components(session=ctx.session, incident_id=incident_id)
    assert [(component.id, row.status, component.status) for row, component in held] == [
        ("checkout", "major_outage", "major_outage")
    ]
    assert ctx.session.exec(select(ComponentStatusChange).where(ComponentStatusChange.at == clock.now())).all() == []


def test_statuses_given_on_the_command_line_and_through_the_admin_api(
    run: Callable[..., Result], client: TestClient, make_token: Callable[..., str], clock: FixedClock
) -> None:
    """``incident severity ID N -c ID[=STATUS]`` and the API's ``components`` set those statuses
    with the raise; the other components follow the new severity."""
    with freeze_time(clock.now() - timedelta(minutes=10)):  # the command line reads the wall clock
        assert run("declare", "-s", "3", "-t", "Slow pages", "-c", "web", "-c", "api").exit_code == 0
        raised = run("severity", "1", "1", "-c", "web=partial_outage")
        assert run("declare", "-s", "3", "-t", "Slow sign-in", "-c", "auth").exit_code == 0
    assert raised.exit_code == 0, raised.output
    assert raised.stdout.startswith("Incident 1 is now sev1 (was sev3, impact critical)")
    statuses = public_statuses(client)
    assert (statuses["Web app"], statuses["API"]) == ("partial_outage", "major_outage")

    writer = {"authorization": f"Bearer {make_token('ci', 'write')}"}
    reply = client.post(f"{PREFIX}/incidents/2/severity", json={"severity": 2, "components": {"auth": "major_outage"}}, headers=writer)
    assert reply.status_code == 200, reply.text
    assert public_statuses(client)["Sign-in"] == "major_outage"  # as given, not Sev-2's partial_outage
    refused = client.post(f"{PREFIX}/incidents/2/severity", json={"severity": 1, "components": {"auth": "on_fire"}}, headers=writer)
    assert refused.status_code == 422 and "components" in refused.text
    assert public_statuses(client)["Sign-in"] == "major_outage"
