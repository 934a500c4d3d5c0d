"""Alerts from monitoring: Alertmanager, Grafana and the generic format posted to the real app,
routed by the configuration's rules into internal incidents that page on-call."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlmodel import col, select
from starlette.testclient import TestClient

from incident_cli.main import main as incident_main
from statuspage.clock import FixedClock
from statuspage.config import ConfigError
from statuspage.db.models import Alert, AlertRequest, AuditEvent, Component, Incident, OutboxMessage, PageSent
from statuspage.domain.alerts import Rule, route
from statuspage.runtime import Runtime
from statuspage.settings import Settings, load_settings
from statuspage.web.app import create_app

AM = "/api/integrations/alertmanager"
GRAFANA = "/api/integrations/grafana"
GENERIC = "/api/integrations/generic"

RULES = [
    {
        "name": "checkout-down",
        "match": {"alertname": "CheckoutDown"},
        "component": "checkout",
        "severity": 1,
        "set_component_status": "major_outage",
        "resolve_incident": True,
    },
    {"name": "web-team", "match": {"team": "web"}, "match_re": {"zone": "us-.*|eu-.*"}, "component": "web", "severity": 2, "publish": True},
    {"name": "storms", "match": {"alertname": "Storm"}, "component": "api", "severity": 3, "max_new_incidents": 3},
]

# What Alertmanager 0.27 POSTs for a webhook_config receiver (captured, re-dated): one group, one
# firing alert. Go's zero time is the end of an alert that has not ended.
ALERTMANAGER_FIRING: dict[str, Any] = json.loads(
    r"""{"receiver":"statuspage","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"ApiHighErrorRate","component":"api","instance":"api-1.sendero.internal:9100","job":"api","severity":"critical"},"annotations":{"description":"5.2% of API requests failed over the last 5 minutes.","runbook_url":"https://runbooks.sendero.example/api-errors","summary":"API error rate above 5%"},"startsAt":"2026-11-25T07:58:30.123456789Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus.sendero.internal:9090/graph?g0.expr=job%3Aapi_errors%3Arate5m+%3E+0.05\u0026g0.tab=1","fingerprint":"5f1b2c3d4e5f6a7b"}],"groupLabels":{"alertname":"ApiHighErrorRate"},"commonLabels":{"alertname":"ApiHighErrorRate","component":"api","instance":"api-1.sendero.internal:9100","job":"api","severity":"critical"},"commonAnnotations":{"description":"5.2% of API requests failed over the last 5 minutes.","runbook_url":"https://runbooks.sendero.example/api-errors","summary":"API error rate above 5%"},"externalURL":"http://alertmanager.sendero.internal:9093","version":"4","groupKey":"{}/{severity=\"critical\"}:{alertname=\"ApiHighErrorRate\"}","truncatedAlerts":0}"""
)

# Grafana unified alerting's webhook contact point (the example of its documentation, re-dated).
GRAFANA_FIRING: dict[str, Any] = {
    "receiver": "statuspage",
    "status": "firing",
    "orgId": 1,
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "High memory usage", "team": "web", "zone": "us-1"},
            "annotations": {"description": "The system has high memory usage", "runbook_url": "https://myrunbook.com/runbook/1234", "summary": "This alert was triggered for zone us-1"},
            "startsAt": "2026-11-25T08:51:03.157076+01:00",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "https://grafana.sendero.internal/alerting/1afz29v7z/edit",
            "fingerprint": "c6eadffa33fcdf37",
            "silenceURL": "https://grafana.sendero.internal/alerting/silence/new?alertmanager=grafana&matchers=alertname%3DT2%2Cteam%3Dblue%2Czone%3Dus-1",
            "dashboardURL": "",
            "panelURL": "",
            "values": {"B": 44.23943737541908, "C": 1},
            "valueString": "[ var='B' labels={} value=44.23943737541908 ], [ var='C' labels={} value=1 ]",
        }
    ],
    "groupLabels": {"alertname": "High memory usage"},
    "commonLabels": {"alertname": "High memory usage", "team": "web", "zone": "us-1"},
    "commonAnnotations": {"summary": "This alert was triggered for zone us-1"},
    "externalURL": "https://grafana.sendero.internal/",
    "version": "1",
    "groupKey": '{}:{alertname="High memory usage"}',
    "truncatedAlerts": 0,
    "title": "[FIRING:1] High memory usage (web us-1)",
    "state": "alerting",
    "message": "**Firing**\n\nValue: B=44.23943737541908, C=1\nLabels:\n - alertname = High memory usage\n",
}


