"""``incident --server``: the same commands through the admin API of a real uvicorn server.

The server runs in a thread of the test process, on a free port, against the test database. The
command line runs with a configuration and a database it cannot open, so any output proves it
went through HTTP; where both modes can be compared, remote output must equal local output.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from click.testing import CliRunner, Result

from incident_cli.main import main as incident_main
from incident_cli.remote import RemoteBackend, ServerUnavailable
from statuspage.clock import Clock
from statuspage.db.engine import make_engine
from statuspage.errors import UserError
from statuspage.settings import Settings
from statuspage.web.app import create_app

BIN = Path(sys.executable).parent
Run = Callable[..., Result]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(settings: Settings, clock: Clock | None = None) -> Iterator[str]:
    """A real uvicorn server in a thread of this process, on a free port and the test database;
    yields its base URL."""
    engine = make_engine(settings.database_url)
    config = uvicorn.Config(
        create_app(settings, engine, clock=clock), host="127.0.0.1", port=free_port(), log_level="warning", lifespan="off", ws="none"
    )
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not running.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        running.should_exit = True
        thread.join(timeout=20)
        engine.dispose()


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    """A real uvicorn server on the test database, for the length of one test."""
    with serving(settings) as url:
        yield url


@pytest.fixture
def local(cli_env: dict[str, str]) -> Run:
    runner = CliRunner(env=cli_env)

    def invoke(*args: str) -> Result:
        return runner.invoke(incident_main, list(args), prog_name="incident", catch_exceptions=False)

    return invoke


@pytest.fixture
def token(local: Run) -> Callable[[str, str], str]:
    def create(name: str = "ci", scope: str = "write") -> str:
        made = local("token", "create", "--name", name, "--scope", scope)
        assert made.exit_code == 0, made.output
        return made.stdout.strip()

    return create


@pytest.fixture
def remote_env(cli_env: dict[str, str], server: str, token: Callable[[str, str], str], tmp_path: Path) -> dict[str, str]:
    return {
        **cli_env,
        # Nothing local to open: whatever the command prints came from the server.
        "STATUSPAGE_CONFIG": str(tmp_path / "absent.yaml"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'absent' / 'none.db'}",
        "STATUSPAGE_URL": server,
        "STATUSPAGE_TOKEN": token("ci", "write"),
    }


@pytest.fixture
def remote(remote_env: dict[str, str]) -> Run:
    runner = CliRunner(env=remote_env)

    def invoke(*args: str) -> Result:
        return runner.invoke(incident_main, list(args), prog_name="incident", catch_exceptions=False)

    return invoke


def one_line_error(result: Result, words: str, code: int) -> str:
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("incident: ") and words in lines[0], lines[0]
    assert "Traceback" not in result.output
    return lines[0]


def test_declare_update_resolve_through_the_server(remote: Run, local: Run, server: str) -> None:
    declared = remote("declare", "-s", "sev1", "-t", "Checkout failing", "-c", "api", "-m", "Payments fail.")
    assert declared.exit_code == 0, declared.output
    assert declared.stdout.strip().splitlines() == [
        "Declared incident 1 (sev1, impact critical): Checkout failing",
        "http://127.0.0.1:8000/incidents/1",
    ]
    summary = httpx.get(f"{server}/api/v2/summary.json").json()
    assert [i["name"] for i in summary["incidents"]] == ["Checkout failing"]

    updated = remote("update", "1", "--status", "identified", "-m", "Bad deploy.", "-c", "web=partial_outage")
    assert updated.exit_code == 0, updated.output
    assert updated.stdout.splitlines() == [
        "Incident 1 is identified.",
        "  Web app: operational → partial_outage",
        "http://127.0.0.1:8000/incidents/1",
    ]
    resolved = remote("resolve", "1", "-m", "Rolled back.")
    assert resolved.exit_code == 0
    assert "  API: major_outage → operational" in resolved.stdout.splitlines()
    assert remote("list", "--open").stdout.strip() == "No open incidents."
    reopened = remote("reopen", "1", "-m", "Back again.")
    assert reopened.exit_code == 0 and "Incident 1 is investigating." in reopened.stdout
    assert local("show", "1", "--json").stdout == remote("show", "1", "--json").stdout


def test_output_is_the_same_as_local(remote: Run, local: Run) -> None:
    remote("declare", "-s", "2", "-t", "[bold]Slow[/bold] <dashboards>", "-c", "web", "--commander", "Chen Wei", "--detected-at", "10m ago")
    remote("--as", "bob", "ack", "1")
    remote("handover", "1", "--to", "Ana")
    remote("update", "1", "-m", "Still looking.")
    remote("resolve", "1")
    remote("declare", "-s", "3", "-t", "Second", "-c", "api=degraded_performance")
    for args in (("show", "1"), ("list",), ("list", "--open"), ("list", "--json"), ("component", "list")):
        here, there = local(*args), remote(*args)
        assert there.exit_code == here.exit_code == 0, there.output
        assert there.stdout == here.stdout, args
    shown = remote("show", "1").stdout
    assert "[bold]Slow[/bold] <dashboards>" in shown  # untrusted text printed literally
    assert "alice via token:ci" in shown  # who declared it: the person and the token


def test_ack_component_and_maintenance(remote: Run, local: Run) -> None:
    remote("declare", "-s", "1", "-t", "x", "-c", "api")
    first = remote("--as", "Zoë", "ack", "1")  # not ASCII: sent as UTF-8
    assert first.exit_code == 0 and first.stdout.startswith("Incident 1 acknowledged by Zoë at 2026-")
    again = remote("--as", "carol", "ack", "1")
    assert "already acknowledged by Zoë" in again.stdout
    assert "Zoë via token:ci" in local("show", "1").stdout

    assert remote("component", "set", "web", "degraded_performance").stdout.strip() == "web: operational → degraded_performance"
    unchanged = remote("component", "set", "api", "partial_outage")
    assert "status unchanged" in unchanged.stdout

    scheduled = remote("maintenance", "schedule", "-t", "DB upgrade", "-c", "api", "--start", "2099-01-01T06:00", "--end", "2099-01-01T08:00")
    assert scheduled.exit_code == 0, scheduled.output
    assert scheduled.stdout.strip() == "Scheduled maintenance 1: 2099-01-01 06:00:00 EST – 2099-01-01 08:00:00 EST"
    assert remote("maintenance", "status", "1", "in_progress").stdout.strip() == "Maintenance 1 is now in progress"


def test_pause_and_resume_the_sla_clocks_through_the_server(remote: Run, local: Run) -> None:
    remote("declare", "-s", "2", "-t", "Slow search", "-c", "web")
    paused = remote("pause", "1", "--reason", "customer to send <logs>")
    assert paused.exit_code == 0, paused.output
    assert paused.stdout.startswith("Incident 1: SLA clocks paused (customer to send <logs>)")
    shown = remote("show", "1").stdout
    assert "paused since" in shown and "left (paused)" in shown
    one_line_error(remote("pause", "1", "--reason", "again"), "already paused", 2)
    resumed = remote("resume", "1")
    assert resumed.exit_code == 0 and "SLA clocks running again" in resumed.stdout
    assert "(paused)" not in remote("show", "1").stdout
    one_line_error(remote("resume", "1"), "not paused", 2)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("declare", "-s", "1", "-t", "x", "-c", "nope"), "unknown component 'nope'"),
        (("declare", "-s", "7", "-t", "x", "-c", "api"), "severity: must be 1-4"),
        (("declare", "-s", "high", "-t", "x", "-c", "api"), "severity: must be 1-4"),
        (("declare", "-s", "1", "-t", "x", "-c", "api", "--detected-at", "yesterday-ish"), "not a time like"),
        (("update", "42", "-m", "hello"), "no incident 42"),
        (("resolve", "42"), "no incident 42"),
        (("show", "abc"), "incident ids are numbers"),
        (("show", "../components"), "no such endpoint"),  # escaped: the id stays one path segment
        (("maintenance", "status", "9", "completed"), "no maintenance 9"),
        (("token", "list"), "without --server"),
        (("token", "create", "--name", "x", "--scope", "read"), "without --server"),
        (("watch", "--once"), "without --server"),  # the worker runs beside the database
        (("escalate", "42"), "no incident 42"),
        (("severity", "42", "1"), "no incident 42"),
        (("action", "done", "42"), "no action item 42"),
        (("postmortem", "42"), "no incident 42"),
    ],
)
def test_refusals_are_one_line_and_exit_2(remote: Run, args: tuple[str, ...], words: str) -> None:
    one_line_error(remote(*args), words, 2)


def test_kpis_are_imported_into_the_database_directly_only(remote: Run, tmp_path: Path) -> None:
    source = tmp_path / "kpis.csv"
    source.write_text("month,fcr_percent,csat,nps,abandonment_percent,backlog_per_agent\n2026-10,78.5,4.6,42,4.1,18\n")
    one_line_error(remote("report", "import-kpis", str(source)), "import-kpis works on the database directly, not through --server", 2)


def test_conflict_is_exit_2(remote: Run) -> None:
    remote("declare", "-s", "1", "-t", "x", "-c", "api")
    remote("resolve", "1")
    one_line_error(remote("update", "1", "-m", "more"), "reopen it before posting", 2)


def test_token_problems_are_exit_2(remote_env: dict[str, str], token: Callable[[str, str], str], local: Run) -> None:
    def run(env: dict[str, str], *args: str) -> Result:
        return CliRunner(env=env).invoke(incident_main, list(args), prog_name="incident", catch_exceptions=False)

    one_line_error(run({**remote_env, "STATUSPAGE_TOKEN": "sp_wrong"}, "list"), "the token is not valid", 2)
    one_line_error(run({**remote_env, "STATUSPAGE_TOKEN": ""}, "list"), "--server needs a token", 2)
    reader = token("dashboard", "read")
    assert run({**remote_env, "STATUSPAGE_TOKEN": reader}, "list").exit_code == 0
    one_line_error(run({**remote_env, "STATUSPAGE_TOKEN": reader}, "declare", "-s", "1", "-t", "x", "-c", "api"), "may only read", 2)
    local("token", "revoke", "ci")
    one_line_error(run(remote_env, "list"), "revoked", 2)


def test_connection_refused_is_one_line_exit_1(remote_env: dict[str, str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = CliRunner(env={**remote_env, "STATUSPAGE_URL": url}).invoke(incident_main, ["list"], prog_name="incident")
    assert one_line_error(result, "", 1) == f"incident: cannot reach {url}: connection refused"


def test_not_a_status_page_is_reported(remote_env: dict[str, str], server: str) -> None:
    result = CliRunner(env={**remote_env, "STATUSPAGE_URL": "ftp://example"}).invoke(incident_main, ["list"], prog_name="incident")
    one_line_error(result, "is not an http(s) URL", 2)
    wrong_path = CliRunner(env={**remote_env, "STATUSPAGE_URL": server + "/elsewhere"}).invoke(incident_main, ["list"], prog_name="incident")
    one_line_error(wrong_path, "answered 404 Not Found; is http", 2)


def test_the_installed_command_with_server_option(remote_env: dict[str, str], server: str) -> None:
    env: dict[str, Any] = {**os.environ, **remote_env}
    token = env.pop("STATUSPAGE_TOKEN")
    env.pop("STATUSPAGE_URL")
    env["STATUSPAGE_TOKEN"] = token

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "incident"), "--server", server, *args], env=env, capture_output=True, text=True, timeout=60)

    declared = cli("declare", "-s", "1", "-t", "From CI", "-c", "api", "--json")
    assert declared.returncode == 0, declared.stderr
    assert json.loads(declared.stdout)["name"] == "From CI"
    assert "admin" not in json.loads(declared.stdout)
    missing = cli("show", "12345")
    assert (missing.returncode, missing.stderr.strip()) == (2, "incident: no incident 12345")


def backend_answering(handler: Callable[[httpx.Request], httpx.Response]) -> RemoteBackend:
    return RemoteBackend("http://status.test", "sp_x", user="alice", transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    ("response", "words"),
    [
        (httpx.Response(503, json={"detail": "the database could not be reached; try again"}, headers={"content-type": "application/problem+json"}), "failed: 503 the database could not be reached"),
        (httpx.Response(502, text="<html>bad gateway</html>"), "failed: 502 Bad Gateway"),
        (httpx.Response(200, text="<html>a login page</html>"), "did not answer with the admin API's JSON"),
        (httpx.Response(200, json={"incidents": [{"name": "no admin part"}]}), "answered in an unexpected shape"),
    ],
)
def test_server_failures_are_exit_1(response: httpx.Response, words: str) -> None:
    backend = backend_answering(lambda request: response)
    with pytest.raises(ServerUnavailable, match=re.escape(words)) as caught:
        backend.list_incidents(open_only=False, limit=5)
    assert caught.value.exit_code == 1


def test_timeouts_and_redirects() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(ServerUnavailable, match="cannot reach http://status.test: no answer within 15s"):
        backend_answering(slow).list_components()
    moved = backend_answering(lambda request: httpx.Response(301, headers={"location": "https://status.test/"}))
    with pytest.raises(UserError, match="redirected to https://status.test/"):
        moved.list_components()


def test_requests_carry_the_token_and_the_person() -> None:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"page": {"time_zone": "UTC", "url": "http://x"}, "components": []})

    backend = RemoteBackend("http://status.test/api/admin/v1/", "sp_secret", user="Zoë", transport=httpx.MockTransport(record))
    assert backend.list_components() == []
    (request,) = seen
    assert str(request.url) == "http://status.test/api/admin/v1/components"
    assert request.headers["authorization"] == "Bearer sp_secret"
    assert dict(request.headers.raw)[b"x-incident-user"] == "Zoë".encode()
    with pytest.raises(UserError, match="printable ASCII"):
        RemoteBackend("http://status.test", "sp_sécret", user="alice")
