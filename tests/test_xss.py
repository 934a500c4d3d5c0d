"""Hostile text everywhere it can be written, checked everywhere it is shown.

Each payload goes into an incident's title, its updates, its root cause and remediation, a
maintenance window, a postmortem's contributing factor and, through the configuration, a
component's and a group's name. Then every output is read the way its consumer reads it: HTML
pages parsed with BeautifulSoup (nothing injected: no script, no img, no on* attribute, no
javascript: link), the JSON API (the text comes back exactly, as a JSON string), the Atom and RSS
feeds (well-formed XML, parsed by feedparser, no raw ``<script``), the badge (well-formed SVG),
the Slack messages queued for delivery (``<``, ``>`` and ``&`` escaped, so ``<!channel>`` pings
nobody and ``<http://evil|click>`` links nowhere), the postmortem Markdown and the monthly
report in Markdown and HTML.

The per-file tests in test_web.py, test_pages.py, test_feeds.py and test_slack.py cover titles
on single outputs; this file covers the other fields and the outputs together.
"""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import feedparser
import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner
from sqlmodel import select
from starlette.testclient import TestClient

from incident_cli.main import main as incident_main
from statuspage.clock import FixedClock
from statuspage.context import Actor
from statuspage.db.engine import make_engine
from statuspage.db.models import OutboxMessage
from statuspage.domain.enums import Source
from statuspage.runtime import Runtime, ensure_ready
from statuspage.settings import load_settings
from statuspage.slack.headline import headline_message
from statuspage.slack.messages import render
from statuspage.tokens import service as tokens
from statuspage.web.admin.calls import PREFIX
from statuspage.web.app import create_app

from .conftest import SHIPPED_CONFIG, T0

PAYLOADS = {
    "script": "<script>alert(1)</script>",
    "attribute": '"><img src=x onerror=alert(1)>',
    "single-quote": "'><svg onload=alert(1)>",
    "javascript-url": "javascript:alert(document.cookie)",
    "cdata": "]]><x>&amp;</x><![CDATA[",
    "ampersand": "Fish & Chips &lt;b&gt; &#60;",
    "slack": "<!channel> <!here> <@U123> <http://evil.example|click> <#C123>",
    "template": "{{ 7*7 }} {% raw %}${7*7}",
    "rtl": "admin\u202egnp.exe \u2066x\u2069",
    "markdown": "[click](javascript:alert(1)) ![x](http://evil/x.png) <!-- -->",
}
# Refused by the API (and by YAML): control characters. They must be a 422, never stored.
CONTROL = {"nul": "a\x00b", "escape": "\x1b[2J", "bell": "ding\x07"}

SLACK_RAW = ["<!channel>", "<!here>", "<@U123>", "<http://evil.example|click>", "<#C123>"]


COMPONENTS = ["api", "web", "checkout", "auth", "notifications", "phone-support", "chat-support", "email-support", "help-center"]


def _config_with_names(directory: Path) -> Path:
    """The shipped configuration with every component, and the Platform group, named by a payload."""
    content = SHIPPED_CONFIG.read_text(encoding="utf-8")
    names = list(PAYLOADS.values())
    for index, component in enumerate(COMPONENTS):
        marker = f"  - id: {component}\n    name: "
        assert content.count(marker) == 1, marker
        head, tail = content.split(marker)
        _, rest = tail.split("\n", 1)
        content = head + marker + json.dumps(names[index % len(names)]) + "\n" + rest  # JSON strings are YAML strings
    old = "    name: Platform\n"
    assert content.count(old) == 1
    content = content.replace(old, f"    name: {json.dumps(names[-1])}\n")
    target = directory / "statuspage.yaml"
    target.write_text(content, encoding="utf-8")
    return target


@pytest.fixture
def site(_sqlite_template: Path, tmp_path: Path) -> Iterator[tuple[TestClient, Runtime, dict[str, str]]]:
    """One incident per payload (title, updates, commander, root cause), one maintenance per
    payload, and components named by payloads; all on one database to keep this file fast.

    SQLite only: what is rendered does not depend on the backend (the text makes the same round
    trip through both; test_admin_api.py checks that on each), and this is the slowest setup."""
    database = tmp_path / "var" / "statuspage.db"
    database.parent.mkdir()
    shutil.copy(_sqlite_template, database)
    db_url = f"sqlite:///{database}"
    settings = load_settings(_config_with_names(tmp_path), env={"DATABASE_URL": db_url})
    engine = make_engine(settings.database_url)
    runtime = Runtime(settings=settings, engine=engine, clock=FixedClock(T0))
    ensure_ready(runtime)
    with runtime.session() as session:
        _, secret = tokens.create_token(ctx=runtime.context(session, Actor("root", Source.CLI)), name="xss", scope="write")
    env = {"STATUSPAGE_CONFIG": str(settings.config_path), "DATABASE_URL": db_url, "INCIDENT_USER": "alice", "NO_COLOR": "1"}
    with TestClient(create_app(settings, engine)) as client:
        client.headers["authorization"] = f"Bearer {secret}"
        for number, payload in enumerate(PAYLOADS.values(), start=1):
            _write_everything(client, number, payload)
        yield client, runtime, env
    engine.dispose()