def resolved(payload: dict[str, Any], ends_at: str = "2026-11-25T08:20:00Z") -> dict[str, Any]:
    """The same group, every alert resolved, as the sender reports it."""
    done = copy.deepcopy(payload)
    done["status"] = "resolved"
    for alert in done["alerts"]:
        alert["status"] = "resolved"
        alert["endsAt"] = ends_at
    if "state" in done:
        done["state"] = "ok"
    return done


def am_alert(name: str, fingerprint: str, status: str = "firing", **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, **labels},
        "annotations": {"summary": f"{name} on {fingerprint}"},
        "startsAt": "2026-11-25T07:59:00Z",
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-25T08:30:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": fingerprint,
    }


def am_group(group_key: str, alerts: list[dict[str, Any]]) -> dict[str, Any]:
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    return {
        "receiver": "statuspage", "status": status, "alerts": alerts, "groupLabels": {}, "commonLabels": {},
        "commonAnnotations": {}, "externalURL": "http://alertmanager:9093", "version": "4", "groupKey": group_key, "truncatedAlerts": 0,
    }


def with_rules(config_file: Path, rules: list[dict[str, Any]], **section: Any) -> Path:
    data = yaml.safe_load(config_file.read_text())
    data["alerts"] = {**data.get("alerts", {}), **section, "rules": [*rules, *data.get("alerts", {}).get("rules", [])]}
    config_file.write_text(yaml.safe_dump(data, sort_keys=False))
    return config_file


@pytest.fixture
def settings(config_file: Path, db_url: str) -> Settings:
    """The shipped configuration with the rules above before its own."""
    return load_settings(with_rules(config_file, RULES), env={"DATABASE_URL": db_url})


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime.settings, runtime.engine, clock=runtime.clock, version_check_interval=0)) as test_client:
        yield test_client


@pytest.fixture
def alerts_token(make_token: Callable[..., str]) -> dict[str, str]:
    return {"authorization": f"Bearer {make_token('alertmanager', 'alerts')}"}


def rows(runtime: Runtime, model: Any, *where: Any) -> list[Any]:
    with runtime.session() as session:
        return list(session.exec(select(model).where(*where).order_by(col(model.id) if hasattr(model, "id") else None)).all())


def post(client: TestClient, path: str, body: Any, headers: dict[str, str]) -> dict[str, Any]:
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def assert_problem(response: Any, status: int, field: str = "") -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    data: dict[str, Any] = response.json()
    assert data["status"] == status and "\n" not in data["detail"]
    assert data["detail"].startswith(field), data["detail"]
    return data


# Alertmanager ----------------------------------------------------------------------------------


def test_alertmanager_firing_opens_one_internal_sev1_that_pages_and_retries_create_nothing(
    client: TestClient, runtime: Runtime, alerts_token: dict[str, str]
) -> None:
    answer = post(client, AM, ALERTMANAGER_FIRING, alerts_token)
    assert answer["duplicate"] is False
    (outcome,) = answer["alerts"]
    assert outcome["outcome"] == "opened" and outcome["rule"] == "critical-component"
    (incident,) = rows(runtime, Incident)
    assert answer["incidents"] == [incident.id]
    assert incident.internal and incident.severity == 1 and incident.title == "API error rate above 5%"
    assert incident.declared_by == "token:alertmanager"
    assert incident.detected_at.isoformat() == "2026-11-25T07:58:30.123456+00:00"  # the alert's start
    # The Sev-1 playbook ran: tier 1 is paged, and Slack is told, as for any Sev-1.
    paged = rows(runtime, PageSent, PageSent.incident_id == incident.id)
    assert {p.owner for p in paged} == {"Ana Ruiz", "Ben Okafor"}
    actions = [e.action for e in rows(runtime, AuditEvent, AuditEvent.subject_type == "incident")]
    assert actions[:2] == ["incident.declare", "incident.playbook"] and "incident.page" in actions
    assert rows(runtime, OutboxMessage, OutboxMessage.channel == "slack")
    (alert,) = rows(runtime, Alert)
    assert (alert.source, alert.fingerprint, alert.status, alert.incident_id) == ("alertmanager", "5f1b2c3d4e5f6a7b", "firing", incident.id)
    assert alert.group_key == '{}/{severity="critical"}:{alertname="ApiHighErrorRate"}'
    assert alert.labels["instance"] == "api-1.sendero.internal:9100" and alert.ends_at is None

    # Alertmanager retries a request it got no answer to: the same body changes nothing.
    again = post(client, AM, ALERTMANAGER_FIRING, alerts_token)
    assert again["duplicate"] is True and again["alerts"] == answer["alerts"]
    assert len(rows(runtime, Incident)) == 1 and len(rows(runtime, Alert)) == 1
    assert len(rows(runtime, PageSent)) == len(paged)
    stored = rows(runtime, AlertRequest)
    assert [r.duplicate_of for r in stored] == [None, stored[0].id]
    assert stored[0].body == ALERTMANAGER_FIRING and stored[0].token_name == "alertmanager"

    # Its repeat_interval notification, long after: the alert still fires; nothing new.
    runtime.clock.advance(hours=4)  # type: ignore[attr-defined]
    repeat = post(client, AM, ALERTMANAGER_FIRING, alerts_token)
    assert repeat["duplicate"] is False and repeat["alerts"][0]["outcome"] == "still_firing"
    assert len(rows(runtime, Incident)) == 1 and len(rows(runtime, PageSent)) == len(paged)


