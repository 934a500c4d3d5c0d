"""Root-cause categories: the configured taxonomy, ``incident rca --category`` in local and remote
mode and through the admin API, ``incident show``, and the ranking of causes for the report."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from starlette.testclient import TestClient

from incident_cli.main import main as incident_main
from statuspage.db.engine import make_engine, new_session
from statuspage.domain.causes import CauseRow, top_causes
from statuspage.incidents import service as incidents
from statuspage.runtime import Runtime
from statuspage.settings import ConfigError, Settings, load_settings
from statuspage.web.admin.calls import PREFIX
from statuspage.web.app import create_app
from tests.test_cli_remote import serving

SHIPPED = Path(__file__).resolve().parent.parent / "statuspage.yaml"
KNOWN = "known: change, capacity, third-party, configuration, infrastructure, process"
LABELS = {"change": "Change or deploy", "capacity": "Capacity", "third-party": "Third party"}


# The ranking -------------------------------------------------------------------------------


def test_top_causes_ranks_by_incidents_then_minutes_and_lists_the_uncategorised_last() -> None:
    items = [
        ("capacity", 30, Decimal("10.00")),
        (None, 500, Decimal("0")),
        ("change", 20, Decimal("5.50")),
        ("third-party", 90, Decimal("0")),
        ("change", 45, Decimal("4.50")),
        (None, 10, Decimal("2.25")),
        ("capacity", 40, Decimal("0")),
        ("retired", 5, Decimal("1")),
    ]
    assert top_causes(items, LABELS) == [
        # change and capacity both have 2 incidents: capacity's 70 minutes beat change's 65.
        CauseRow("capacity", "Capacity", 2, 70, Decimal("10.00")),
        CauseRow("change", "Change or deploy", 2, 65, Decimal("10.00")),
        CauseRow("third-party", "Third party", 1, 90, Decimal("0")),
        CauseRow("retired", "retired", 1, 5, Decimal("1")),  # no longer configured: its id
        # The most incidents and minutes of all, and still last.
        CauseRow("uncategorised", "Not categorised", 2, 510, Decimal("2.25")),
    ]


def test_top_causes_keeps_the_first_ones_and_still_shows_the_uncategorised() -> None:
    items = [(f"c{n}", n, Decimal(0)) for n in range(1, 13)] + [(None, 1, Decimal(0))]
    rows = top_causes(items, {}, limit=10)
    assert [row.category for row in rows] == [f"c{n}" for n in range(12, 2, -1)] + ["uncategorised"]
    assert top_causes([], LABELS) == []


# The taxonomy ------------------------------------------------------------------------------


def _errors(tmp_path: Path, old: str, new: str) -> list[str]:
    text = SHIPPED.read_text(encoding="utf-8")
    assert text.count(old) == 1
    target = tmp_path / "statuspage.yaml"
    target.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(target, env={})
    return caught.value.lines


def test_the_shipped_taxonomy_and_postmortem_deadline() -> None:
    config = load_settings(SHIPPED, env={}).config
    assert list(config.causes) == ["change", "capacity", "third-party", "configuration", "infrastructure", "process"]
    assert config.causes.label("third-party") == "Third party" and config.causes.label(None) == "Not categorised"
    assert str(config.postmortems.due_within) == "5bd" and config.postmortems.severities == (1, 2)


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("  capacity: Capacity\n", "  Capacity Planning: Capacity\n", '"Capacity Planning" is not an id'),
        ("  capacity: Capacity\n", "  uncategorised: Capacity\n", "reserved for incidents without a category"),
        ("  capacity: Capacity\n", "  capacity: ''\n", 'the label of "capacity" must be 1 to 100 characters'),
        ("  due_within: 5bd\n", "  due_within: soon\n", '"soon" is not a duration'),
    ],
)
def test_a_bad_taxonomy_is_refused_in_one_line_naming_the_field(tmp_path: Path, old: str, new: str, words: str) -> None:
    lines = _errors(tmp_path, old, new)
    assert len(lines) == 1 and words in lines[0], lines
    assert "statuspage.yaml:" in lines[0] and ("causes" in lines[0] or "postmortems.due_within" in lines[0])


# The command line, locally -----------------------------------------------------------------


def _stored(cli_env: dict[str, str]) -> tuple[str | None, str | None]:
    engine = make_engine(cli_env["DATABASE_URL"])
    try:
        with new_session(engine) as session:
            incident = incidents.get(session=session, incident_id=1)
            return incident.root_cause_category, incident.root_cause
    finally:
        engine.dispose()


def test_rca_files_the_cause_under_a_category_and_show_prints_its_label(run: Callable[..., Result], cli_env: dict[str, str]) -> None:
    assert run("declare", "-s", "2", "-t", "Chat down", "-c", "api").exit_code == 0
    done = run("rca", "1", "--category", "third-party", "--root-cause", "The chat vendor was down.")
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines() == [
        "Incident 1: cause category third-party",
        "Incident 1: root cause and remediation published on http://127.0.0.1:8000/incidents/1",
    ]
    shown = run("show", "1").stdout
    assert "Cause category  Third party" in shown
    assert _stored(cli_env) == ("third-party", "The chat vendor was down.")

    # An unknown id: refused in one line naming the known ones, and nothing of the call written.
    refused = run("rca", "1", "--category", "vendor", "--root-cause", "Changed text.", "--factor", "No fallback")
    assert refused.exit_code == 2 and refused.stdout == ""
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith("incident") and "'vendor' is not a cause category" in line and KNOWN in line
    assert _stored(cli_env) == ("third-party", "The chat vendor was down.")

    cleared = run("rca", "1", "--category", "")
    assert cleared.stdout.strip() == "Incident 1: cause category cleared"
    assert _stored(cli_env) == (None, "The chat vendor was down.")
    assert "Cause category" not in run("show", "1").stdout


# The admin API and the command line through it ---------------------------------------------


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime.settings, runtime.engine)) as test_client:
        yield test_client


def _declare(client: TestClient, headers: dict[str, str]) -> Any:
    made = client.post(f"{PREFIX}/incidents", json={"severity": 1, "title": "Checkout failing", "components": ["api"]}, headers=headers)
    assert made.status_code == 201, made.text
    return made.json()["incident"]["admin"]["id"]


def test_the_admin_api_takes_a_category_and_refuses_an_unknown_one(client: TestClient, make_token: Callable[..., str]) -> None:
    headers = {"authorization": f"Bearer {make_token('ci', 'write')}"}
    key = _declare(client, headers)
    refused = client.post(f"{PREFIX}/incidents/{key}/root-cause", json={"category": "aliens", "root_cause": "x"}, headers=headers)
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    assert "'aliens' is not a cause category" in refused.json()["detail"] and KNOWN in refused.json()["detail"]
    shown = client.get(f"{PREFIX}/incidents/{key}", headers=headers).json()["incident"]["admin"]
    assert (shown["root_cause"], shown["root_cause_category"]) == (None, None)

    filed = client.post(f"{PREFIX}/incidents/{key}/root-cause", json={"category": "capacity"}, headers=headers)
    assert filed.status_code == 200, filed.text
    admin = filed.json()["incident"]["admin"]
    assert (admin["root_cause_category"], admin["root_cause_category_label"]) == ("capacity", "Capacity")

    analysed = client.post(f"{PREFIX}/incidents/{key}/analysis", json={"category": "change", "factors": ["A bad deploy"]}, headers=headers)
    assert analysed.status_code == 200, analysed.text
    assert analysed.json()["incident"]["admin"]["root_cause_category_label"] == "Change or deploy"
    wrong = client.post(f"{PREFIX}/incidents/{key}/analysis", json={"category": "nope", "factors": ["Lost"]}, headers=headers)
    assert wrong.status_code == 422 and "'nope' is not a cause category" in wrong.json()["detail"]
    again = client.get(f"{PREFIX}/incidents/{key}/postmortem", headers=headers).json()["postmortem"]["markdown"]
    assert "- A bad deploy" in again and "Lost" not in again


def test_remote_rca_category_goes_through_the_server(settings: Settings, cli_env: dict[str, str], run: Callable[..., Result]) -> None:
    made = run("token", "create", "--name", "ci", "--scope", "write")
    assert made.exit_code == 0, made.output
    assert run("declare", "-s", "2", "-t", "Slow search", "-c", "web").exit_code == 0
    with serving(settings) as url:
        remote = CliRunner(env={**cli_env, "STATUSPAGE_URL": url, "STATUSPAGE_TOKEN": made.stdout.strip()})
        done = remote.invoke(incident_main, ["rca", "1", "--category", "infrastructure"], prog_name="incident")
        assert done.exit_code == 0, done.output
        assert done.stdout.strip() == "Incident 1: cause category infrastructure"
        shown = remote.invoke(incident_main, ["show", "1"], prog_name="incident")
        assert "Cause category  Infrastructure" in shown.stdout
        refused = remote.invoke(incident_main, ["rca", "1", "--category", "gremlins"], prog_name="incident")
    assert refused.exit_code == 2 and refused.stdout == ""
    (line,) = refused.stderr.strip().splitlines()
    assert "'gremlins' is not a cause category" in line and KNOWN in line
    assert _stored(cli_env) == ("infrastructure", None)