def _write_everything(client: TestClient, number: int, payload: str) -> None:
    def ok(response: Any) -> Any:
        assert response.status_code < 300, response.text
        return response.json()

    body = {"severity": 1 if number == 1 else 3, "title": payload, "components": ["api"], "message": payload}
    assert ok(client.post(f"{PREFIX}/incidents", json=body))["incident"]["id"] == str(number)
    ok(client.patch(f"{PREFIX}/incidents/{number}", json={"status": "identified", "message": payload}))
    ok(client.post(f"{PREFIX}/incidents/{number}/handover", json={"to": payload}))
    ok(client.post(f"{PREFIX}/incidents/{number}/resolve", json={"message": payload}))
    ok(client.post(f"{PREFIX}/incidents/{number}/root-cause", json={"root_cause": payload, "remediation": payload}))
    window = {"title": payload, "components": ["api"], "message": payload,
              "scheduled_for": "2026-11-26T10:00:00Z", "scheduled_until": "2026-11-26T11:00:00Z"}
    ok(client.post(f"{PREFIX}/maintenances", json=window))


def _squash(value: str) -> str:
    return " ".join(value.split())


# --- what a browser would run ------------------------------------------------------------------


def assert_inert_html(html: str, where: str, *, own_script: str | None = None) -> BeautifulSoup:
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup.find_all(True):
        if own_script and tag.name == "script" and tag.attrs == {"src": own_script, "defer": ""} and not tag.contents:
            continue  # the site's own script file, which the page's CSP allows
        # (an <svg> of the page's own, such as the monthly report's chart, is fine; its attributes are checked)
        assert tag.name not in {"script", "img", "iframe", "object", "embed", "x"}, (where, str(tag)[:200])
        for name, value in tag.attrs.items():
            assert not name.lower().startswith("on"), (where, str(tag)[:200])
            values = value if isinstance(value, list) else [value]
            for item in values:
                if name.lower() in {"href", "src", "action", "formaction", "xlink:href"}:
                    assert not re.sub(r"\s", "", str(item)).lower().startswith("javascript:"), (where, str(tag)[:200])
    for comment in soup.find_all(string=lambda s: type(s).__name__ == "Comment"):
        assert "-->" not in comment, where
    return soup


def _check_html(client: TestClient) -> None:
    pages = ["/", "/history", "/sla", "/pricing", "/embed"] + [f"/incidents/{n}" for n in range(1, len(PAYLOADS) + 1)]
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:300])
        assert_inert_html(response.text, path, own_script="/static/live.js")
    for number, payload in enumerate(PAYLOADS.values(), start=1):
        shown = _squash(BeautifulSoup(client.get(f"/incidents/{number}").text, "html.parser").get_text())
        assert _squash(payload) in shown, (number, payload)  # shown as text: escaping did not eat it
    front = _squash(BeautifulSoup(client.get("/").text, "html.parser").get_text())
    for payload in PAYLOADS.values():
        assert _squash(payload) in front, payload  # as a component's name


def _check_json(client: TestClient) -> None:
    incidents = {i["id"]: i for i in client.get("/api/v2/incidents.json").json()["incidents"]}
    summary = client.get("/api/v2/summary.json")
    assert summary.headers["content-type"].startswith("application/json")
    names = {c["id"]: c["name"] for c in summary.json()["components"]}
    maintenances = {m["name"] for m in client.get("/api/v2/scheduled-maintenances.json").json()["scheduled_maintenances"]}
    for number, payload in enumerate(PAYLOADS.values(), start=1):
        incident = incidents[str(number)]
        assert incident["name"] == payload
        assert {u["body"] for u in incident["incident_updates"]} == {payload}
        assert client.get(f"/incidents/{number}.json").json()["incident"]["name"] == payload
        assert payload in maintenances
    assert names["api"] == PAYLOADS[next(iter(PAYLOADS))]


def _check_feeds(client: TestClient) -> None:
    for path in ("/history.atom", "/history.rss"):
        raw = client.get(path).content
        for needle in (b"<script", b"<img", b"<svg", b"<x>"):
            assert needle not in raw.lower(), (path, needle)
        root = ET.fromstring(raw)  # well-formed, whatever "]]>" or "&" did
        # Entry content is HTML carried as text: once a reader unescapes it, it must still be inert.
        for element in root.iter():
            if element.tag.rsplit("}", 1)[-1] in {"content", "summary", "description"} and element.text:
                assert_inert_html(element.text, f"{path} {element.tag}")
        parsed = feedparser.parse(raw)
        assert not parsed.bozo, parsed.get("bozo_exception")
        assert len(parsed.entries) == len(PAYLOADS)
        everything = _squash(" ".join(root.itertext()))
        for payload in PAYLOADS.values():
            assert _squash(payload) in everything, (path, payload)