def test_alertmanager_resolved_closes_the_alert_and_leaves_the_incident_to_a_person(
    client: TestClient, runtime: Runtime, alerts_token: dict[str, str]
) -> None:
    post(client, AM, ALERTMANAGER_FIRING, alerts_token)
    runtime.clock.advance(minutes=20)  # type: ignore[attr-defined]
    answer = post(client, AM, resolved(ALERTMANAGER_FIRING), alerts_token)
    assert answer["alerts"][0]["outcome"] == "resolved" and answer["alerts"][0]["incident_resolved"] is False
    (alert,) = rows(runtime, Alert)
    assert alert.status == "resolved" and alert.ends_at is not None and alert.ends_at.isoformat() == "2026-11-25T08:20:00+00:00"
    (incident,) = rows(runtime, Incident)
    assert incident.status == "investigating"
    assert [e.action for e in rows(runtime, AuditEvent, AuditEvent.subject_type == "alert")] == ["alert.fire", "alert.resolve"]
    # Retried: nothing more.
    assert post(client, AM, resolved(ALERTMANAGER_FIRING), alerts_token)["duplicate"] is True
    # Firing again while the incident is open rejoins it.
    refire = copy.deepcopy(ALERTMANAGER_FIRING)
    refire["alerts"][0]["startsAt"] = "2026-11-25T08:25:00Z"
    (again,) = post(client, AM, refire, alerts_token)["alerts"]
    assert (again["status"], again["outcome"], again["incident_id"]) == ("firing", "fired_again", incident.id)
    assert len(rows(runtime, Incident)) == 1 and rows(runtime, Alert)[0].status == "firing"


def test_component_status_is_set_while_firing_and_restored_when_resolved(
    client: TestClient, runtime: Runtime, alerts_token: dict[str, str]
) -> None:
    down = am_group('{}:{alertname="CheckoutDown"}', [am_alert("CheckoutDown", "aa01", region="us")])
    post(client, AM, down, alerts_token)

    def checkout() -> str:
        data = client.get("/api/v2/components.json").json()
        return str(next(c["status"] for c in data["components"] if c["id"] == "checkout"))

    assert checkout() == "major_outage"  # the rule's automation is public, the incident is not
    assert client.get("/api/v2/incidents.json").json()["incidents"] == []
    second = am_group('{}:{alertname="CheckoutDown"}', [am_alert("CheckoutDown", "aa01", region="us"), am_alert("CheckoutDown", "aa02", region="eu")])
    post(client, AM, second, alerts_token)
    runtime.clock.advance(minutes=10)  # type: ignore[attr-defined]
    one_left = am_group('{}:{alertname="CheckoutDown"}', [am_alert("CheckoutDown", "aa01", "resolved", region="us"), am_alert("CheckoutDown", "aa02", region="eu")])
    answer = post(client, AM, one_left, alerts_token)
    assert answer["alerts"][0]["incident_resolved"] is False
    assert checkout() == "major_outage"  # another alert still holds it
    all_done = am_group('{}:{alertname="CheckoutDown"}', [am_alert("CheckoutDown", "aa02", "resolved", region="eu")])
    answer = post(client, AM, all_done, alerts_token)
    assert checkout() == "operational"
    # resolve_incident: true, and none of its alerts fires any more.
    assert answer["alerts"][0]["incident_resolved"] is True
    (incident,) = rows(runtime, Incident)
    assert incident.status == "resolved"
    changes = [e.after for e in rows(runtime, AuditEvent, AuditEvent.action == "component.set_status")]
    assert [c["base_status"] for c in changes if c] == ["major_outage", "operational"]


