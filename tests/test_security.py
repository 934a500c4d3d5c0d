"""Security properties of the admin API and the command lines, checked from the outside.

Tokens are kept only as hashes, found by hash and compared in constant time, refused the moment
they are revoked (by every server process: nothing caches an authentication), a read token never
writes, and the audit log has every change with its actor and every admin API request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import event as sa_event
from sqlalchemy import select as sa_select
from sqlalchemy.exc import OperationalError
from sqlmodel import SQLModel, col, select
from starlette.testclient import TestClient

from incident_cli.main import main as incident_main
from statuspage.cli import main as statuspage_main
from statuspage.context import WriteContext
from statuspage.db.engine import make_engine, new_session
from statuspage.db.models import ApiToken, AuditEvent, Incident, SiteState
from statuspage.runtime import Runtime
from statuspage.tokens import service as tokens
from statuspage.web.admin.access import Access
from statuspage.web.admin.calls import PREFIX
from statuspage.web.admin.operations import OPERATIONS
from statuspage.web.app import create_app

API = PREFIX
ACCESS = "api.request"
REFUSED = "api.refused"


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime.settings, runtime.engine, clock=runtime.clock)) as test_client:
        yield test_client


def bearer(secret: str) -> dict[str, str]:
    return {"authorization": f"Bearer {secret}"}


def flush_refusals(client: TestClient) -> None:
    """Refusals are recorded by a background thread every few seconds: record them now."""
    client.app.state.site.refusals.flush()  # type: ignore[attr-defined]


def events(runtime: Runtime, *, after_id: int = 0, action: str | None = None) -> list[AuditEvent]:
    with new_session(runtime.engine) as session:
        statement = select(AuditEvent).where(col(AuditEvent.id) > after_id).order_by(col(AuditEvent.id))
        if action is not None:
            statement = statement.where(AuditEvent.action == action)
        return list(session.exec(statement).all())


def last_event_id(runtime: Runtime) -> int:
    found = events(runtime)
    return found[-1].id or 0 if found else 0


def data_version(runtime: Runtime) -> int:
    with new_session(runtime.engine) as session:
        state = session.get(SiteState, 1)
        assert state is not None
        return state.data_version


def every_row_as_text(runtime: Runtime) -> str:
    """Every value in every table, for checking that a secret is nowhere."""
    parts = []
    with runtime.engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            for row in connection.execute(sa_select(table)):
                parts.append(repr(tuple(row)))
    return "\n".join(parts)


# Storage and lookup --------------------------------------------------------------------------


def test_a_token_is_stored_only_as_its_hash(cli_env: dict[str, str], runtime: Runtime, client: TestClient) -> None:
    created = CliRunner(env=cli_env).invoke(incident_main, ["token", "create", "--name", "ci", "--scope", "write"])
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip()
    assert secret.startswith("sp_") and len(secret) > 40
    # Used once, so that the access log and last_used_at have been written too.
    assert client.get(f"{API}/token", headers=bearer(secret)).status_code == 200
    with new_session(runtime.engine) as session:
        row = session.exec(select(ApiToken).where(ApiToken.name == "ci")).one()
    assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert row.prefix == secret[: tokens.PREFIX_LENGTH]
    everything = every_row_as_text(runtime)
    assert secret not in everything
    # Not even most of it: only the listing prefix (11 of 46 characters) is kept anywhere.
    assert secret[: tokens.PREFIX_LENGTH + 4] not in everything


def test_lookup_is_by_hash_and_the_comparison_is_constant_time(
    make_token: Callable[..., str], runtime: Runtime, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = make_token("ci", "write")
    compared: list[tuple[str, str]] = []
    original = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        compared.append((a, b))
        return original(a, b)

    monkeypatch.setattr(tokens.hmac, "compare_digest", spy)
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        statements.append((statement, parameters))

    sa_event.listen(runtime.engine, "before_cursor_execute", capture)
    try:
        # The same secret but its last character: refused, though it shares every other one.
        near = secret[:-1] + ("A" if secret[-1] != "A" else "B")
        assert client.get(f"{API}/token", headers=bearer(near)).status_code == 401
        # Its first 40 characters only: a prefix is not a token.
        assert client.get(f"{API}/token", headers=bearer(secret[:40])).status_code == 401
        assert compared == []  # nothing had that hash: nothing to compare
        statements.clear()
        assert client.get(f"{API}/token", headers=bearer(secret)).status_code == 200
    finally:
        sa_event.remove(runtime.engine, "before_cursor_execute", capture)
    digest = hashlib.sha256(secret.encode()).hexdigest()
    assert compared == [(digest, digest)]
    token_queries = [(s, p) for s, p in statements if "api_token" in s and s.lstrip().upper().startswith("SELECT")]
    assert token_queries, statements
    for statement, parameters in token_queries:
        shown = repr(parameters)
        assert secret[: tokens.PREFIX_LENGTH] not in shown and "like" not in statement.lower()
    assert any(digest in repr(p) for _, p in token_queries)


# Revocation and scope ------------------------------------------------------------------------


def test_a_revoked_token_is_refused_at_once_by_every_server(
    make_token: Callable[..., str], runtime: Runtime, client: TestClient, cli_env: dict[str, str]
) -> None:
    secret = make_token("ci", "write")
    other_engine = make_engine(runtime.settings.database_url)
    try:
        with TestClient(create_app(runtime.settings, other_engine)) as second:
            for app in (client, second):
                assert app.get(f"{API}/incidents", headers=bearer(secret)).status_code == 200
            revoked = CliRunner(env=cli_env).invoke(incident_main, ["token", "revoke", "ci"])
            assert revoked.exit_code == 0, revoked.output
            for app in (client, second):
                response = app.get(f"{API}/incidents", headers=bearer(secret))
                assert response.status_code == 401
                assert 'error="invalid_token"' in response.headers["www-authenticate"]
                assert app.post(f"{API}/incidents", headers=bearer(secret), json={}).status_code == 401
    finally:
        other_engine.dispose()
    flush_refusals(client)  # the second app wrote its own when it shut down
    refused = [e for e in events(runtime, action=ACCESS) if e.after and e.after["status"] == 401]
    # The access log names the revoked token still being used, never its secret.
    assert len(refused) == 4 and all(e.after and e.after["token_name"] == "ci" for e in refused)


WRITES = [op for op in OPERATIONS if op.scope == "write"]


def test_a_read_token_may_not_write_anything(make_token: Callable[..., str], runtime: Runtime, client: TestClient) -> None:
    reader = bearer(make_token("dashboard", "read"))
    version = data_version(runtime)
    for op in WRITES:
        path = op.full_path.replace("{incident_id}", "1").replace("{component_id}", "api").replace("{maintenance_id}", "1")
        response = client.request(op.method, path, headers=reader, json={})
        assert response.status_code == 403, (op.operation_id, response.text)
        assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    flush_refusals(client)
    assert data_version(runtime) == version  # nothing written, not even the access records' bump
    refused = events(runtime, action=ACCESS)
    assert [(e.after or {}).get("operation") for e in refused] == [op.operation_id for op in WRITES]
    assert {e.actor for e in refused} == {"token:dashboard"}


# The audit log: every write ------------------------------------------------------------------

# Each write endpoint, in an order in which every one succeeds: (operation, path values, body).
WRITE_WALK: list[tuple[str, dict[str, str], dict[str, Any] | None]] = [
    ("declareIncident", {}, {"severity": 2, "title": "Slow dashboards", "components": ["web"]}),
    ("postIncidentUpdate", {"incident_id": "1"}, {"status": "identified", "message": "Found it."}),
    ("acknowledgeIncident", {"incident_id": "1"}, {"by": "bob"}),
    ("handOverIncident", {"incident_id": "1"}, {"to": "Chen Wei"}),
    ("pauseSla", {"incident_id": "1"}, {"reason": "Waiting for the customer's logs."}),
    ("resumeSla", {"incident_id": "1"}, None),
    ("recordResolutionPlan", {"incident_id": "1"}, {"plan": "Rebuild the index tonight."}),
    ("recordRootCause", {"incident_id": "1"}, {"root_cause": "A bad index.", "remediation": "Index review."}),
    ("resolveIncident", {"incident_id": "1"}, {"message": "Fixed."}),
    ("reopenIncident", {"incident_id": "1"}, {"message": "Back.", "status": "identified"}),
    ("escalateIncident", {"incident_id": "1"}, None),
    ("editIncidentTitle", {"incident_id": "1"}, {"title": "Slow dashboards for some"}),
    ("editIncidentUpdate", {"incident_id": "1", "number": "1"}, {"message": "Dashboards are slow for some."}),
    ("retractIncident", {"incident_id": "1"}, {"reason": "Declared on the wrong page."}),
    ("publishIncident", {"incident_id": "1"}, None),
    ("changeSeverity", {"incident_id": "1"}, {"severity": 1}),
    ("recordAnalysis", {"incident_id": "1"}, {"factors": ["A muted channel."], "whys": ["The index was dropped."]}),
    ("addActionItem", {"incident_id": "1"}, {"title": "Review indexes", "owner": "bob", "due": "2026-12-15"}),
    ("completeActionItem", {"action_id": "1"}, None),
    ("publishPostmortem", {"incident_id": "1"}, None),
    ("postReportSummary", {}, {"month": "2026-11"}),
    ("setComponentStatus", {"component_id": "api"}, {"status": "degraded_performance"}),
    (
        "scheduleMaintenance",
        {},
        {
            "title": "Database upgrade",
            "components": ["api"],
            "scheduled_for": "2026-12-01T06:00:00Z",
            "scheduled_until": "2026-12-01T08:00:00Z",
        },
    ),
    ("updateMaintenance", {"maintenance_id": "1"}, {"status": "in_progress"}),
]


def test_every_admin_write_is_audited_with_its_actor_and_linked_to_its_request(
    make_token: Callable[..., str], runtime: Runtime, client: TestClient
) -> None:
    by_id = {op.operation_id: op for op in OPERATIONS}
    assert {name for name, _, _ in WRITE_WALK} == {op.operation_id for op in WRITES}, "walk every write endpoint"
    writer = {**bearer(make_token("ci", "write")), "x-incident-user": "alice"}
    for name, values, body in WRITE_WALK:
        op = by_id[name]
        mark = last_event_id(runtime)
        path = op.full_path.format(**values)
        response = client.request(op.method, path, headers=writer, **({} if body is None else {"json": body}))
        assert response.status_code == op.success, (name, response.text)
        new = events(runtime, after_id=mark)
        requests = [e for e in new if e.action == ACCESS]
        changes = [e for e in new if e.action != ACCESS]
        assert len(requests) == 1, (name, [e.action for e in new])
        record = requests[0].after or {}
        assert (record["method"], record["path"], record["status"], record["operation"]) == (op.method, path, op.success, name)
        assert (record["token_name"], record["client"]) == ("ci", "testclient")
        assert requests[0].actor == "alice via token:ci"
        # The change's own events, written in the same transaction and linked from the request.
        assert any(e.actor == "alice via token:ci" and e.source == "api" for e in changes), name
        assert record["changes"] == [e.id for e in changes], name

    # A write that fails is one access record, with no change and nothing linked.
    mark = last_event_id(runtime)
    assert client.post(f"{API}/incidents/9/resolve", headers=writer, json={}).status_code == 404
    bad = client.post(f"{API}/incidents", headers=writer, json={"severity": 1, "title": "x", "components": ["nope"]})
    assert bad.status_code == 422
    new = events(runtime, after_id=mark)
    assert [(e.action, (e.after or {}).get("status")) for e in new] == [(ACCESS, 404), (ACCESS, 422)]
    assert all("changes" not in (e.after or {}) for e in new)


def test_a_write_whose_access_record_cannot_be_written_is_not_made(
    make_token: Callable[..., str], runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = bearer(make_token("ci", "write"))
    reader = bearer(make_token("dashboard", "read"))

    def broken(self: Access, status: int, at: Any) -> AuditEvent:
        raise OperationalError("INSERT INTO audit_event", {}, Exception("disk I/O error"))

    monkeypatch.setattr(Access, "audit_event", broken)
    with TestClient(create_app(runtime.settings, runtime.engine, clock=runtime.clock), raise_server_exceptions=False) as client:
        # A read is answered all the same: the access log failing must not take reading down.
        assert client.get(f"{API}/incidents", headers=reader).status_code == 200
        # A write is audited in its own transaction: no audit, no change.
        response = client.post(f"{API}/incidents", headers=writer, json={"severity": 1, "title": "x", "components": ["api"]})
        assert response.status_code >= 500
    with new_session(runtime.engine) as session:
        assert session.exec(select(Incident)).all() == []


CLI_WRITES: list[tuple[str, tuple[str, ...], str]] = [
    ("incident", ("declare", "-s", "2", "-t", "Slow dashboards", "-c", "web"), "incident.declare"),
    ("incident", ("update", "1", "--status", "identified", "-m", "Found it."), "incident.update"),
    ("incident", ("ack", "1"), "incident.acknowledge"),
    ("incident", ("handover", "1", "--to", "Chen Wei"), "incident.hand_over"),
    ("incident", ("rca", "1", "--root-cause", "A bad index.", "--remediation", "Reviews."), "incident.root_cause"),
    ("incident", ("resolve", "1", "-m", "Fixed."), "incident.resolve"),
    ("incident", ("reopen", "1", "-m", "Back."), "incident.reopen"),
    ("incident", ("component", "set", "api", "degraded_performance"), "component.set_status"),
    ("incident", ("maintenance", "schedule", "-t", "Upgrade", "-c", "api", "--start", "2026-12-01T06:00", "--end", "2026-12-01T08:00"), "maintenance.schedule"),
    ("incident", ("maintenance", "status", "1", "in_progress"), "maintenance."),
    ("incident", ("token", "create", "--name", "ci", "--scope", "read"), "token.create"),
    ("incident", ("token", "revoke", "ci"), "token.revoke"),
    ("statuspage", ("webhooks", "add", "https://example.com/hook"), "webhook."),
    ("statuspage", ("webhooks", "remove", "1"), "webhook."),
]


def test_every_cli_write_is_audited_with_its_actor(cli_env: dict[str, str], runtime: Runtime) -> None:
    runner = CliRunner(env={**cli_env, "INCIDENT_USER": "carol"})
    mains = {"incident": incident_main, "statuspage": statuspage_main}
    for prog, args, action in CLI_WRITES:
        mark = last_event_id(runtime)
        result: Result = runner.invoke(mains[prog], list(args), prog_name=prog, catch_exceptions=False)
        assert result.exit_code == 0, (args, result.output)
        mine = [e for e in events(runtime, after_id=mark) if e.actor == "carol"]
        assert mine, (args, [(e.action, e.actor) for e in events(runtime, after_id=mark)])
        assert all(e.source == "cli" for e in mine)
        assert any(e.action == action or (action.endswith(".") and e.action.startswith(action)) for e in mine), (
            args,
            [e.action for e in mine],
        )


# The audit log: every access -----------------------------------------------------------------


def test_every_admin_request_is_recorded_without_its_secret(
    make_token: Callable[..., str], runtime: Runtime, client: TestClient, cli_env: dict[str, str], ctx: WriteContext
) -> None:
    write_secret = make_token("ci", "write")
    read_secret = make_token("dashboard", "read")
    gone_secret = make_token("old", "write")
    tokens.revoke_token(ctx=ctx, name="old")
    version = data_version(runtime)
    mark = last_event_id(runtime)
    asked = [
        ("GET", "/incidents", bearer(read_secret), 200, "dashboard"),
        ("GET", "/incidents", {}, 401, None),
        ("GET", "/audit", {"authorization": "Bearer sp_guess"}, 401, None),
        ("GET", "/audit", {"authorization": "Basic dXNlcjpwYXNz"}, 401, None),
        ("GET", "/token", bearer(gone_secret), 401, "old"),
        ("POST", "/incidents", bearer(read_secret), 403, "dashboard"),
        ("GET", "/incidents/42", bearer(write_secret), 404, "ci"),
        ("GET", "/incidents?limit=0", bearer(write_secret), 422, "ci"),
        ("DELETE", "/incidents", bearer(write_secret), 405, None),
        ("HEAD", "/components", bearer(read_secret), 200, "dashboard"),
    ]
    for method, path, headers, status, _ in asked:
        assert client.request(method, API + path, headers=headers).status_code == status, (method, path)
    flush_refusals(client)
    # Reading and refusing write only the access log: no page cache is invalidated by them.
    assert data_version(runtime) == version
    recorded = events(runtime, after_id=mark)
    requests = {((e.after or {})["method"], (e.after or {})["path"], (e.after or {})["status"]): e for e in recorded if e.action == ACCESS}
    counted = [e for e in recorded if e.action == REFUSED]
    assert len(requests) + len(counted) == len(recorded)
    # Each request of a known token is its own record, refused or not.
    known = [item for item in asked if item[4] is not None]
    assert sorted(requests) == sorted((method, API + path.split("?")[0], status) for method, path, _, status, _ in known)
    for method, path, _, status, token_name in known:
        event = requests[(method, API + path.split("?")[0], status)]
        after = event.after or {}
        assert after["client"] == "testclient" and event.source == "api"
        assert after["token_name"] == token_name
        assert event.subject_type == "api_token"
        assert event.actor == f"token:{token_name}"
        if status >= 400:
            assert after["problem"]
    # Anonymous refusals are counted per client address, minute, status and reason.
    anonymous = [item for item in asked if item[4] is None]
    assert sum((e.after or {})["count"] for e in counted) == len(anonymous)
    assert sorted((e.after or {})["status"] for e in counted) == sorted(status for _, _, _, status, _ in anonymous)
    for event in counted:
        after = event.after or {}
        assert (event.actor, event.source, event.subject_type, event.subject_id) == ("anonymous", "api", "client", "testclient")
        assert after["client"] == "testclient" and after["problem"] and after["count"] == 1
        assert len(after["requests"]) == 1
    assert {request for e in counted for request in (e.after or {})["requests"]} == {
        f"{method} {API}{path}" for method, path, _, _, _ in anonymous
    }
    dumped = json.dumps([e.after for e in recorded])
    for secret in (write_secret, read_secret, gone_secret, "sp_guess", "dXNlcjpwYXNz"):
        assert secret not in dumped

    # An operator sees who accessed what.
    listing = CliRunner(env=cli_env).invoke(statuspage_main, ["audit", "--action", ACCESS, "--actor", "token:dashboard"])
    assert listing.exit_code == 0, listing.output
    lines = listing.stdout.strip().splitlines()
    assert lines[0].split()[:4] == ["TIME", "(UTC)", "ACTOR", "ACTION"]
    assert len(lines) == 1 + 3
    assert f"POST {API}/incidents -> 403 from testclient" in listing.stdout
    assert all("token:dashboard" in line for line in lines[1:])


def test_audit_listing_filters_and_refuses_bad_options(cli_env: dict[str, str], client: TestClient) -> None:
    runner = CliRunner(env=cli_env)
    assert runner.invoke(incident_main, ["declare", "-s", "3", "-t", "Typo", "-c", "api"]).exit_code == 0
    assert client.get(f"{API}/incidents/%1b[31mred").status_code == 401  # a path is the client's text
    flush_refusals(client)
    listed = runner.invoke(statuspage_main, ["audit", "--action", "incident.", "--since", "1h", "--limit", "5"])
    assert listed.exit_code == 0, listed.output
    assert "incident.declare" in listed.stdout and ACCESS not in listed.stdout and REFUSED not in listed.stdout
    requests = runner.invoke(statuspage_main, ["audit", "--action", REFUSED])
    assert "incidents/\\x1b[31mred x1" in requests.stdout and "\x1b" not in requests.stdout
    assert "1 x 401 from testclient" in requests.stdout
    assert runner.invoke(statuspage_main, ["audit", "--actor", "nobody"]).stdout.strip() == "No audit events."
    for args, words in [(["--since", "yesterday"], "--since"), (["--limit", "0"], "--limit")]:
        bad = runner.invoke(statuspage_main, ["audit", *args], prog_name="statuspage")
        assert bad.exit_code == 2 and bad.stdout == ""
        assert len(bad.stderr.strip().splitlines()) == 1 and words in bad.stderr
