"""The admin API as a script or another service calls it: tokens, every answer code, the audit trail.

Also the token service and the ``incident token`` commands, which make the tokens the API checks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select
from starlette.testclient import TestClient

from incident_cli.main import main as incident_main
from statuspage.clock import FixedClock
from statuspage.context import WriteContext
from statuspage.db.engine import new_session
from statuspage.db.models import ApiToken, AuditEvent, Incident
from statuspage.errors import Conflict, InvalidInput, NotFound
from statuspage.oncall.engine import ONCALL_ACTIONS
from statuspage.reports import kpis
from statuspage.runtime import Runtime
from statuspage.tokens import service as tokens
from statuspage.web.admin.calls import PREFIX
from statuspage.web.admin.operations import OPERATIONS
from statuspage.web.app import create_app

API = PREFIX
XSS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "]]> & {{ 7*7 }}"]


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime.settings, runtime.engine)) as test_client:
        yield test_client


@pytest.fixture
def writer(make_token: Callable[..., str]) -> dict[str, str]:
    return {"authorization": f"Bearer {make_token('ci', 'write')}"}


@pytest.fixture
def reader(make_token: Callable[..., str]) -> dict[str, str]:
    return {"authorization": f"Bearer {make_token('dashboard', 'read')}"}


def declare(client: TestClient, headers: dict[str, str], **fields: Any) -> Any:
    body = {"severity": 1, "title": "Checkout failing", "components": ["api"], **fields}
    return client.post(f"{API}/incidents", json=body, headers=headers)


def assert_problem(response: Any, status: int, words: str = "") -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    data = response.json()
    assert data["status"] == status and data["title"] and "\n" not in data["detail"]
    assert words in data["detail"], data["detail"]
    return data


# Authentication ------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [("GET", "/incidents"), ("POST", "/incidents"), ("GET", "/audit"), ("PUT", "/components/api")])
def test_missing_token_is_401_with_bearer_challenge(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, API + path, json={})
    assert_problem(response, 401, "Authorization: Bearer")
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    ["Bearer sp_not-a-real-token", "Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer", "bearer  " + "x" * 5000],
)
def test_wrong_token_is_401(client: TestClient, writer: dict[str, str], header: str) -> None:
    response = client.get(f"{API}/incidents", headers={"authorization": header})
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "error=" in response.headers["www-authenticate"]


def test_revoked_token_is_401(client: TestClient, writer: dict[str, str], ctx: WriteContext) -> None:
    assert client.get(f"{API}/incidents", headers=writer).status_code == 200
    tokens.revoke_token(ctx=ctx, name="ci")
    response = client.get(f"{API}/incidents", headers=writer)
    assert_problem(response, 401, "revoked")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_read_token_reads_but_may_not_write(client: TestClient, reader: dict[str, str]) -> None:
    assert client.get(f"{API}/incidents", headers=reader).status_code == 200
    assert client.get(f"{API}/components", headers=reader).status_code == 200
    assert client.get(f"{API}/audit", headers=reader).status_code == 200
    response = declare(client, reader)
    assert_problem(response, 403, "may only read")
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert client.get("/api/v2/summary.json").json()["incidents"] == []


def test_token_endpoint_says_who_is_calling(client: TestClient, reader: dict[str, str]) -> None:
    data = client.get(f"{API}/token", headers={**reader, "x-incident-user": "alice"}).json()
    assert data["token"]["name"] == "dashboard" and data["token"]["scope"] == "read"
    assert data["actor"] == "alice via token:dashboard"
    assert data["page"]["time_zone"] == "America/New_York"
    assert "token_hash" not in json.dumps(data)


# Writing -------------------------------------------------------------------------------------


def test_declare_appears_in_the_public_summary(client: TestClient, writer: dict[str, str]) -> None:
    response = declare(client, writer, message="Payments fail.")
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"{API}/incidents/1"
    incident = response.json()["incident"]
    assert (incident["id"], incident["name"], incident["status"], incident["impact"]) == ("1", "Checkout failing", "investigating", "critical")
    assert incident["shortlink"] == "http://127.0.0.1:8000/incidents/1"
    assert incident["admin"]["components"] == {"api": "major_outage"}

    summary = client.get("/api/v2/summary.json").json()
    assert summary["status"]["indicator"] == "critical"
    assert [i["name"] for i in summary["incidents"]] == ["Checkout failing"]
    assert next(c for c in summary["components"] if c["id"] == "api")["status"] == "major_outage"
    assert summary["incidents"][0]["incident_updates"][0]["body"] == "Payments fail."


def test_audit_events_name_the_token_and_the_person(client: TestClient, writer: dict[str, str]) -> None:
    declare(client, writer)
    client.post(f"{API}/incidents/1/acknowledge", headers={**writer, "x-incident-user": "Zoë".encode()})
    events = client.get(f"{API}/audit", headers=writer).json()["audit_events"]
    by_action = {e["action"]: e for e in events}
    assert by_action["incident.declare"]["actor"] == "token:ci"
    assert by_action["incident.declare"]["source"] == "api"
    assert by_action["incident.acknowledge"]["actor"] == "Zoë via token:ci"
    assert by_action["incident.acknowledge"]["after"]["acknowledged_by"] == "Zoë"
    shown = client.get(f"{API}/incidents/1", headers=writer).json()
    assert shown["incident"]["admin"]["commander"] == "token:ci"
    own = [e["action"] for e in shown["audit_events"] if e["action"] not in ONCALL_ACTIONS]  # not the paging
    assert own == ["incident.declare", "incident.acknowledge"]


def test_the_person_named_commands_by_default(client: TestClient, writer: dict[str, str]) -> None:
    response = client.post(
        f"{API}/incidents",
        json={"severity": 2, "title": "Slow", "components": {"web": None}},
        headers={**writer, "x-incident-user": "alice"},
    )
    admin = response.json()["incident"]["admin"]
    assert (admin["commander"], admin["declared_by"]) == ("alice", "alice via token:ci")


def test_update_resolve_reopen_acknowledge_handover(client: TestClient, writer: dict[str, str]) -> None:
    declare(client, writer)
    updated = client.patch(f"{API}/incidents/1", json={"status": "identified", "message": "Bad deploy."}, headers=writer)
    assert updated.status_code == 200, updated.text
    assert updated.json()["incident_update"]["body"] == "Bad deploy."
    assert updated.json()["incident"]["status"] == "identified"

    acknowledged = client.post(f"{API}/incidents/1/acknowledge", json={"by": "bob"}, headers=writer).json()
    assert acknowledged["acknowledged"] is True and acknowledged["incident"]["admin"]["acknowledged_by"] == "bob"
    again = client.post(f"{API}/incidents/1/acknowledge", headers=writer).json()
    assert again["acknowledged"] is False and again["incident"]["admin"]["acknowledged_by"] == "bob"

    handed = client.post(f"{API}/incidents/1/handover", json={"to": "Chen Wei"}, headers=writer)
    assert handed.json()["incident"]["admin"]["commander"] == "Chen Wei"

    resolved = client.post(f"{API}/incidents/1/resolve", headers=writer)  # no body at all
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["incident_update"]["affected_components"] == [
        {"code": "api", "name": "API", "old_status": "major_outage", "new_status": "operational"}
    ]
    assert client.get("/api/v2/status.json").json()["status"]["indicator"] == "none"

    reopened = client.post(f"{API}/incidents/1/reopen", json={"message": "Back.", "status": "identified"}, headers=writer)
    assert reopened.json()["incident"]["status"] == "identified"
    listed = client.get(f"{API}/incidents", params={"open": "true"}, headers=writer).json()
    assert [i["id"] for i in listed["incidents"]] == ["1"]


def test_components_and_maintenance(client: TestClient, writer: dict[str, str], runtime: Runtime) -> None:
    listed = client.get(f"{API}/components", headers=writer).json()["components"]
    assert listed[0]["id"] == "api" and listed[0]["status"] == "operational"
    changed = client.put(f"{API}/components/web", json={"status": "degraded_performance"}, headers=writer).json()
    assert [(c["code"], c["old_status"], c["new_status"]) for c in changed["changes"]] == [("web", "operational", "degraded_performance")]
    assert changed["component"]["admin"]["base_status"] == "degraded_performance"

    now = runtime.clock.now()
    scheduled = client.post(
        f"{API}/maintenances",
        json={
            "title": "DB upgrade",
            "components": ["api"],
            "scheduled_for": (now + timedelta(days=1)).isoformat(),
            "scheduled_until": (now + timedelta(days=1, hours=2)).isoformat(),
        },
        headers=writer,
    )
    assert scheduled.status_code == 201, scheduled.text
    window = scheduled.json()["scheduled_maintenance"]
    assert (window["id"], window["admin"]["id"], window["status"]) == ("m1", 1, "scheduled")
    assert scheduled.headers["location"] == f"{API}/maintenances/1"
    moved = client.patch(f"{API}/maintenances/m1", json={"status": "in_progress"}, headers=writer)
    assert moved.json()["scheduled_maintenance"]["status"] == "in_progress"
    assert client.get(f"{API}/maintenances/1", headers=writer).json()["scheduled_maintenance"]["status"] == "in_progress"
    api = next(c for c in client.get("/api/v2/summary.json").json()["components"] if c["id"] == "api")
    assert api["status"] == "under_maintenance"


# Every refusal -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "detail"),
    [
        ({"severity": 7}, "severity", "severity: must be 1-4"),
        ({"severity": "1"}, "severity", "severity: must be 1-4"),
        ({"severity": True}, "severity", "severity: must be 1-4"),
        ({"title": ""}, "title", "title: must not be empty"),
        ({"title": "x" * 201}, "title", "title: must be at most 200 characters"),
        ({"title": 5}, "title", "title: must be a string"),
        ({"title": "a\x00b"}, "title", "title: must be one line without control characters"),
        ({"components": []}, "components", "components: "),
        ({"components": "api"}, "components", "components: must be a list of component ids"),
        ({"components": [1]}, "components", "components: each component id must be a string"),
        ({"components": {"api": "broken"}}, "components.api", "components.api: must be one of"),
        ({"components": ["nope"]}, "components", "unknown component 'nope'"),
        ({"components": ["a\x00b"]}, "components", "must not contain control characters"),
        ({"detected_at": "2026-11-25T08:00:00"}, "detected_at", "detected_at: must carry a time zone offset"),
        ({"detected_at": "yesterday"}, "detected_at", "detected_at: must be an ISO 8601 time"),
        ({"detected_at": "2099-01-01T00:00:00Z"}, "detected_at", "is in the future"),
        ({"detected_at": "0001-01-01T00:00:00+14:00"}, "detected_at", "detected_at: must be between the years 1970 and 9000"),
        ({"impact": "maintenance"}, "impact", "impact: must be one of"),
        ({"colour": "red"}, "colour", "colour: is not a field of this request"),
    ],
)
def test_invalid_declarations_are_422_naming_the_field(client: TestClient, writer: dict[str, str], body: dict[str, Any], field: str, detail: str) -> None:
    data = assert_problem(declare(client, writer, **body), 422, detail)
    assert data["detail"].startswith(field)
    assert any(e["field"].startswith(field) for e in data["errors"])
    assert client.get(f"{API}/incidents", headers=writer).json()["incidents"] == []


def test_every_problem_is_listed(client: TestClient, writer: dict[str, str]) -> None:
    data = assert_problem(client.post(f"{API}/incidents", json={"title": 3}, headers=writer), 422)
    assert {e["field"] for e in data["errors"]} == {"severity", "title", "components"}
    assert "(and 2 more)" in data["detail"]


@pytest.mark.parametrize("body", [[1, 2], "text", 3, None])
def test_a_body_that_is_not_an_object_is_422(client: TestClient, writer: dict[str, str], body: Any) -> None:
    response = client.post(f"{API}/incidents", content=json.dumps(body), headers={**writer, "content-type": "application/json"})
    assert_problem(response, 422, "body: must be a JSON object")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b'{"severity": 1,', "malformed JSON"),
        (b"{'severity': 1}", "malformed JSON"),
        (b'{"severity": NaN}', "NaN is not a JSON number"),
        (b"\xff\xfe{}", "not valid UTF-8"),
        (b'{"title": "\\ud800"}', "unpaired surrogate"),
        (b"[" * 100_000 + b"]" * 100_000, "malformed JSON"),
    ],
)
def test_malformed_json_is_400(client: TestClient, writer: dict[str, str], content: bytes, words: str) -> None:
    response = client.post(f"{API}/incidents", content=content, headers={**writer, "content-type": "application/json"})
    assert_problem(response, 400, words)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None, "application/json; charset=latin-1"])
def test_wrong_content_type_is_415(client: TestClient, writer: dict[str, str], content_type: str | None) -> None:
    headers = dict(writer)
    if content_type:
        headers["content-type"] = content_type
    response = client.post(f"{API}/incidents", content=b'{"severity": 1}', headers=headers)
    assert_problem(response, 415, "application/json" if "charset" not in (content_type or "") else "UTF-8")


def test_json_with_charset_and_problem_json_types_are_accepted(client: TestClient, writer: dict[str, str]) -> None:
    body = json.dumps({"severity": 1, "title": "x", "components": ["api"]}).encode()
    response = client.post(f"{API}/incidents", content=body, headers={**writer, "content-type": "application/json; charset=UTF-8"})
    assert response.status_code == 201, response.text


def test_too_large_a_body_is_413(client: TestClient, writer: dict[str, str]) -> None:
    response = declare(client, writer, message="x" * 300_000)
    assert_problem(response, 413)


@pytest.mark.parametrize(
    ("method", "path", "words"),
    [
        ("GET", "/incidents/42", "no incident 42"),
        ("GET", "/incidents/abc", "incident ids are numbers"),
        ("GET", "/incidents/99999999999999999999999", "no incident"),
        ("GET", "/incidents/%C2%B2", "incident ids are numbers"),  # '²' is a digit to str.isdigit, not to int
        ("PATCH", "/incidents/42", "no incident 42"),
        ("POST", "/incidents/42/resolve", "no incident 42"),
        ("POST", "/incidents/42/reopen", "no incident 42"),
        ("POST", "/incidents/42/acknowledge", "no incident 42"),
        ("PUT", "/components/nope", "unknown component 'nope'"),
        ("PUT", "/components/a%00b", "unknown component"),
        ("PATCH", "/maintenances/m9", "no maintenance 9"),
        ("GET", "/nothing", "no such endpoint"),
    ],
)
def test_unknown_things_are_404(client: TestClient, writer: dict[str, str], method: str, path: str, words: str) -> None:
    body = {"message": "x"} if method == "PATCH" and "incidents" in path else {"status": "completed"} if "maintenances" in path else {}
    if method == "PUT":
        body = {"status": "major_outage"}
    assert_problem(client.request(method, API + path, json=body, headers=writer), 404, words)


def test_state_conflicts_are_409(client: TestClient, writer: dict[str, str]) -> None:
    declare(client, writer)
    assert_problem(client.post(f"{API}/incidents/1/reopen", headers=writer), 409, "still open")
    client.post(f"{API}/incidents/1/resolve", headers=writer)
    assert_problem(client.post(f"{API}/incidents/1/resolve", headers=writer), 409, "already resolved")
    assert_problem(client.patch(f"{API}/incidents/1", json={"message": "more"}, headers=writer), 409, "reopen it before posting")


def test_empty_update_and_bad_query_are_422(client: TestClient, writer: dict[str, str]) -> None:
    declare(client, writer)
    assert_problem(client.patch(f"{API}/incidents/1", json={}, headers=writer), 422, "body: give message, status or components")
    assert_problem(client.patch(f"{API}/incidents/1", json={"status": "fixed"}, headers=writer), 422, "status: must be one of")
    assert_problem(client.get(f"{API}/incidents", params={"limit": "lots"}, headers=writer), 422, "limit: must be an integer")
    assert_problem(client.get(f"{API}/incidents", params={"limit": "0"}, headers=writer), 422, "limit: must be at least 1")
    assert_problem(client.get(f"{API}/audit", params={"subject_id": "a\x00"}, headers=writer), 422, "subject_id")
    far = {"title": "x", "components": ["api"], "scheduled_for": "9999-12-31T23:00:00-14:00", "scheduled_until": "9999-12-31T23:30:00-14:00"}
    assert_problem(client.post(f"{API}/maintenances", json=far, headers=writer), 422, "scheduled_for: must be between the years")
    too_long = {**writer, "x-incident-user": "x" * 81}
    assert_problem(client.post(f"{API}/incidents/1/acknowledge", headers=too_long), 422, "X-Incident-User")


def test_wrong_method_is_405_with_allow(client: TestClient, writer: dict[str, str]) -> None:
    response = client.delete(f"{API}/incidents", headers=writer)
    assert_problem(response, 405)
    assert response.headers["allow"] == "GET, POST"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    body=st.dictionaries(
        st.sampled_from(["severity", "title", "components", "message", "commander", "detected_at", "impact", "extra"]),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
            lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
            max_leaves=6,
        ),
    )
)
def test_no_input_gives_a_500(client: TestClient, writer: dict[str, str], body: dict[str, Any]) -> None:
    response = client.post(f"{API}/incidents", json=body, headers=writer)
    assert response.status_code in (201, 422), response.text


# Untrusted text ------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", XSS)
def test_untrusted_text_is_stored_verbatim_and_escaped_in_json(client: TestClient, writer: dict[str, str], runtime: Runtime, payload: str) -> None:
    response = declare(client, writer, title=payload, message=payload)
    assert response.status_code == 201
    assert "<" not in response.text and ">" not in response.text
    assert response.json()["incident"]["name"] == payload
    raw = client.get(f"{API}/audit", headers=writer).text
    declared = next(e for e in json.loads(raw)["audit_events"] if e["action"] == "incident.declare")
    assert "<" not in raw and declared["after"]["title"] == payload
    with new_session(runtime.engine) as session:
        assert session.exec(select(Incident)).one().title == payload
    public = client.get("/api/v2/summary.json")
    assert json.loads(public.text)["incidents"][0]["name"] == payload


# OpenAPI -------------------------------------------------------------------------------------


def test_openapi_lists_every_route(client: TestClient) -> None:
    response = client.get(f"{API}/openapi.json")  # public: it describes, it does not reveal
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    for operation in OPERATIONS:
        entry = document["paths"][operation.full_path][operation.method.lower()]
        assert entry["operationId"] == operation.operation_id
        if operation.body is not None:
            ref = entry["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            assert ref.rsplit("/", 1)[1] in document["components"]["schemas"]
    declare_schema = document["components"]["schemas"]["DeclareIncident"]
    assert declare_schema["additionalProperties"] is False
    assert declare_schema["properties"]["severity"]["enum"] == [1, 2, 3, 4]
    routed = {route.path for route in client.app.routes if getattr(route, "path", "").startswith(API)}  # type: ignore[attr-defined]
    assert routed == set(document["paths"])


def test_openapi_document_is_valid(client: TestClient) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(client.get(f"{API}/openapi.json").json())


# The token service ---------------------------------------------------------------------------


def test_only_the_hash_is_kept(ctx: WriteContext, runtime: Runtime) -> None:
    token, secret = tokens.create_token(ctx=ctx, name="ci", scope="write")
    assert secret.startswith("sp_") and len(secret) > 40
    assert token.token_hash == tokens.hash_secret(secret) and len(token.token_hash) == 64
    assert secret.startswith(token.prefix)
    with new_session(runtime.engine) as session:
        stored = session.exec(select(ApiToken)).one()
        events = session.exec(select(AuditEvent)).all()
    assert secret not in json.dumps(stored.model_dump(mode="json"))
    (event,) = [e for e in events if e.action == "token.create"]
    assert event.actor == "alice" and event.after == {"name": "ci", "scope": "write", "prefix": token.prefix}
    assert secret[len(token.prefix):] not in json.dumps([e.after for e in events])


def test_authenticate(ctx: WriteContext, runtime: Runtime, clock: FixedClock) -> None:
    _, secret = tokens.create_token(ctx=ctx, name="ci", scope="read")
    with new_session(runtime.engine) as session:
        assert tokens.authenticate(session, "sp_" + "x" * 43, clock.now()) is None
        assert tokens.authenticate(session, secret + "x", clock.now()) is None
        assert tokens.authenticate(session, "", clock.now()) is None
        first = tokens.authenticate(session, secret, clock.now())
        assert first is not None and first.last_used_at == clock.now()
        start = clock.now()
        clock.advance(seconds=30)
        assert tokens.authenticate(session, secret, clock.now()) is not None
    with new_session(runtime.engine) as session:
        assert session.exec(select(ApiToken)).one().last_used_at == start  # not written twice within a minute
        clock.advance(seconds=31)
        tokens.authenticate(session, secret, clock.now())
    with new_session(runtime.engine) as session:
        assert session.exec(select(ApiToken)).one().last_used_at == clock.now()
    tokens.revoke_token(ctx=ctx, name="ci")
    with new_session(runtime.engine) as session:
        assert tokens.authenticate(session, secret, clock.now()) is None


def test_token_names_scopes_and_revocation(ctx: WriteContext) -> None:
    tokens.create_token(ctx=ctx, name="ci", scope="write")
    with pytest.raises(Conflict, match="already exists"):
        tokens.create_token(ctx=ctx, name="ci", scope="read")
    with pytest.raises(InvalidInput, match="not a token name"):
        tokens.create_token(ctx=ctx, name="two words", scope="read")
    with pytest.raises(InvalidInput, match="not a token scope"):
        tokens.create_token(ctx=ctx, name="other", scope="admin")
    with pytest.raises(NotFound):
        tokens.revoke_token(ctx=ctx, name="nope")
    tokens.revoke_token(ctx=ctx, name="ci")
    with pytest.raises(Conflict, match="already revoked"):
        tokens.revoke_token(ctx=ctx, name="ci")
    with pytest.raises(Conflict, match="revoked"):
        tokens.create_token(ctx=ctx, name="ci", scope="write")
    assert [t.name for t in tokens.list_tokens(session=ctx.session)] == ["ci"]


# The token commands --------------------------------------------------------------------------


def test_token_commands(cli_env: dict[str, str], client: TestClient) -> None:
    runner = CliRunner(env=cli_env)

    def run(*args: str) -> Any:
        return runner.invoke(incident_main, list(args), prog_name="incident", catch_exceptions=False)

    created = run("token", "create", "--name", "ci", "--scope", "write")
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip()
    assert secret.startswith("sp_") and "\n" not in secret
    assert "will not be shown again" in created.stderr
    assert "Created write token ci (sp_" in created.stderr

    listing = run("token", "list")
    assert listing.exit_code == 0
    assert "ci" in listing.stdout and secret[:11] in listing.stdout and secret not in listing.stdout
    assert client.get(f"{API}/incidents", headers={"authorization": f"Bearer {secret}"}).status_code == 200

    revoked = run("token", "revoke", "ci")
    assert revoked.exit_code == 0 and "Revoked token ci" in revoked.stdout
    assert client.get(f"{API}/incidents", headers={"authorization": f"Bearer {secret}"}).status_code == 401

    again = run("token", "revoke", "ci")
    assert again.exit_code == 2 and "already revoked" in again.stderr
    duplicate = run("token", "create", "--name", "ci", "--scope", "read")
    assert duplicate.exit_code == 2 and "already exists" in duplicate.stderr
    remote = run("--server", "http://127.0.0.1:9", "token", "list")
    assert remote.exit_code == 2 and "without --server" in remote.stderr


def test_root_cause_is_published_on_the_incident_and_the_sla_page(client: TestClient, writer: dict[str, str], reader: dict[str, str]) -> None:
    declare(client, writer)
    body = {"root_cause": "<b>Expired</b> certificate.", "remediation": "Alert 30 days before expiry."}
    assert_problem(client.post(f"{API}/incidents/1/root-cause", json=body, headers=reader), 403)
    published = client.post(f"{API}/incidents/1/root-cause", json=body, headers=writer)
    assert published.status_code == 200, published.text
    assert published.json()["incident"]["admin"]["root_cause"] == "<b>Expired</b> certificate."
    assert client.get("/incidents/1.json").json()["root_cause"] == "<b>Expired</b> certificate."
    assert "&lt;b&gt;Expired&lt;/b&gt; certificate." in client.get("/incidents/1").text
    assert_problem(client.post(f"{API}/incidents/1/root-cause", json={}, headers=writer), 422, "root cause")
    assert_problem(client.post(f"{API}/incidents/9/root-cause", json=body, headers=writer), 404)


# On call, postmortems and reports ------------------------------------------------------------


def test_declare_escalate_and_severity_say_whom_they_paged(client: TestClient, writer: dict[str, str]) -> None:
    declared = declare(client, writer)
    assert declared.status_code == 201, declared.text
    paging = declared.json()["paging"]
    assert [(p["tier"], p["owner"]) for p in paging["pages"]][:2] == [(1, "Ana Ruiz"), (1, "Ana Ruiz")]
    assert {p["owner"] for p in paging["pages"]} == {"Ana Ruiz", "Ben Okafor"}
    assert paging["next_step_at"] and declared.json()["warnings"] == []

    escalated = client.post(f"{API}/incidents/1/escalate", headers=writer)  # no body: the next tier
    assert escalated.status_code == 200, escalated.text
    assert escalated.json()["escalated_to_tier"] == 2
    assert {p["owner"] for p in escalated.json()["paging"]["pages"]} == {"Chen Wei", "Dana Kowalski"}
    assert_problem(client.post(f"{API}/incidents/1/escalate", json={"to_tier": 7}, headers=writer), 422, "no escalation tier 7")

    quiet = declare(client, writer, severity=3, title="Typo")
    assert quiet.json()["paging"] == {"pages": [], "next_step_at": None, "not_paged": []}
    raised = client.post(f"{API}/incidents/2/severity", json={"severity": "sev2"}, headers=writer).json()
    assert raised["severity_change"] == {"from": 3, "to": 2, "playbook": "sev2"}
    assert raised["incident"]["admin"]["severity"] == 2 and raised["paging"]["pages"]
    lowered = client.post(f"{API}/incidents/2/severity", json={"severity": 4}, headers=writer).json()
    assert lowered["severity_change"] == {"from": 2, "to": 4, "playbook": None} and lowered["paging"]["pages"] == []

    named = declare(client, writer, severity=4, title="Named", playbook="sev1")
    assert named.status_code == 201 and named.json()["paging"]["pages"]
    assert_problem(declare(client, writer, playbook="nope"), 422, "no playbook 'nope' (known: sev1, sev2)")


def test_a_refusal_of_the_service_layer_carries_its_own_words(client: TestClient, writer: dict[str, str]) -> None:
    declare(client, writer)
    data = assert_problem(client.post(f"{API}/incidents/1/severity", json={"severity": "9"}, headers=writer), 422)
    assert data["detail"] == "severity: '9' is not a severity; use one of 1, 2, 3, 4"
    assert data["message"] == "'9' is not a severity; use one of 1, 2, 3, 4"
    conflict = assert_problem(client.post(f"{API}/incidents/1/severity", json={"severity": 1}, headers=writer), 409)
    assert conflict["message"] == conflict["detail"] == "incident 1 is already sev1"
    schema = assert_problem(client.post(f"{API}/incidents/1/severity", json={"severity": True}, headers=writer), 422)
    assert "message" not in schema  # the request's shape, not the service, was refused


def test_postmortem_analysis_document_and_action_items(client: TestClient, writer: dict[str, str], reader: dict[str, str]) -> None:
    declare(client, writer)
    body = {"root_cause": "Expired cert.", "factors": ["Muted channel"], "whys": ["Cert expired", "Renewal manual"], "detection_gap": "20m"}
    analysed = client.post(f"{API}/incidents/1/analysis", json=body, headers=writer)
    assert analysed.status_code == 200, analysed.text
    postmortem = analysed.json()["postmortem"]
    assert [f["text"] for f in postmortem["contributing_factors"]] == ["Muted channel"]
    assert postmortem["why_chain"] == ["Cert expired", "Renewal manual"] and postmortem["detection_gap"] == "20m"
    assert analysed.json()["incident"]["admin"]["root_cause"] == "Expired cert."
    assert_problem(client.post(f"{API}/incidents/1/analysis", json={}, headers=writer), 422, "give root_cause")

    added = client.post(f"{API}/incidents/1/actions", json={"title": "Alert on expiry", "owner": "bob", "due": "2001-02-03"}, headers=writer)
    assert added.status_code == 201, added.text
    assert added.headers["location"] == f"{API}/actions/1"
    assert added.json()["action_item"] == {
        **added.json()["action_item"], "id": 1, "incident_id": 1, "due_on": "2001-02-03", "status": "open", "done_at": None
    }
    assert_problem(
        client.post(f"{API}/incidents/1/actions", json={"title": "x", "owner": "bob", "due": "soon"}, headers=writer), 422, "not a date"
    )
    overdue = client.get(f"{API}/actions", params={"overdue": "true"}, headers=reader).json()["action_items"]
    assert [item["title"] for item in overdue] == ["Alert on expiry"]
    assert client.get(f"{API}/actions/1", headers=reader).json()["action_item"]["owner"] == "bob"
    assert_problem(client.post(f"{API}/actions/1/done", headers=reader), 403)
    done = client.post(f"{API}/actions/1/done", headers=writer).json()["action_item"]
    assert done["status"] == "done" and done["done_at"]
    assert_problem(client.post(f"{API}/actions/1/done", headers=writer), 409, "already done")
    assert client.get(f"{API}/actions", params={"open": "true"}, headers=reader).json()["action_items"] == []

    document = client.get(f"{API}/incidents/1/postmortem", headers=reader).json()["postmortem"]
    assert document["filename"].endswith("-checkout-failing.md") and document["published_at"] is None
    assert document["markdown"].startswith("# Postmortem: Checkout failing (incident 1)")
    assert "<!-- narrative:summary -->" in document["markdown"]
    assert_problem(client.post(f"{API}/incidents/1/postmortem/publish", headers=reader), 403)
    published = client.post(f"{API}/incidents/1/postmortem/publish", headers=writer).json()
    assert published["postmortem"]["published_at"] and "- **Postmortem:** published " in published["postmortem"]["markdown"]
    assert published["incident"]["id"] == "1"


def test_monthly_report_and_its_slack_summary(
    client: TestClient, writer: dict[str, str], reader: dict[str, str], runtime: Runtime, make_ctx: Callable[..., WriteContext]
) -> None:
    month = runtime.clock.now().strftime("%Y-%m")
    declare(client, writer)
    report = client.get(f"{API}/reports/monthly", params={"month": month, "format": "json"}, headers=reader)
    assert report.status_code == 200, report.text
    assert report.json()["report"]["format"] == "json"
    assert json.loads(report.json()["report"]["text"])["month"] == report.json()["report"]["month"]
    markdown = client.get(f"{API}/reports/monthly", params={"month": month}, headers=reader).json()["report"]
    assert markdown["format"] == "md" and markdown["text"].startswith("#")
    assert_problem(client.get(f"{API}/reports/monthly", params={"month": "2026-13"}, headers=reader), 422, "month: '2026-13' is not a month")
    assert_problem(client.get(f"{API}/reports/monthly", params={"month": "9999-12"}, headers=reader), 422, "month: must be between")
    assert_problem(client.get(f"{API}/reports/monthly", params={"month": month, "format": "pdf"}, headers=reader), 422, "format")

    # The KPIs imported into the server's database are in its report.
    figures = kpis.KpiMonth(month, {"fcr_percent": 72.5, "csat": 4.6})
    kpis.import_months(ctx=make_ctx("alice"), months={month: figures}, source="test")
    quality = json.loads(client.get(f"{API}/reports/monthly", params={"month": month, "format": "json"}, headers=reader).json()["report"]["text"])
    assert [k["kpi"] for k in quality["service_quality"]] == ["fcr_percent", "csat"]

    assert_problem(client.post(f"{API}/reports/monthly/slack-summary", json={"month": month}, headers=reader), 403)
    posted = client.post(f"{API}/reports/monthly/slack-summary", json={"month": month}, headers=writer)
    assert posted.status_code == 200, posted.text
    assert posted.json()["slack_summary"]["target"] == "#incidents"
    assert posted.json()["slack_summary"]["line"].startswith(f"{month}: ")
    assert posted.json()["report"]["format"] == "md"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/incidents/42/escalate", {}),
        ("POST", "/incidents/42/severity", {"severity": 1}),
        ("POST", "/incidents/42/analysis", {"factors": ["x"]}),
        ("POST", "/incidents/42/actions", {"title": "x", "owner": "bob", "due": "2026-12-15"}),
        ("GET", "/incidents/42/postmortem", None),
        ("POST", "/incidents/42/postmortem/publish", None),
        ("GET", "/actions/42", None),
        ("POST", "/actions/42/done", None),
        ("POST", "/actions/abc/done", None),
    ],
)
def test_unknown_ids_in_the_new_paths_are_404(client: TestClient, writer: dict[str, str], method: str, path: str, body: Any) -> None:
    data = assert_problem(client.request(method, API + path, json=body, headers=writer), 404)
    assert data["message"] == data["detail"]