def test_a_status_set_by_hand_while_an_alert_holds_the_component_is_left_alone(
    client: TestClient, runtime: Runtime, alerts_token: dict[str, str], ctx: Any
) -> None:
    from statuspage.components import service as components

    post(client, AM, am_group("g", [am_alert("CheckoutDown", "bb01")]), alerts_token)
    components.set_status(ctx=ctx, component_id="checkout", status="degraded_performance")
    post(client, AM, am_group("g", [am_alert("CheckoutDown", "bb01", "resolved")]), alerts_token)
    with runtime.session() as session:
        assert session.get(Component, "checkout").base_status == "degraded_performance"  # type: ignore[union-attr]


# Grafana and the generic format -------------------------------------------------------------


def test_grafana_payload_routes_to_a_published_sev2(client: TestClient, runtime: Runtime, alerts_token: dict[str, str]) -> None:
    answer = post(client, GRAFANA, GRAFANA_FIRING, alerts_token)
    (outcome,) = answer["alerts"]
    assert outcome["outcome"] == "opened" and outcome["rule"] == "web-team"
    (incident,) = rows(runtime, Incident)
    assert not incident.internal and incident.severity == 2  # publish: true
    assert incident.title == "This alert was triggered for zone us-1"
    listed = client.get("/api/v2/incidents.json").json()["incidents"]
    assert [i["name"] for i in listed] == [incident.title]
    post(client, GRAFANA, resolved(GRAFANA_FIRING), alerts_token)
    (alert,) = rows(runtime, Alert)
    assert alert.source == "grafana" and alert.status == "resolved"


def test_generic_format_fires_and_resolves_by_key(client: TestClient, runtime: Runtime, alerts_token: dict[str, str]) -> None:
    firing = {"status": "firing", "key": "db-primary", "title": "Primary database unreachable", "labels": {"severity": "critical"}, "component": "auth", "description": "Connections time out."}
    answer = post(client, GENERIC, firing, alerts_token)
    assert answer["alerts"][0]["outcome"] == "opened"
    (incident,) = rows(runtime, Incident)
    assert incident.internal and incident.severity == 1 and incident.title == "Primary database unreachable"
    with runtime.session() as session:
        from statuspage.incidents.queries import affected_components

        assert [c.id for _, c in affected_components(session=session, incident_id=incident.id or 0)] == ["auth"]
    post(client, GENERIC, {"status": "resolved", "key": "db-primary"}, alerts_token)
    (alert,) = rows(runtime, Alert)
    assert alert.status == "resolved" and alert.annotations["description"] == "Connections time out."


def test_an_alert_no_rule_matches_is_kept_and_opens_nothing(client: TestClient, runtime: Runtime, alerts_token: dict[str, str]) -> None:
    answer = post(client, GENERIC, {"status": "firing", "key": "disk-80", "labels": {"severity": "warning"}}, alerts_token)
    assert answer["alerts"][0]["outcome"] == "unrouted" and answer["incidents"] == []
    unknown = {"status": "firing", "key": "x", "labels": {"severity": "critical", "component": "mainframe"}}
    answer = post(client, GENERIC, unknown, alerts_token)
    assert answer["alerts"][0]["note"] == 'label component="mainframe" names no component'
    assert rows(runtime, Incident) == [] and len(rows(runtime, Alert)) == 2


# Storms ----------------------------------------------------------------------------------------


