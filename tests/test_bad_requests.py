"""Bad requests to the web side, as a scanner, a mistyped link or a hostile client sends them.

Ids past the database's 32-bit columns or written in other scripts' digits, page numbers that
``str.isdigit`` takes and ``int`` does not, JSON objects with a key twice, a database that cannot
be reached while a token is checked, floods of anonymous refusals (which must neither fill the
audit log nor wait on a held SQLite write lock) and redirects whose host a client would choose.
Each is answered with a 4xx or a 503 the client can act on: no 500, no traceback in the log, the
connection kept open.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url
from sqlmodel import col, select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from statuspage.cli import main as statuspage_main
from statuspage.clock import FixedClock
from statuspage.context import WriteContext
from statuspage.db.engine import make_engine, new_session, sqlite_file
from statuspage.db.models import AuditEvent, Incident
from statuspage.errors import UserError
from statuspage.ids import IdOutOfRange, MalformedId, parse_id
from statuspage.incidents import service as incidents
from statuspage.maintenance import service as maintenance
from statuspage.retention import ACCESS_ACTION, REFUSED_ACTION
from statuspage.runtime import Runtime
from statuspage.web.admin.calls import PREFIX
from statuspage.web.app import create_app
from tests.tcp_proxy import TcpProxy
from tests.test_cli_remote import server  # noqa: F401 - a real uvicorn server, used by name

API = PREFIX
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOO_BIG = ["99999999999999999999", "2147483648", "9" * 5000]  # past SQLite's 64 bits; past PostgreSQL's int
OTHER_DIGITS = ["\u0661", "\uff11", "\u00b9", "1\u0660"]  # Arabic-Indic one, fullwidth one, superscript one, "10"
NOT_IDS = ["-1", "+1", "1e3", "0x1", "1.0", "1_0", "%00", "1%00"]


@pytest.fixture
def app(runtime: Runtime, clock: FixedClock) -> Starlette:
    return create_app(runtime.settings, runtime.engine, clock=clock)


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def incident_id(ctx: WriteContext) -> int:
    """An open incident with id 1, which a misread id (١ read as 1) would find."""
    incident = incidents.declare(ctx=ctx, severity=3, title="Checkout failing", components=["checkout"])
    assert incident.id == 1
    return incident.id


def no_errors_logged(caplog: pytest.LogCaptureFixture) -> None:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [(r.name, r.getMessage()) for r in errors]


def assert_problem(response: Any, status: int, words: str = "") -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    data = response.json()
    assert data["status"] == status and data["title"] and "\n" not in data["detail"]
    assert words in data["detail"], data["detail"]
    return data


def refusals_of(runtime: Runtime) -> list[AuditEvent]:
    with new_session(runtime.engine) as session:
        statement = select(AuditEvent).where(AuditEvent.action == REFUSED_ACTION).order_by(col(AuditEvent.id))
        return list(session.exec(statement).all())


def count_of(runtime: Runtime, action: str) -> int:
    with new_session(runtime.engine) as session:
        return len(session.exec(select(AuditEvent.id).where(AuditEvent.action == action)).all())


# Ids: one reading, for every door --------------------------------------------------------------


@pytest.mark.parametrize("raw", ["1", " 7 ", "#7", "0", "2147483647", "0002147483647"])
def test_parse_id_reads_ascii_digits_within_32_bits(raw: str) -> None:
    assert parse_id(raw) == int(raw.strip().lstrip("#"))


@pytest.mark.parametrize(("raw", "error"), [*((r, IdOutOfRange) for r in TOO_BIG), *((r, MalformedId) for r in OTHER_DIGITS + NOT_IDS + ["", "#", "abc"])])
def test_parse_id_refuses_what_no_row_can_have_with_a_user_error(raw: str, error: type[UserError]) -> None:
    with pytest.raises(error) as refused:
        parse_id(raw, what="maintenance")
    assert isinstance(refused.value, UserError) and refused.value.status_code == 400
    assert refused.value.message.startswith("no maintenance ") and "\n" not in refused.value.message
    assert len(refused.value.message) < 120


@pytest.mark.parametrize("raw", TOO_BIG + OTHER_DIGITS + NOT_IDS)
def test_an_incident_page_for_what_cannot_be_an_id_is_a_404(
    client: TestClient, incident_id: int, caplog: pytest.LogCaptureFixture, raw: str
) -> None:
    page = client.get(f"/incidents/{raw}")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "Checkout failing" not in page.text  # ١ is not incident 1
    assert_problem(client.get(f"/incidents/{raw}.json"), 404)
    no_errors_logged(caplog)


def test_an_incident_page_still_takes_the_id_as_it_is_shown(client: TestClient, incident_id: int) -> None:
    for raw in ("1", "%231", "%201%20"):
        assert client.get(f"/incidents/{raw}.json").json()["incident"]["name"] == "Checkout failing", raw


@pytest.mark.parametrize("raw", TOO_BIG + OTHER_DIGITS + NOT_IDS)
def test_the_admin_api_answers_404_for_what_cannot_be_an_id(
    client: TestClient,
    runtime: Runtime,
    make_token: Callable[..., str],
    ctx: WriteContext,
    incident_id: int,
    caplog: pytest.LogCaptureFixture,
    raw: str,
) -> None:
    writer = {"authorization": f"Bearer {make_token('ci', 'write')}"}
    maintenance.schedule(
        ctx=ctx,
        title="Upgrade",
        components=["api"],
        scheduled_for=datetime.fromisoformat("2026-12-01T06:00:00+00:00"),
        scheduled_until=datetime.fromisoformat("2026-12-01T08:00:00+00:00"),
    )
    asked: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", f"/incidents/{raw}", None),
        ("PATCH", f"/incidents/{raw}", {"message": "Still looking."}),
        ("POST", f"/incidents/{raw}/acknowledge", {}),
        ("POST", f"/incidents/{raw}/resolve", {}),
        ("POST", f"/incidents/{raw}/sla-resume", None),
        ("GET", f"/maintenances/{raw}", None),
        ("GET", f"/maintenances/m{raw}", None),
        ("PATCH", f"/maintenances/{raw}", {"status": "in_progress"}),
    ]
    for method, path, body in asked:
        response = client.request(method, API + path, headers=writer, **({} if body is None else {"json": body}))
        assert_problem(response, 404, "no ")
    with runtime.session() as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None and incident.acknowledged_at is None and incident.resolved_at is None
    no_errors_logged(caplog)


def test_the_admin_api_still_takes_a_hash_before_the_id(client: TestClient, make_token: Callable[..., str], incident_id: int) -> None:
    reader = {"authorization": f"Bearer {make_token('dashboard', 'read')}"}
    for raw in ("1", "%231", "%20%231"):
        response = client.get(f"{API}/incidents/{raw}", headers=reader)
        assert response.status_code == 200 and response.json()["incident"]["admin"]["id"] == 1, raw


def slack_ack(client: TestClient, clock: FixedClock, value: Any, user: dict[str, str] | None = None) -> Any:
    """A click on Acknowledge, signed as Slack signs it (from Slack's documentation)."""
    payload = {
        "type": "block_actions",
        "user": user or {"id": "U01ANARUIZ", "username": "ana"},
        "actions": [{"action_id": "incident_ack", "block_id": "b", "value": value, "type": "button"}],
    }
    body = urlencode({"payload": json.dumps(payload)})
    timestamp = str(int(clock.now().timestamp()))
    digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    headers = {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return client.post("/slack/actions", content=body, headers=headers)


@pytest.mark.parametrize("value", TOO_BIG + OTHER_DIGITS + NOT_IDS + [12345678901234567890, None, ["1"]])
def test_a_slack_acknowledge_of_what_cannot_be_an_id_acknowledges_nothing(
    client: TestClient,
    runtime: Runtime,
    clock: FixedClock,
    incident_id: int,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    value: Any,
) -> None:
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    answer = slack_ack(client, clock, value)
    assert answer.status_code == 200 and answer.json()["response_type"] == "ephemeral"
    assert answer.json()["text"].startswith("Could not acknowledge: no incident")
    with runtime.session() as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None and incident.acknowledged_at is None
    # The same button with the real id works: the refusals were about the value alone.
    assert slack_ack(client, clock, str(incident_id)).json()["text"].startswith(f"You acknowledged incident #{incident_id}")
    no_errors_logged(caplog)


def test_a_slack_acknowledge_by_someone_with_a_long_or_odd_handle_is_taken(
    client: TestClient, runtime: Runtime, clock: FixedClock, incident_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    stranger = {"id": "U09STRANGE", "username": "x" * 80 + "\tsecond line"}
    answer = slack_ack(client, clock, str(incident_id), user=stranger)
    assert answer.json()["text"].startswith(f"You acknowledged incident #{incident_id}")
    with runtime.session() as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None and incident.acknowledged_by == "slack:" + "x" * 74


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("page=%C2%B2", 400),  # ² : str.isdigit() says yes, int() says no
        ("page=%D9%A1", 400),  # ١ : read as page 1
        ("page=%EF%BC%92", 400),  # fullwidth 2
        ("page=" + "1" * 5000, 400),  # past what int() reads
        ("page=0", 400),
        ("component=%00", 404),  # PostgreSQL refuses a NUL in a string parameter
        ("component=api%00", 404),
        ("component=" + "x" * 5000, 404),
        ("component=%C3%A9", 404),
    ],
)
def test_history_pages_refuse_page_numbers_and_components_that_cannot_be(
    client: TestClient, caplog: pytest.LogCaptureFixture, query: str, status: int
) -> None:
    page = client.get(f"/history?{query}")
    assert page.status_code == status and page.headers["content-type"].startswith("text/html")
    assert_problem(client.get(f"/history.json?{query}"), status)
    no_errors_logged(caplog)


def test_a_real_server_answers_bad_ids_and_keeps_the_connection(
    server: str,  # noqa: F811
    make_token: Callable[..., str],
    incident_id: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Through uvicorn: an unhandled error would be a 500 with the connection closed."""
    uvicorn_log = logging.getLogger("uvicorn.error")  # uvicorn's own loggers do not reach the root
    uvicorn_log.addHandler(caplog.handler)
    reader = {"authorization": f"Bearer {make_token('dashboard', 'read')}"}
    asked = [
        ("/incidents/99999999999999999999", {}, 404),
        ("/incidents/2147483648.json", {}, 404),
        ("/incidents/%D9%A1", {}, 404),
        (f"{API}/incidents/2147483648", reader, 404),
        (f"{API}/incidents/99999999999999999999", reader, 404),
        (f"{API}/maintenances/%EF%BC%91", reader, 404),
        ("/history?page=%C2%B2", {}, 400),
        ("/history?component=%00", {}, 404),
        ("/incidents/1.json", {}, 200),
    ]
    try:
        with httpx.Client(base_url=server, timeout=10) as http:
            peers = set()
            for path, headers, status in asked:
                response = http.get(path, headers=headers)
                assert response.status_code == status, (path, response.text)
                assert response.headers.get("connection", "").lower() != "close", path
                peers.add(response.extensions["network_stream"].get_extra_info("client_addr"))
            assert len(peers) == 1  # every answer on the one connection
    finally:
        uvicorn_log.removeHandler(caplog.handler)
    no_errors_logged(caplog)


# Duplicate keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "key"),
    [
        ("POST", "/incidents", '{"severity": 3, "title": "Slow", "components": ["api"], "severity": 1}', '"severity"'),
        ("POST", "/incidents", '{"severity": 3, "title": "Slow", "components": {"api": "major_outage", "api": null}}', '"api"'),
        ("PATCH", "/incidents/1", '{"message": "Fixed?", "status": "monitoring", "status": "resolved"}', '"status"'),
        ("POST", "/incidents/1/acknowledge", '{"by": "ana", "by": "ben"}', '"by"'),
        ("POST", "/incidents", '{"title": "x", "\\u0074itle": "y"}', '"title"'),  # the same key, escaped
    ],
)
def test_a_key_twice_in_a_json_object_is_a_400_naming_it(
    client: TestClient,
    runtime: Runtime,
    make_token: Callable[..., str],
    incident_id: int,
    method: str,
    path: str,
    body: str,
    key: str,
) -> None:
    writer = {"authorization": f"Bearer {make_token('ci', 'write')}", "content-type": "application/json"}
    response = client.request(method, API + path, headers=writer, content=body.encode())
    data = assert_problem(response, 400, key)
    assert "more than once" in data["detail"]
    with runtime.session() as session:
        (incident,) = session.exec(select(Incident)).all()  # nothing declared
        assert incident.status == "investigating" and incident.acknowledged_at is None


# The database away while a token is checked -----------------------------------------------------


@pytest.fixture
def proxied(db_url: str) -> Iterator[tuple[TcpProxy, str]]:
    url = make_url(db_url)
    if url.get_backend_name() != "postgresql":
        pytest.skip("a database server to cut off: PostgreSQL only")
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        yield proxy, proxy.url_for(db_url)


def test_a_token_check_with_the_database_away_is_a_503_with_retry_after(
    proxied: tuple[TcpProxy, str],
    runtime: Runtime,
    clock: FixedClock,
    make_token: Callable[..., str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    proxy, url = proxied
    writer = {"authorization": f"Bearer {make_token('ci', 'write')}"}
    engine = make_engine(url)
    try:
        with TestClient(create_app(runtime.settings, engine, clock=clock), raise_server_exceptions=False) as client:
            assert client.get(f"{API}/incidents", headers=writer).status_code == 200
            proxy.refuse()
            proxy.cut()
            asked = [
                ("GET", "/incidents", None),
                ("GET", "/token", None),
                ("POST", "/incidents", {"severity": 3, "title": "Slow", "components": ["api"]}),
                ("POST", "/incidents/1/resolve", {}),
            ]
            for method, path, body in asked:
                response = client.request(method, API + path, headers=writer, **({} if body is None else {"json": body}))
                assert_problem(response, 503, "database could not be reached")
                assert response.headers["retry-after"].isdigit()
            # No token needs no database: still a 401.
            assert client.get(f"{API}/incidents").status_code == 401
            no_errors_logged(caplog)
            proxy.accept()
            assert client.get(f"{API}/incidents", headers=writer).status_code == 200
        # Kept while the database was away, written at shutdown once it was back.
        counted = [(e.after or {}) for e in refusals_of(runtime)]
        assert sorted((a["status"], a["count"]) for a in counted) == [(401, 1), (503, len(asked))]
    finally:
        engine.dispose()


# Refusals: counted, off the request path --------------------------------------------------------


def test_a_thousand_anonymous_refusals_are_a_handful_of_counted_rows(
    app: Starlette, runtime: Runtime, cli_env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    before = count_of(runtime, ACCESS_ACTION)
    headers = [{}, {"authorization": "Bearer sp_guess"}, {"authorization": "Basic dXNlcjpwYXNz"}]
    with TestClient(app) as client:
        for n in range(1000):
            method = "DELETE" if n % 10 == 9 else "GET"  # a method the path does not have: 405
            answer = client.request(method, f"{API}/incidents", headers=headers[n % 3])
            assert answer.status_code == (405 if method == "DELETE" else 401)
    # Written when the app shut down, at the latest.
    counted = refusals_of(runtime)
    assert 1 <= len(counted) <= 5, [(e.after or {}).get("problem") for e in counted]
    assert sum((e.after or {})["count"] for e in counted) == 1000
    assert count_of(runtime, ACCESS_ACTION) == before  # not one row each
    by_status = {status: sum((e.after or {})["count"] for e in counted if (e.after or {})["status"] == status) for status in (401, 405)}
    assert by_status == {401: 900, 405: 100}
    for event in counted:
        after = event.after or {}
        assert (event.actor, event.subject_id, after["client"]) == ("anonymous", "testclient", "testclient")
        assert sum(after["requests"].values()) == after["count"]
        assert "sp_guess" not in json.dumps(after) and "dXNlcjpwYXNz" not in json.dumps(after)
    # The operator still sees them, with their counts.
    listing = CliRunner(env=cli_env).invoke(statuspage_main, ["audit", "--action", REFUSED_ACTION])
    assert listing.exit_code == 0, listing.output
    assert "x 401 from testclient" in listing.stdout and f"GET {API}/incidents x" in listing.stdout
    assert "100 x 405 from testclient" in listing.stdout
    no_errors_logged(caplog)


def test_refusals_do_not_wait_for_a_held_sqlite_write_lock(
    app: Starlette, runtime: Runtime, make_token: Callable[..., str], db_url: str
) -> None:
    path = sqlite_file(db_url)
    if path is None:
        pytest.skip("SQLite's database-wide write lock")
    reader = {"authorization": f"Bearer {make_token('dashboard', 'read')}"}
    answered: list[int] = []
    client = TestClient(app)
    client.__enter__()
    # Used once before the lock is taken, so that its last_used_at needs no write for a while.
    assert client.get(f"{API}/token", headers=reader).status_code == 200

    def ask() -> None:
        for n in range(20):
            headers = [{}, {"authorization": "Bearer sp_guess"}][n % 2]
            answered.append(client.get(f"{API}/incidents", headers=headers).status_code)
        answered.append(client.post(f"{API}/incidents", headers=reader, json={}).status_code)  # a known token: 403
        answered.append(client.get("/healthz").status_code)

    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process writing: the write lock held
    worker = threading.Thread(target=ask, daemon=True)
    try:
        worker.start()
        worker.join(timeout=5)
        assert not worker.is_alive(), f"{len(answered)} answered while the write lock was held"
        assert answered == [401] * 20 + [403, 200]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        worker.join(timeout=120)
        client.__exit__(None, None, None)  # shut down: what was counted is written
    counted = refusals_of(runtime)
    assert sum((e.after or {})["count"] for e in counted) == 20 and len(counted) == 2
    with new_session(runtime.engine) as session:
        (forbidden,) = session.exec(
            select(AuditEvent).where(AuditEvent.action == ACCESS_ACTION, col(AuditEvent.actor) == "token:dashboard")
            .where(col(AuditEvent.subject_type) == "api_token")
            .order_by(col(AuditEvent.id).desc())
            .limit(1)
        ).all()
    assert (forbidden.after or {})["status"] == 403  # a known token's refusal keeps its own row


def test_refusals_are_written_every_few_seconds_without_a_shutdown(runtime: Runtime, clock: FixedClock) -> None:
    app = create_app(runtime.settings, runtime.engine, clock=clock)
    app.state.site.refusals.interval = 0.1
    client = TestClient(app)  # no lifespan: a server that is never shut down cleanly
    for _ in range(3):
        assert client.get(f"{API}/incidents").status_code == 401
    deadline = time.monotonic() + 10
    while not refusals_of(runtime) and time.monotonic() < deadline:
        time.sleep(0.05)
    (counted,) = refusals_of(runtime)
    assert (counted.after or {})["count"] == 3 and app.state.site.refusals.pending() == 0


# Redirects --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/history/", "/history"),
        ("/history/?page=2", "/history?page=2"),
        ("/static", "/static/"),
        (f"{API}/incidents/", f"{API}/incidents"),
        (f"{API}/incidents/?open=true", f"{API}/incidents?open=true"),
    ],
)
def test_slash_redirects_are_relative_whatever_the_host_header(client: TestClient, path: str, location: str) -> None:
    for host in ("evil.example", "evil.example:443", "127.0.0.1:8000"):
        response = client.get(path, headers={"host": host}, follow_redirects=False)
        assert response.status_code == 307, (path, host)
        assert response.headers["location"] == location


@pytest.mark.parametrize("path", ["//evil.example/history/", "//evil.example/", "/nowhere/", "/history//x/"])
def test_paths_that_are_not_a_slash_away_from_a_page_are_not_redirected(client: TestClient, path: str) -> None:
    # The full URL, so that "//evil.example/..." is sent as the path and not read as a host.
    response = client.get(f"http://testserver{path}", headers={"host": "evil.example"}, follow_redirects=False)
    assert response.status_code == 404 and "location" not in response.headers
