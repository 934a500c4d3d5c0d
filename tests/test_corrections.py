"""Corrections: a title or a published update's text put right (audited, shown as edited), an
incident declared by mistake retracted from the public and published again; and the person
declaring an incident is its commander and is not paged for it unless they ask."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from click.testing import Result
from sqlmodel import col, select
from starlette.testclient import TestClient

from statuspage.audit.actions import AuditAction
from statuspage.context import WriteContext
from statuspage.db.models import AuditEvent, Component, OutboxMessage, PageSent
from statuspage.domain import escalation as machine
from statuspage.domain.matrix import Matrix
from statuspage.errors import Conflict, InvalidInput, NotFound
from statuspage.incidents import corrections, visibility
from statuspage.incidents import service as incidents
from statuspage.oncall import engine as oncall
from statuspage.runtime import Runtime
from statuspage.web.app import create_app
from statuspage.webhooks import service as webhooks


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime.settings, runtime.engine, clock=runtime.clock, version_check_interval=0)) as test_client:
        yield test_client


def declare(ctx: WriteContext, title: str = "Checkout failing", **kwargs: object) -> int:
    incident = incidents.declare(ctx=ctx, severity=1, title=title, components=["api"], message="Payments fail.", **kwargs)  # type: ignore[arg-type]
    assert incident.id is not None
    return incident.id


def events(runtime: Runtime, action: str) -> list[AuditEvent]:
    with runtime.session() as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.id))).all())


def component_status(runtime: Runtime, component_id: str) -> str:
    with runtime.session() as session:
        component = session.get(Component, component_id)
        assert component is not None
        return component.status


def one_line(result: Result, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    return line


# Editing ------------------------------------------------------------------------------------------


def test_edits_are_audited_and_the_page_shows_the_update_as_edited(
    make_ctx: Callable[..., WriteContext], runtime: Runtime, client: TestClient, run: Callable[..., Result]
) -> None:
    key = declare(make_ctx())
    incidents.post_update(ctx=make_ctx(), incident_id=key, status="identified", message="A bad deploy.")
    runtime.clock.advance(minutes=5)  # type: ignore[attr-defined]
    corrections.edit_title(ctx=make_ctx(), incident_id=key, title="  Checkout failing for some cards ")
    corrections.edit_update(ctx=make_ctx(), incident_id=key, number=2, message="A bad deploy of the card service.")

    (title,) = events(runtime, AuditAction.INCIDENT_EDIT_TITLE)
    assert (title.before, title.after) == ({"title": "Checkout failing"}, {"title": "Checkout failing for some cards"})
    (update,) = events(runtime, AuditAction.INCIDENT_EDIT_UPDATE)
    assert update.before and update.after
    assert (update.before["body"], update.after["body"], update.after["update"]) == ("A bad deploy.", "A bad deploy of the card service.", 2)

    page = client.get(f"/incidents/{key}").text
    assert "Checkout failing for some cards" in page and "A bad deploy of the card service." in page
    assert page.count('class="edited"') == 1
    data = client.get("/api/v2/incidents.json").json()["incidents"][0]
    assert data["name"] == "Checkout failing for some cards"
    edited, first = data["incident_updates"]
    assert edited["edited_at"] is not None and edited["updated_at"] == edited["edited_at"] != edited["created_at"]
    assert first["edited_at"] is None and first["body"] == "Payments fail."

    shown = run("show", str(key)).stdout
    assert "1. investigating" in shown and "2. identified" in shown and "(edited " in shown
    assert "corrected the title" in shown and "Checkout failing → Checkout failing for some cards" in shown


def test_edits_are_refused_in_one_line(make_ctx: Callable[..., WriteContext], run: Callable[..., Result]) -> None:
    key = declare(make_ctx())
    with pytest.raises(NotFound, match="has no update 2"):
        corrections.edit_update(ctx=make_ctx(), incident_id=key, number=2, message="x")
    with pytest.raises(InvalidInput, match="title"):
        corrections.edit_title(ctx=make_ctx(), incident_id=key, title="two\nlines")
    with pytest.raises(Conflict, match="already titled"):
        corrections.edit_title(ctx=make_ctx(), incident_id=key, title="Checkout failing")
    assert one_line(run("edit", "42", "--title", "x")) == "incident: no incident 42"
    assert "has no update 3 (it has 1, numbered from 1)" in one_line(run("edit", str(key), "--update", "3", "-m", "x"))
    assert "message" in one_line(run("edit", str(key), "--update", "1", "-m", "   "))
    assert one_line(run("edit", str(key))).startswith("incident: give --title")
    assert "1 is the first" in run("edit", "--help").stdout

    done = run("edit", str(key), "--update", "1", "-m", "Card payments fail.")
    assert done.exit_code == 0 and done.stdout.startswith(f"Incident {key}: update 1 corrected;")


# Retracting ---------------------------------------------------------------------------------------


def test_a_retracted_incident_leaves_every_public_output_and_publish_brings_it_back(
    make_ctx: Callable[..., WriteContext], runtime: Runtime, client: TestClient, run: Callable[..., Result]
) -> None:
    webhooks.subscribe(ctx=make_ctx(), url="https://hooks.example.com/status", description="")
    key = declare(make_ctx(), title="Zebra-Quokka-4417 outage")
    assert component_status(runtime, "api") == "major_outage"
    assert "Zebra-Quokka-4417" in client.get("/api/v2/incidents.json").text

    with runtime.session() as session:
        before = len(session.exec(select(OutboxMessage).where(OutboxMessage.channel == webhooks.CHANNEL)).all())
    retracted = run("retract", str(key), "--reason", "Declared on the wrong page.")
    assert retracted.exit_code == 0, retracted.output
    assert retracted.stdout.splitlines() == [
        f"Incident {key} is retracted, off the status page now: Zebra-Quokka-4417 outage",
        "  API: major_outage → operational",
        f"It is still open: resolve it if it was a false alarm (incident resolve {key}).",
    ]
    (event,) = events(runtime, AuditAction.INCIDENT_RETRACT)
    assert event.after == {"internal": True, "reason": "Declared on the wrong page.", "components": {"api": "operational"}}
    assert component_status(runtime, "api") == "operational"
    for path in ("/", "/api/v2/incidents.json", "/api/v2/summary.json", "/history"):
        assert "Zebra-Quokka-4417" not in client.get(path).text, path
    assert client.get(f"/incidents/{key}").status_code == 404
    # Kept, and webhook subscribers are told nothing more of it.
    incidents.post_update(ctx=make_ctx(), incident_id=key, message="Still looking, internally.")
    incidents.resolve(ctx=make_ctx(), incident_id=key)
    with runtime.session() as session:
        after = len(session.exec(select(OutboxMessage).where(OutboxMessage.channel == webhooks.CHANNEL)).all())
    assert after == before
    assert one_line(run("retract", str(key), "--reason", "again")) == f"incident: incident {key} is not public; there is nothing to retract"
    assert one_line(run("retract", "42", "--reason", "x")) == "incident: no incident 42"

    published = run("publish", str(key))
    assert published.exit_code == 0 and published.stdout.startswith(f"Incident {key} is public now: Zebra-Quokka-4417 outage")
    assert "Zebra-Quokka-4417" in client.get("/api/v2/incidents.json").text
    assert client.get(f"/incidents/{key}").status_code == 200


def test_retracting_an_open_incident_releases_only_what_no_other_public_incident_holds(
    make_ctx: Callable[..., WriteContext], runtime: Runtime
) -> None:
    mistaken = declare(make_ctx())
    declare(make_ctx(), title="Real outage")
    _incident, changes = corrections.retract(ctx=make_ctx(), incident_id=mistaken, reason="Duplicate.")
    assert changes == [] and component_status(runtime, "api") == "major_outage"
    with pytest.raises(Conflict):
        corrections.retract(ctx=make_ctx(), incident_id=mistaken, reason="Duplicate.")
    visibility.publish(ctx=make_ctx(), incident_id=mistaken)


# The declarer is not paged ------------------------------------------------------------------------


def paged(runtime: Runtime, key: int) -> list[str]:
    with runtime.session() as session:
        rows = session.exec(select(PageSent).where(PageSent.incident_id == key).order_by(col(PageSent.id))).all()
        return list(dict.fromkeys(row.owner for row in rows))


def test_the_declarer_commands_and_is_not_paged_unless_they_ask(make_ctx: Callable[..., WriteContext], runtime: Runtime) -> None:
    mine = declare(make_ctx(" ana RUIZ "))
    with runtime.session() as session:
        incident = incidents.get(session=session, incident_id=mine)
        assert incident.commander == " ana RUIZ "  # the declarer commands it
    assert paged(runtime, mine) == ["Ben Okafor"]
    (skipped,) = events(runtime, AuditAction.INCIDENT_PAGE_SKIPPED)
    assert skipped.after and (skipped.after["owner"], skipped.after["tier"]) == ("Ana Ruiz", 1)
    # Stored with the run: paging tier 1 again still leaves her out.
    incidents.acknowledge(ctx=make_ctx("Ben Okafor"), incident_id=mine)
    incidents.escalate(ctx=make_ctx("Chen Wei"), incident_id=mine, to_tier=1)
    assert paged(runtime, mine) == ["Ben Okafor"]

    theirs = declare(make_ctx("Ana Ruiz"), page_me=True)
    assert paged(runtime, theirs) == ["Ana Ruiz", "Ben Okafor"]
    someone = declare(make_ctx("alice"))
    assert paged(runtime, someone) == ["Ana Ruiz", "Ben Okafor"]


def test_the_machine_skips_the_person_named_at_start_on_every_step(runtime: Runtime) -> None:
    config = runtime.settings.config
    playbook = oncall.builtin_playbook(config)
    matrix = Matrix.from_escalation(config.escalation)
    view = machine.IncidentView(id=1, title="x", severity=1, status="investigating")

    def render(source: str, *, incident: machine.IncidentView, playbook: str) -> str:
        return source

    state, actions = machine.advance(
        playbook, matrix, 1, machine.EscalationState(), machine.Started(runtime.clock.now(), not_paging="ana ruiz"), incident=view, render=render
    )
    assert [a.owner for a in actions if isinstance(a, machine.Page)] == ["Ben Okafor", "Ben Okafor"]  # two contacts
    assert [a.owner for a in actions if isinstance(a, machine.PageSkipped)] == ["Ana Ruiz"]
    assert machine.EscalationState.from_json(json.loads(json.dumps(state.to_json()))).not_paging == "ana ruiz"
    # A re-attachment (the severity raised) keeps it.
    again, actions = machine.advance(playbook, matrix, 1, state, machine.Started(runtime.clock.now()), incident=view, render=render)
    assert again.not_paging == "ana ruiz" and not any(isinstance(a, machine.Page) and a.owner == "Ana Ruiz" for a in actions)