def test_a_storm_of_one_group_is_one_incident(client: TestClient, runtime: Runtime, alerts_token: dict[str, str]) -> None:
    storm = am_group('{}/{severity="critical"}:{alertname="NodeDown"}', [am_alert("NodeDown", f"node-{i:03d}", severity="critical", component="api") for i in range(200)])
    answer = post(client, AM, storm, alerts_token)
    outcomes = [a["outcome"] for a in answer["alerts"]]
    assert outcomes[0] == "opened" and set(outcomes[1:]) == {"joined"} and len(outcomes) == 200
    (incident,) = rows(runtime, Incident)
    assert {a.incident_id for a in rows(runtime, Alert)} == {incident.id}
    # The same group's next notification, with more of its alerts: still the one incident.
    more = am_group(storm["groupKey"], [am_alert("NodeDown", f"node-{i:03d}", severity="critical", component="api") for i in range(190, 210)])
    post(client, AM, more, alerts_token)
    assert len(rows(runtime, Incident)) == 1 and len(rows(runtime, Alert)) == 210


def test_the_cap_per_rule_and_window_attaches_the_rest_to_the_latest_incident(
    client: TestClient, runtime: Runtime, alerts_token: dict[str, str]
) -> None:
    clock: FixedClock = runtime.clock  # type: ignore[assignment]
    answers = [post(client, AM, am_group(f"storm-{i}", [am_alert("Storm", f"s{i}")]), alerts_token) for i in range(5)]
    assert [a["alerts"][0]["outcome"] for a in answers] == ["opened", "opened", "opened", "capped", "capped"]
    opened = rows(runtime, Incident)
    assert len(opened) == 3
    assert answers[3]["incidents"] == answers[4]["incidents"] == [opened[-1].id]
    capped = rows(runtime, AuditEvent, AuditEvent.action == "alert.capped")
    assert len(capped) == 2 and capped[0].subject_id == "storms"
    assert capped[0].after == {"limit": 3, "window": "10m", "alerts": 1, "incident_id": opened[-1].id}
    clock.advance(minutes=11)
    later = post(client, AM, am_group("storm-later", [am_alert("Storm", "s-later")]), alerts_token)
    assert later["alerts"][0]["outcome"] == "opened" and len(rows(runtime, Incident)) == 4


def test_a_worse_alert_joining_a_group_raises_the_incident(client: TestClient, runtime: Runtime, alerts_token: dict[str, str]) -> None:
    post(client, AM, am_group("mixed", [am_alert("Storm", "m1")]), alerts_token)
    (incident,) = rows(runtime, Incident)
    assert incident.severity == 3 and rows(runtime, PageSent) == []
    post(client, AM, am_group("mixed", [am_alert("Storm", "m1"), am_alert("CheckoutDown", "m2")]), alerts_token)
    (incident,) = rows(runtime, Incident)
    assert incident.severity == 1 and rows(runtime, PageSent)  # the Sev-1 playbook pages


# Refusals --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [AM, GRAFANA, GENERIC])
def test_tokens_other_than_alerts_are_refused(client: TestClient, make_token: Callable[..., str], path: str) -> None:
    assert_problem(client.post(path, json={}), 401)
    assert_problem(client.post(path, json={}, headers={"authorization": "Bearer sp_unknown"}), 401)
    for scope in ("read", "write"):
        response = client.post(path, json={}, headers={"authorization": f"Bearer {make_token(f'{scope}-{path[-4:]}', scope)}"})
        data = assert_problem(response, 403)
        assert "alerts tokens only" in data["detail"] and "--scope alerts" in data["detail"]


def test_an_alerts_token_cannot_use_the_admin_api(client: TestClient, alerts_token: dict[str, str], runtime: Runtime) -> None:
    assert_problem(client.get("/api/admin/v1/incidents", headers=alerts_token), 403)
    body = {"severity": 1, "title": "x", "components": ["api"]}
    assert_problem(client.post("/api/admin/v1/incidents", json=body, headers=alerts_token), 403)
    assert rows(runtime, Incident) == []