def _check_badge(client: TestClient) -> None:
    for query in ("", "?component=api", "?component=checkout"):
        raw = client.get(f"/badge.svg{query}").content
        for element in ET.fromstring(raw).iter():
            assert not element.tag.lower().endswith(("script", "foreignobject")), element.tag
            assert not any(name.lower().startswith("on") for name in element.attrib), element.attrib
        assert b"<script" not in raw.lower()


# --- Slack ----------------------------------------------------------------------------------------


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in {"action_id", "value", "block_id", "url", "channel", "thread_ts", "ts"}:
                yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)


def _rendered_slack_messages(runtime: Runtime) -> list[dict[str, Any]]:
    """Every queued Slack message rendered as the sender renders it just before posting."""
    rendered = []
    config = runtime.settings.config
    with runtime.session() as session:
        for row in session.exec(select(OutboxMessage).where(OutboxMessage.channel == "slack")).all():
            payload = row.payload
            if payload["kind"] == "headline":
                message = headline_message(session, config, int(payload["incident"]["id"]), T0, op="post")
            elif payload["kind"] == "dm":
                message = render("page_dm", config, incident=payload["incident"], data=payload["data"])
            else:
                message = render(payload["template"], config, incident=payload.get("incident"), data=payload["data"])
            rendered.append(message)
    return rendered


def _check_slack(runtime: Runtime) -> None:
    messages = _rendered_slack_messages(runtime)
    assert len(messages) >= 3 * len(PAYLOADS), "declaring, updating and resolving queue Slack messages"
    joined = "\n".join(t for message in messages for t in _texts(message))
    for raw in SLACK_RAW + ["<script", "<img", "<svg"]:
        assert raw not in joined, raw
    # Every & < > from a payload is an entity. (The only raw < left are Slack's own mentions and
    # links that templates make on purpose: <@U...> from the escalation matrix, <https://...|...>.)
    for match in re.finditer(r"&(?!amp;|lt;|gt;)", joined):
        raise AssertionError(f"a raw & in Slack text: {joined[max(0, match.start() - 40):match.end() + 40]!r}")
    for payload in PAYLOADS.values():
        escaped = payload.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        assert _squash(escaped) in _squash(joined), payload


def _check_monthly_report(env: dict[str, str], directory: Path) -> None:
    for fmt in ("md", "html"):
        target = directory / f"report.{fmt}"
        args = ["report", "monthly", "--month", T0.strftime("%Y-%m"), "--format", fmt, "--out", str(target)]
        result = CliRunner(env=env).invoke(incident_main, args, prog_name="incident")
        assert result.exit_code == 0, result.output
        written = target.read_text(encoding="utf-8")
        if fmt == "html":
            assert_inert_html(written, "monthly.html")
        else:
            for needle in MARKUP:
                assert needle not in written.lower(), needle


def test_hostile_text_is_inert_in_every_output(site: Any, tmp_path: Path) -> None:
    client, runtime, env = site
    _check_html(client)
    _check_json(client)
    _check_feeds(client)
    _check_badge(client)
    _check_slack(runtime)
    _check_monthly_report(env, tmp_path)


MARKUP = ("<script", "<img", "<svg", "<x>", "<!channel")


def test_postmortem_markdown_carries_no_live_markup(cli_env: dict[str, str], tmp_path: Path) -> None:
    runner = CliRunner(env=cli_env)
    payload = PAYLOADS["attribute"] + " " + PAYLOADS["script"]
    declared = runner.invoke(incident_main, ["declare", "-s", "3", "-t", payload, "-c", "api", "-m", payload], prog_name="incident")
    assert declared.exit_code == 0, declared.output
    result = runner.invoke(incident_main, ["postmortem", "1", "--out-dir", str(tmp_path / "pm")], prog_name="incident")
    assert result.exit_code == 0, result.output
    (document,) = (tmp_path / "pm").glob("*.md")
    markdown = document.read_text(encoding="utf-8")
    assert markdown.count("<!--") == markdown.count("-->")  # the narrative markers are intact
    assert [needle for needle in MARKUP if needle in markdown.lower()] == []


# --- what is refused ------------------------------------------------------------------------------


def test_control_characters_are_refused_not_stored(client_for_control: TestClient) -> None:
    for value in CONTROL.values():
        for field in ("title", "message"):
            body = {"severity": 3, "title": "Slow", "components": ["api"], field: value}
            response = client_for_control.post(f"{PREFIX}/incidents", json=body)
            assert response.status_code == 422, response.text
            assert "control characters" in response.json()["detail"], response.json()
    assert client_for_control.get("/api/v2/incidents.json").json()["incidents"] == []


@pytest.fixture
def client_for_control(runtime: Runtime) -> Iterator[TestClient]:
    with runtime.session() as session:
        _, secret = tokens.create_token(ctx=runtime.context(session, Actor("root", Source.CLI)), name="ctl", scope="write")
    with TestClient(create_app(runtime.settings, runtime.engine)) as client:
        client.headers["authorization"] = f"Bearer {secret}"
        yield client
