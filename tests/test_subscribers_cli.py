"""``statuspage subscribers`` as an operator uses it (list, count, export, import, remove, show),
and the admin API's read of subscribers (counts, one subscriber with its delivery log)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import delete
from sqlmodel import col, select
from starlette.testclient import TestClient

from statuspage import subscriber_cli
from statuspage.cli import main as statuspage_main
from statuspage.context import WriteContext
from statuspage.db.engine import new_session
from statuspage.db.models import OutboxMessage
from statuspage.db.subscriber_models import SubscribeAttempt, Subscriber, SubscriberComponent
from statuspage.errors import InvalidInput
from statuspage.runtime import Runtime
from statuspage.subscriber_cli import EXPORT_COLUMNS, STATES
from statuspage.subscribers import service
from statuspage.web.admin.calls import PREFIX
from statuspage.web.app import create_app

Run = Callable[..., Result]


@pytest.fixture
def run(cli_env: dict[str, str]) -> Run:
    runner = CliRunner(env=cli_env)

    def invoke(*args: str, input: str | None = None) -> Result:  # noqa: A002 - click's name
        return runner.invoke(statuspage_main, ["subscribers", *args], prog_name="statuspage", input=input, catch_exceptions=False)

    return invoke


def _rows(runtime: Runtime) -> list[Subscriber]:
    with new_session(runtime.engine) as session:
        return list(session.exec(select(Subscriber).order_by(col(Subscriber.id))).all())


def _messages(runtime: Runtime) -> list[OutboxMessage]:
    with new_session(runtime.engine) as session:
        return list(session.exec(select(OutboxMessage).where(col(OutboxMessage.channel).in_(service.CHANNELS))).all())


def _one_line_error(result: Result, words: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("statuspage: ") and words in line, line


def test_states_are_the_services() -> None:
    assert STATES == service.STATES


def test_a_bad_file_imports_nothing_and_names_every_problem(run: Run, runtime: Runtime, tmp_path: Path) -> None:
    source = tmp_path / "list.csv"
    source.write_text(
        "email,components,confirmed,webhook_url\n"
        "ok@example.com,api,true,\n"
        "not-an-address,,,\n"
        "\n"
        "bob@example.com,api;nope,false,\n"
        "carol@example.com,,maybe,\n"
        "OK@example.com,,,\n"
        "dan@example.com,,,ftp://hooks.example.com/x\n"
    )
    result = run("import", str(source))
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{source}:3: email: that is not an email address like name@example.com: 'not-an-address'",
        f"{source}:5: components: no component 'nope' on this page",
        f"{source}:6: confirmed: 'maybe' is not true or false",
        f"{source}:7: email: the same subscriber as on line 2",
        f"{source}:8: webhook_url: 'ftp://hooks.example.com/x' must start with http:// or https://",
    ]
    assert _rows(runtime) == [] and _messages(runtime) == []

    source.write_text("address,components\nok@example.com,api\n")
    missing = run("import", str(source))
    assert missing.exit_code == 2
    assert missing.stderr.strip() == f"{source}:1: email: the header names no email column (it names: address, components)"
    assert _rows(runtime) == []


def test_import_confirmed_or_not(run: Run, runtime: Runtime, tmp_path: Path) -> None:
    source = tmp_path / "list.csv"
    source.write_text("email,components\na@example.com,api;web\nb@example.com,\n")
    result = run("import", str(source), "--confirmed")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "Imported 2 subscribers (2 confirmed, 0 confirmation emails queued, 0 already subscribed)"
    assert [(r.email, r.state, r.source, r.all_components) for r in _rows(runtime)] == [
        ("a@example.com", "active", "import", False),
        ("b@example.com", "active", "import", True),
    ]
    assert _messages(runtime) == []

    # Without --confirmed: pending, with one confirmation email each; the active one is left alone.
    source.write_text("email,confirmed\nc@example.com,\nd@example.com,no\na@example.com,false\n")
    result = run("import", str(source))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "Imported 3 subscribers (0 confirmed, 2 confirmation emails queued, 1 already subscribed)"
    states = {r.email: r.state for r in _rows(runtime)}
    assert states == {"a@example.com": "active", "b@example.com": "active", "c@example.com": "pending", "d@example.com": "pending"}
    messages = _messages(runtime)
    assert sorted((m.channel, m.event, m.target) for m in messages) == [
        (service.EMAIL_CHANNEL, service.CONFIRM_EVENT, "3"),
        (service.EMAIL_CHANNEL, service.CONFIRM_EVENT, "4"),
    ]

    # A confirmed column per row.
    source.write_text("email,confirmed\ne@example.com,yes\nf@example.com,0\n")
    result = run("import", str(source))
    assert result.stdout.strip() == "Imported 2 subscribers (1 confirmed, 1 confirmation email queued, 0 already subscribed)"


def test_a_long_file_is_imported_in_chunks(run: Run, runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subscriber_cli, "IMPORT_CHUNK", 3)
    source = tmp_path / "many.csv"
    source.write_text("email,components\n" + "".join(f"user{i}@example.com,{'api' if i % 2 else ''}\n" for i in range(7)))
    result = run("import", str(source))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "Imported 7 subscribers (0 confirmed, 7 confirmation emails queued, 0 already subscribed)"
    assert len(_rows(runtime)) == len(_messages(runtime)) == 7

    # A failure midway keeps the chunks before it, and says where it stopped.
    subscribe = service.subscribe

    def failing(**kwargs: Any) -> service.Subscribed:
        if kwargs["email"] == "boom@example.com":
            raise InvalidInput("the database refused it")
        return subscribe(**kwargs)

    monkeypatch.setattr(service, "subscribe", failing)
    source.write_text("email\nn1@example.com\nn2@example.com\nn3@example.com\nn4@example.com\nboom@example.com\n")
    result = run("import", str(source))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"{source}: rows up to line 4 were imported; from line 5 on, none",
        "statuspage: the database refused it",
    ]
    assert len(_rows(runtime)) == 10


def test_export_round_trip_and_count(run: Run, runtime: Runtime, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text(
        "email,components,confirmed\n"
        "a@example.com,api;web,true\n"
        "b@example.com,,true\n"
        "=cmd@example.com,web,false\n"
        "c@example.com,web,true\n"
    )
    assert run("import", str(source)).exit_code == 0
    assert run("remove", "c@example.com").exit_code == 0
    exported = run("export")
    assert exported.exit_code == 0, exported.output
    table = list(csv.reader(io.StringIO(exported.stdout)))
    assert tuple(table[0]) == EXPORT_COLUMNS
    assert [row[:4] for row in table[1:]] == [
        ["a@example.com", "api;web", "active", "email"],
        ["b@example.com", "", "active", "email"],
        ["'=cmd@example.com", "web", "pending", "email"],  # no formula for a spreadsheet to run
    ]

    counted = json.loads(run("count", "--json").stdout)
    assert counted["by_state"] == {"pending": 1, "active": 2, "suspended": 0, "removed": 1}
    assert counted["everything"] == 1
    assert counted["components"]["api"] == 2 and counted["components"]["web"] == 2
    assert counted["components"]["checkout"] == 1
    text = run("count").stdout
    assert "1 pending, 2 active, 0 suspended, 1 removed" in text and "(1 following everything)" in text

    # Into another database: the same subscribers, the same states.
    out = tmp_path / "out.csv"
    assert run("export", str(out)).stderr.strip() == f"Exported 3 subscribers to {out}."
    assert out.stat().st_mode & 0o077 == 0  # personal data
    with new_session(runtime.engine) as session:
        for model in (OutboxMessage, SubscriberComponent, SubscribeAttempt, Subscriber):
            session.execute(delete(model))
        session.commit()
    again = run("import", str(out))
    assert again.stdout.strip() == "Imported 3 subscribers (2 confirmed, 1 confirmation email queued, 0 already subscribed)"
    assert [row[:4] for row in csv.reader(io.StringIO(run("export").stdout))][1:] == [row[:4] for row in table[1:]]


def test_list_remove_and_show(run: Run, runtime: Runtime, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("email,components,confirmed\na@example.com,api,false\nb@example.com,,true\n")
    assert run("import", str(source)).exit_code == 0

    listed = run("list").stdout.splitlines()
    assert listed[0].split()[:5] == ["ID", "KIND", "STATE", "ADDRESS", "COMPONENTS"]
    assert listed[1].split()[:5] == ["1", "email", "pending", "a@example.com", "api"]
    assert listed[2].split()[:5] == ["2", "email", "active", "b@example.com", "all"]
    assert [line.split()[0] for line in run("list", "--state", "active").stdout.splitlines()[1:]] == ["2"]
    assert [line.split()[0] for line in run("list", "--component", "web").stdout.splitlines()[1:]] == ["2"]
    _one_line_error(run("list", "--component", "nope"), "no component 'nope'")
    data = json.loads(run("list", "--json").stdout)["subscribers"]
    assert [(s["email"], s["components"], s["all_components"]) for s in data] == [("a@example.com", ["api"], False), ("b@example.com", [], True)]
    assert "nonce" not in json.dumps(data)

    shown = run("show", "a@example.com")
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert lines[0] == "Subscriber 1: email, pending"
    assert "Deliveries, newest first:" in lines
    assert lines[-1].split()[2:5] == [service.CONFIRM_EVENT, "pending", "0"]
    assert "No deliveries." in run("show", "2").stdout

    removed = run("remove", "A@Example.com")
    assert removed.stdout.strip() == "Removed 1 subscription: the address, webhook URLs and links are erased; only anonymous counts remain."
    (row, _) = _rows(runtime)
    assert (row.state, row.email, row.address_key, row.manage_nonce, row.confirm_nonce) == ("removed", None, None, None, None)
    _one_line_error(run("remove", "a@example.com"), "no subscriber with the address a@example.com")
    _one_line_error(run("show", "a@example.com"), "no subscriber with the address a@example.com")
    _one_line_error(run("show", "42"), "no subscriber 42")
    erased = run("show", "1").stdout
    assert erased.startswith("Subscriber 1: email, removed\n  removed:") and "a@example.com" not in erased
    gone = run("list", "--state", "removed").stdout.splitlines()[1].split()
    assert gone[:5] == ["1", "email", "removed", "-", "-"]
    assert "a@example.com" not in run("list", "--state", "removed", "--json").stdout


# The admin API -----------------------------------------------------------------------------------


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime.settings, runtime.engine)) as test_client:
        yield test_client


def test_admin_api_counts_and_shows_a_subscriber(
    client: TestClient, make_token: Callable[..., str], ctx: WriteContext
) -> None:
    service.subscribe(ctx=ctx, email="a@example.com", components=["api"])
    service.subscribe(ctx=ctx, email="b@example.com", confirmed=True, source="import")
    auth = {"authorization": f"Bearer {make_token('dashboard', 'read')}"}

    counts = client.get(f"{PREFIX}/subscribers/counts", headers=auth)
    assert counts.status_code == 200, counts.text
    assert counts.json()["counts"]["by_state"] == {"pending": 1, "active": 1, "suspended": 0, "removed": 0}
    assert counts.json()["counts"]["components"]["api"] == 1

    shown = client.get(f"{PREFIX}/subscribers/1", headers=auth)
    assert shown.status_code == 200, shown.text
    data = shown.json()
    assert (data["subscriber"]["email"], data["subscriber"]["state"], data["subscriber"]["components"]) == ("a@example.com", "pending", ["api"])
    (delivery,) = data["deliveries"]
    assert (delivery["event"], delivery["state"], delivery["attempts"]) == (service.CONFIRM_EVENT, "pending", 0)
    assert set(delivery) >= {"id", "delivery_id", "waits", "created_at", "delivered_at", "last_error"}
    assert "nonce" not in shown.text and "payload" not in shown.text

    for missing in ("42", "abc", "2147483648"):
        response = client.get(f"{PREFIX}/subscribers/{missing}", headers=auth)
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == "application/problem+json"
    assert client.get(f"{PREFIX}/subscribers/counts").status_code == 401