def test_a_revoked_alerts_token_is_refused(client: TestClient, runtime: Runtime, make_token: Callable[..., str], make_ctx: Any) -> None:
    from statuspage.tokens import service as tokens

    secret = make_token("gone", "alerts")
    tokens.revoke_token(ctx=make_ctx("root"), name="gone")
    assert_problem(client.post(AM, json=ALERTMANAGER_FIRING, headers={"authorization": f"Bearer {secret}"}), 401)


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        (AM, {**ALERTMANAGER_FIRING, "version": "3"}, 422, "version"),
        (AM, {k: v for k, v in ALERTMANAGER_FIRING.items() if k != "alerts"}, 422, "alerts"),
        (AM, {**ALERTMANAGER_FIRING, "alerts": [{**ALERTMANAGER_FIRING["alerts"][0], "status": "pending"}]}, 422, "alerts[0].status"),
        (AM, {**ALERTMANAGER_FIRING, "alerts": [{**ALERTMANAGER_FIRING["alerts"][0], "labels": {"a": 1}}]}, 422, "alerts[0].labels.a"),
        (AM, {**ALERTMANAGER_FIRING, "alerts": [{**ALERTMANAGER_FIRING["alerts"][0], "startsAt": "yesterday"}]}, 422, "alerts[0].startsAt"),
        (AM, [ALERTMANAGER_FIRING], 422, "body"),
        (GRAFANA, ALERTMANAGER_FIRING, 422, "version"),
        (GRAFANA, {**GRAFANA_FIRING, "alerts": "none"}, 422, "alerts"),
        (GENERIC, {"status": "firing"}, 422, "key"),
        (GENERIC, {"status": "firing", "key": "k", "titel": "typo"}, 422, "titel"),
        (GENERIC, {"status": "on fire", "key": "k"}, 422, "status"),
        (GENERIC, {"status": "firing", "key": "k", "labels": ["a"]}, 422, "labels"),
        (GENERIC, "firing", 422, "body"),
        (GENERIC, {"status": "firing", "key": "a\u0000b"}, 422, "key"),
        (GENERIC, {"status": "firing", "key": "k", "group": "g\nh"}, 422, "group"),
        (AM, {**ALERTMANAGER_FIRING, "groupKey": "{}:{a=\"\u0000\"}"}, 422, "groupKey"),
        (AM, {**ALERTMANAGER_FIRING, "alerts": [{**ALERTMANAGER_FIRING["alerts"][0], "fingerprint": "f\u0000"}]}, 422, "alerts[0].fingerprint"),
    ],
)
def test_a_malformed_payload_is_a_4xx_naming_the_field(
    client: TestClient, runtime: Runtime, alerts_token: dict[str, str], path: str, body: Any, status: int, field: str
) -> None:
    assert_problem(client.post(path, json=body, headers=alerts_token), status, field)
    assert rows(runtime, AlertRequest) == [] and rows(runtime, Incident) == []


def test_not_json_wrong_type_and_wrong_method_are_problems(client: TestClient, alerts_token: dict[str, str]) -> None:
    assert_problem(client.post(AM, content=b'{"version": "4",', headers={**alerts_token, "content-type": "application/json"}), 400, "malformed JSON")
    assert_problem(client.post(AM, content=b"version=4", headers={**alerts_token, "content-type": "text/plain"}), 415)
    assert_problem(client.post(AM, content=b"{}" + b" " * (5 * 1024 * 1024), headers={**alerts_token, "content-type": "application/json"}), 413)
    response = client.get(GENERIC, headers=alerts_token)
    assert_problem(response, 405)
    assert response.headers["allow"] == "POST"


def test_every_request_is_in_the_access_audit(client: TestClient, runtime: Runtime, alerts_token: dict[str, str]) -> None:
    post(client, AM, ALERTMANAGER_FIRING, alerts_token)
    (access,) = rows(runtime, AuditEvent, AuditEvent.action == "api.request")
    assert access.actor == "token:alertmanager" and access.after is not None
    assert access.after["path"] == AM and access.after["status"] == 200 and access.after["operation"] == "alertmanagerIntake"
    changes = set(access.after["changes"])
    assert {e.id for e in rows(runtime, AuditEvent, AuditEvent.action == "alert.fire")} <= changes


# The command line --------------------------------------------------------------------------------


def test_cli_alerts_and_publish(client: TestClient, runtime: Runtime, alerts_token: dict[str, str], cli_env: dict[str, str]) -> None:
    post(client, AM, ALERTMANAGER_FIRING, alerts_token)
    post(client, GENERIC, {"status": "firing", "key": "disk", "labels": {"severity": "warning"}}, alerts_token)
    post(client, GENERIC, {"status": "resolved", "key": "disk"}, alerts_token)
    runner = CliRunner(env=cli_env)

    def run(*args: str) -> Any:
        return runner.invoke(incident_main, list(args), prog_name="incident", catch_exceptions=False)

    listed = run("alerts", "--json")
    assert listed.exit_code == 0, listed.output
    data = json.loads(listed.output)["alerts"]
    assert [(a["source"], a["status"]) for a in data] == [("generic", "resolved"), ("alertmanager", "firing")]
    (incident,) = rows(runtime, Incident)
    assert data[1]["incident"] == {"id": incident.id, "title": "API error rate above 5%", "status": "investigating", "severity": 1, "internal": True}
    firing = run("alerts", "--open")
    assert firing.exit_code == 0 and "API error rate above 5%" in firing.output and "disk" not in firing.output
    assert f"#{incident.id} sev1 investigating internal" in firing.output

    published = run("publish", str(incident.id))
    assert published.exit_code == 0, published.output
    assert published.output.splitlines()[-1] == f"http://127.0.0.1:8000/incidents/{incident.id}"
    assert "API: operational → major_outage" in published.output
    (event,) = rows(runtime, AuditEvent, AuditEvent.action == "incident.publish")
    assert event.actor == "alice" and event.subject_id == str(incident.id)
    again = run("publish", str(incident.id))
    assert again.exit_code == 2 and again.output.strip() == f"incident: incident {incident.id} is already public"
    missing = run("publish", "999")
    assert missing.exit_code == 2 and "no incident 999" in missing.output
    remote = CliRunner(env={**cli_env, "STATUSPAGE_URL": "http://127.0.0.1:9", "STATUSPAGE_TOKEN": "sp_x"})
    refused = remote.invoke(incident_main, ["alerts"], prog_name="incident")
    assert refused.exit_code == 2 and len(refused.output.strip().splitlines()) == 1


def test_token_create_takes_the_alerts_scope(cli_env: dict[str, str], runtime: Runtime) -> None:
    from statuspage.db.models import ApiToken

    result = CliRunner(env=cli_env).invoke(incident_main, ["token", "create", "--name", "grafana", "--scope", "alerts"], prog_name="incident")
    assert result.exit_code == 0, result.output
    (token,) = rows(runtime, ApiToken)
    assert token.scope == "alerts" and result.stdout.strip().startswith(token.prefix)
    wrong = CliRunner(env=cli_env).invoke(incident_main, ["token", "create", "--name", "x", "--scope", "admin"], prog_name="incident")
    assert wrong.exit_code == 2 and "'read', 'write', 'alerts'" in wrong.output


# Rules and their configuration --------------------------------------------------------------------


def test_routing_takes_the_first_matching_rule_and_its_component() -> None:
    import re

    rules = [
        Rule(name="one", severity=1, match={"severity": "critical"}, component_label="component"),
        Rule(name="two", severity=2, match_re={"env": re.compile("prod|staging")}, component="web", component_label="service"),
    ]
    components = {"api", "web"}
    assert route({"severity": "critical", "component": "api"}, rules, components) == route({"severity": "critical", "component": "api"}, rules[:1], components)
    routed = route({"severity": "critical", "component": "api"}, rules, components)
    assert routed is not None and (routed.rule.name, routed.component) == ("one", "api")
    routed = route({"severity": "critical", "env": "production"}, rules, components)
    assert routed is None  # no component label for the first; "production" is not a whole match for the second
    routed = route({"env": "prod", "service": "nope"}, rules, components)
    assert routed is not None and (routed.rule.name, routed.component) == ("two", "web")


@pytest.mark.parametrize(
    ("rule", "where", "words"),
    [
        ({"name": "x", "severity": 7, "component": "api"}, "alerts.rules[0].severity", "no severity sev7 is defined"),
        ({"name": "x", "severity": 1, "component": "mainframe"}, "alerts.rules[0].component", 'no component "mainframe"'),
        ({"name": "x", "severity": "high", "component": "api"}, "alerts.rules[0].severity", "is not a severity"),
        ({"name": "x", "severity": 1}, "alerts.rules[0]", "a rule names its component"),
        ({"name": "x", "severity": 1, "component": "api", "match_re": {"env": "(prod"}}, "alerts.rules[0].match_re.env", "is not a regular expression"),
        ({"name": "x", "severity": 1, "component": "api", "set_component_status": "down"}, "alerts.rules[0].set_component_status", ""),
        ({"name": "x", "severity": 1, "component": "api", "publish": "maybe"}, "alerts.rules[0].publish", ""),
        ({"name": "x", "severity": 1, "component": "api", "colour": "red"}, "alerts.rules[0].colour", ""),
    ],
)
def test_rules_are_validated_with_file_and_line(config_file: Path, rule: dict[str, Any], where: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(with_rules(config_file, [rule]))
    (line,) = caught.value.lines
    assert line.startswith(f"{config_file}:") and f": {where}: " in line and words in line, line


def test_the_shipped_rule_routes_critical_alerts_with_a_component() -> None:
    config = load_settings(Path(__file__).resolve().parent.parent / "statuspage.yaml").config
    (rule,) = config.alerts.routing_rules()
    components = {c.id for c in config.components}
    routed = route({"severity": "critical", "component": "checkout"}, [rule], components)
    assert routed is not None and (routed.rule.severity, routed.component, routed.rule.publish) == (1, "checkout", False)
    assert route({"severity": "critical"}, [rule], components) is None
    assert route({"severity": "warning", "component": "api"}, [rule], components) is None


def test_the_same_request_twice_at_once_opens_one_incident(runtime: Runtime, make_ctx: Any) -> None:
    """Two deliveries racing each other (a retry, or both Alertmanagers of a cluster): writers take
    turns on the data version, so the second sees the first and is a duplicate."""
    import threading

    from statuspage.alerts import payloads
    from statuspage.alerts import service as alerts

    batch = payloads.parse("alertmanager", ALERTMANAGER_FIRING)
    contexts = [make_ctx("token:am") for _ in range(2)]
    answers: list[dict[str, Any]] = []
    start = threading.Barrier(2)

    def deliver(ctx: Any) -> None:
        start.wait()
        answers.append(alerts.receive(ctx=ctx, batch=batch, body=ALERTMANAGER_FIRING))

    threads = [threading.Thread(target=deliver, args=(ctx,)) for ctx in contexts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(a["duplicate"] for a in answers) == [False, True]
    assert len(rows(runtime, Incident)) == 1 and len(rows(runtime, Alert)) == 1


# Text with NULs and other control characters often: PostgreSQL refuses a NUL in a text column.
# (No lone surrogates: JSON can carry them, but the test client cannot encode them to send.)
TEXT = st.text(alphabet=st.sampled_from("a-/{}\"=\x00\x1f\n é") | st.characters(exclude_categories=("Cs",)), max_size=30)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False, allow_infinity=False) | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


def mutations(sample: dict[str, Any]) -> st.SearchStrategy[Any]:
    """The sample with one field (at the top, or of its first alert) replaced, dropped, or the
    whole body replaced by anything JSON."""
    alert_keys = sorted(sample["alerts"][0]) if "alerts" in sample else []

    def replace(key: str, value: Any, in_alert: bool, drop: bool) -> dict[str, Any]:
        body = copy.deepcopy(sample)
        target = body["alerts"][0] if in_alert and alert_keys else body
        if drop:
            target.pop(key, None)
        else:
            target[key] = value
        return body

    keys = st.sampled_from(sorted(sample)) | st.sampled_from(alert_keys or sorted(sample))
    return JSON_VALUES | st.builds(replace, keys, JSON_VALUES, st.booleans(), st.booleans())


GENERIC_SAMPLE = {"status": "firing", "key": "k", "title": "t", "labels": {"a": "b"}, "component": "api", "group": "g", "starts_at": "2026-11-25T07:00:00Z", "url": "http://x"}


@pytest.mark.parametrize(("path", "sample"), [(AM, ALERTMANAGER_FIRING), (GRAFANA, GRAFANA_FIRING), (GENERIC, GENERIC_SAMPLE)])
def test_whatever_is_posted_the_answer_is_never_a_500(
    client: TestClient, alerts_token: dict[str, str], path: str, sample: dict[str, Any]
) -> None:
    @given(body=mutations(sample))
    @hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    def check(body: Any) -> None:
        response = client.post(path, json=body, headers=alerts_token)
        assert response.status_code in (200, 400, 422), response.text
        if response.status_code != 200:
            assert response.headers["content-type"] == "application/problem+json"
            assert "\n" not in response.json()["detail"]

    check()
