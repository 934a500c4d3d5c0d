"""What customers read on the public pages: uptime per window shown and per configured weighting,
each day a link to its incidents, the colour legend; the incident page's root cause, actions and
missed commitments; the history after a postmortem; the support plans a buyer can decide on; when
the next update of an open incident is due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from statuspage.clock import FixedClock
from statuspage.context import WriteContext
from statuspage.incidents import handling
from statuspage.incidents import service as incidents
from statuspage.maintenance import service as maintenance
from statuspage.postmortems import service as postmortems
from statuspage.runtime import Runtime
from statuspage.settings import ConfigError, load_settings
from statuspage.web.app import create_app
from tests.test_pages import T0, at, client, clock, declare_and_resolve, soup  # noqa: F401 - fixtures used by name

DAY = 24 * 60  # minutes


# --- uptime bars -----------------------------------------------------------------------------


def test_each_window_shows_its_own_uptime(client: TestClient, ctx: WriteContext, clock: FixedClock) -> None:
    # 45 days ago: 288 minutes of major outage on Sign-in, inside the 90 days, outside the last 30.
    declare_and_resolve(ctx, clock, T0 - timedelta(days=45), 288, severity=1, title="Sign-in down", components=["auth"])
    # 5 days ago: 72 more minutes, inside both.
    declare_and_resolve(ctx, clock, T0 - timedelta(days=5), 72, severity=1, title="Sign-in down again", components=["auth"])
    at(clock, T0)
    auth = client.get("/index.json").json()["uptime"]["auth"]
    # Today is half over: 89.5 and 29.5 days counted.
    assert auth["percent"] == pytest.approx(100 * (1 - 360 / (89.5 * DAY)), abs=0.001)
    assert auth["percent_30d"] == pytest.approx(100 * (1 - 72 / (29.5 * DAY)), abs=0.001)
    legend = soup(client.get("/")).select_one("#component-auth .uptime-legend")
    assert legend.select_one(".percent").get_text() == f"{auth['percent']:.2f} % uptime"
    assert legend.select_one(".percent-short").get_text() == f"{auth['percent_30d']:.2f} % uptime"
    assert legend.select_one(".from-short").get_text() == "30 days ago"


def test_partial_outage_weighs_30_percent_and_degraded_nothing_by_default(
    client: TestClient, ctx: WriteContext, clock: FixedClock
) -> None:
    start = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
    declare_and_resolve(ctx, clock, start, 100, severity=2, title="API errors", components=["api"])  # partial outage
    declare_and_resolve(ctx, clock, start, 100, severity=3, title="Web slow", components=["web"])  # degraded
    at(clock, T0)
    uptime = client.get("/index.json").json()["uptime"]
    api = next(d for d in uptime["api"]["days"] if d["date"] == "2026-11-22")
    web = next(d for d in uptime["web"]["days"] if d["date"] == "2026-11-22")
    assert (api["status"], api["uptime"]) == ("partial_outage", pytest.approx(100 * (1 - 0.3 * 100 / DAY), abs=0.001))
    assert (web["status"], web["uptime"]) == ("degraded_performance", 100.0)
    rule = soup(client.get("/")).select_one(".uptime-key .note").get_text()
    assert "a major outage in full as down time, a partial outage at 30 % and degraded performance not at all" in rule


def test_the_configuration_decides_how_degraded_time_counts(
    runtime: Runtime, config_file: Path, db_url: str, ctx: WriteContext, clock: FixedClock
) -> None:
    text = config_file.read_text()
    shipped = "downtime_percent: {major_outage: 100, partial_outage: 30, degraded_performance: 0}"
    assert shipped in text
    config_file.write_text(text.replace(shipped, "downtime_percent: {partial_outage: 50, degraded_performance: 10}"))
    settings = load_settings(config_file, env={"DATABASE_URL": db_url})
    declare_and_resolve(ctx, clock, datetime(2026, 11, 22, 15, tzinfo=UTC), 100, severity=3, title="Slow", components=["web"])
    at(clock, T0)
    with TestClient(create_app(settings, runtime.engine, clock=clock, version_check_interval=0)) as c:
        web = next(d for d in c.get("/index.json").json()["uptime"]["web"]["days"] if d["date"] == "2026-11-22")
        rule = soup(c.get("/")).select_one(".uptime-key .note").get_text()
    assert web["uptime"] == pytest.approx(100 * (1 - 0.1 * 100 / DAY), abs=0.001)
    assert "a partial outage at 50 % and degraded performance at 10 %" in rule

    config_file.write_text(text.replace(shipped, "downtime_percent: {degraded_performance: 120}"))
    with pytest.raises(ConfigError, match="degraded_performance"):
        load_settings(config_file, env={"DATABASE_URL": db_url})


def test_every_day_is_a_named_link_to_its_incidents_and_the_colours_are_explained(
    client: TestClient, ctx: WriteContext, clock: FixedClock
) -> None:
    declare_and_resolve(
        ctx, clock, datetime(2026, 11, 22, 19, 0, tzinfo=UTC), 144, severity=1, title="Payments failing", components=["checkout"]
    )
    at(clock, T0)
    page = soup(client.get("/"))
    cells = page.select("#component-checkout .uptime .bar li")
    assert len(cells) == 90
    links = [cell.find("a") for cell in cells]
    assert all(link is not None and link.get("tabindex") is None for link in links)
    assert links[-1]["href"] == "/history?day=2026-11-25&component=checkout"
    assert links[-1]["title"] == "Nov 25, 2026: Operational"
    outage = next(link for link in links if "2026-11-22" in link["href"])
    assert outage["title"] == "Nov 22, 2026: Major outage · 90.00 % uptime · Payments failing"

    key = page.select_one("#components .uptime-key")
    labels = [li.get_text(strip=True) for li in key.select(".swatches li")]
    assert labels == ["Operational", "Degraded performance", "Partial outage", "Major outage", "Under maintenance", "No data"]
    assert all(li.select_one(".swatch") is not None for li in key.select(".swatches li"))

    data = client.get(outage["href"].replace("/history?", "/history.json?")).json()
    assert data["day"]["date"] == "2026-11-22"
    assert [i["name"] for i in data["day"]["incidents"]] == ["Payments failing"]
    html = soup(client.get(outage["href"]))
    assert html.select_one("h1").get_text() == "Incidents on November 22, 2026: Checkout and payments"
    assert [a.get_text() for a in html.select(".history h3 a")] == ["Payments failing"]
    assert html.select_one(".pager a")["href"] == "/history?component=checkout"
    quiet = soup(client.get("/history?day=2026-11-20&component=checkout"))
    assert quiet.select_one(".empty").get_text() == "No incidents reported for Checkout and payments on November 20, 2026."


def test_history_refuses_a_day_that_is_not_one(client: TestClient, clock: FixedClock) -> None:
    at(clock, T0)
    for day in ["2026-13-01", "yesterday", "2026-11-2", "٢٠٢٦-١١-٢٢", "2026-11-26", "1969-12-31", "2026-02-30", "2026-11-22\x00"]:
        as_json = client.get("/history.json", params={"day": day})
        assert (as_json.status_code, as_json.headers["content-type"]) == (400, "application/problem+json"), day
        assert "day" in as_json.json()["detail"]
        assert client.get("/history", params={"day": day}).status_code == 400, day


# --- incident page and history ---------------------------------------------------------------


def missed_and_analysed(ctx: WriteContext, clock: FixedClock) -> int:
    """A Sev-1 first answered 20 minutes after detection (the target is 15), with a root cause,
    a remediation and one action item."""
    start = datetime(2026, 11, 10, 15, 0, tzinfo=UTC)
    at(clock, start)
    incident = incidents.declare(
        ctx=ctx, severity=1, title="Checkout down", components=["checkout"], detected_at=start - timedelta(minutes=20)
    )
    key = incident.id or 0
    incidents.acknowledge(ctx=ctx, incident_id=key)
    at(clock, start + timedelta(minutes=30))  # before the next update was due
    incidents.resolve(ctx=ctx, incident_id=key, message="Payments work again. Resolved; a postmortem will follow.")
    handling.record_root_cause(ctx=ctx, incident_id=key, root_cause="A certificate expired.", remediation="Renew automatically.")
    postmortems.add_action(ctx=ctx, incident_id=key, title="Alert 30 days before expiry", owner="bob", due_on="2026-12-15")
    at(clock, T0)
    return key


def test_incident_page_shows_the_root_cause_once_the_actions_and_the_missed_commitment(
    client: TestClient, ctx: WriteContext, clock: FixedClock
) -> None:
    key = missed_and_analysed(ctx, clock)
    before = soup(client.get(f"/incidents/{key}"))
    assert before.get_text().count("A certificate expired.") == 1
    assert before.select_one("section.postmortem") is None

    postmortems.publish(ctx=ctx, incident_id=key)
    page = soup(client.get(f"/incidents/{key}"))
    assert page.get_text().count("A certificate expired.") == 1
    assert page.get_text().count("Renew automatically.") == 1
    section = page.select_one("section.postmortem")
    assert section is not None and page.select_one("section.rca") is None
    # The service recovery the resolution started (2 and 5 business days from Tuesday 10:30, with
    # Veterans Day, Wednesday 11th, off), then the remediation.
    *recovery, action = section.select("ul.actions li")
    assert [li.get_text(" ", strip=True) for li in recovery] == [
        "Contact affected Premium accounts (due 2026-11-13)", "Issue SLA credits (due 2026-11-18)"
    ]
    assert action.get_text(" ", strip=True) == "Alert 30 days before expiry (due 2026-12-15)"
    assert action["data-status"] == "open"
    (missed,) = page.select("section.missed .breach")
    assert "First response missed by 5 minutes" in missed.get_text(" ", strip=True)
    facts = {dt.get_text(): dd.get_text() for dt, dd in zip(missed.select("dt"), missed.select("dd"), strict=True)}
    assert facts == {"Promised": "within 15 minutes", "Took": "20 minutes"}
    breaches = client.get(f"/incidents/{key}.json").json()["breaches"]
    assert [(b["target"], b["breached_by"]) for b in breaches] == [("first_response", "5 minutes")]


def test_history_stops_promising_a_postmortem_once_it_is_published(client: TestClient, ctx: WriteContext, clock: FixedClock) -> None:
    key = missed_and_analysed(ctx, clock)
    item = soup(client.get("/history")).select_one(".history li")
    assert "a postmortem will follow" in item.get_text()
    postmortems.publish(ctx=ctx, incident_id=key)
    item = soup(client.get("/history")).select_one(".history li")
    assert "will follow" not in item.get_text()
    note = item.select_one(".postmortem-note")
    assert note.get_text(" ", strip=True).startswith("Postmortem published Nov 25, 2026")
    assert note.select_one("a")["href"] == f"/incidents/{key}#postmortem"
    assert client.get("/history.json").json()["months"][0]["incidents"][0]["postmortem"]["url"] == f"/incidents/{key}#postmortem"


# --- support plans and commitments -----------------------------------------------------------


def test_pricing_lets_a_buyer_decide(client: TestClient) -> None:
    page = soup(client.get("/pricing"))
    assert page.select_one(".from-price strong").get_text() == "From $49 per seat per month"
    seat = page.select_one("#seat-definition")
    assert seat.select_one("dfn").get_text() == "Seat"
    assert "one named person on your team" in seat.get_text()
    asks = {a.get_text(): a["href"] for a in page.select(".compare .cta-row a")}
    assert asks == {
        "Ask for Standard": "mailto:support@sendero.example?subject=Standard%20support%20plan",
        "Ask for Premium": "mailto:support@sendero.example?subject=Premium%20support%20plan",
    }
    assert [p.get_text() for p in page.select(".tier-card .price")] == [
        "Included with every subscription", "From $49 per seat per month", "From $199 per seat per month"
    ]
    phone = page.select_one(".phone-line").get_text(" ", strip=True)
    assert "The Premium phone line" in phone and "answered within 2 minutes, around the clock" in phone
    clocks = page.select_one(".two-clocks").get_text(" ", strip=True)
    assert "on Basic, a Sev-1 ticket is answered within 2 business days" in clocks
    assert "within 15 minutes, around the clock" in clocks


def test_sla_tables_carry_the_labels_their_cards_show(client: TestClient) -> None:
    page = soup(client.get("/sla"))
    tables = page.select("main table")
    assert tables and all("stack" in table["class"] for table in tables)
    assert all(td.get("data-label") for table in tables for td in table.select("tbody td"))
    first = page.select_one("#severity-sev1 td")
    assert (first["data-label"], first.get_text(strip=True)) == ("First response", "within 15 minutes")
    assert "support plans" in page.select_one(".explain").get_text()


# --- open incidents --------------------------------------------------------------------------


def test_next_update_is_due_one_cadence_after_the_last_update(client: TestClient, ctx: WriteContext, clock: FixedClock) -> None:
    at(clock, T0 - timedelta(minutes=10))  # 11:50 in New York
    critical = incidents.declare(ctx=ctx, severity=1, title="Checkout down", components=["checkout"], message="Looking.")
    minor = incidents.declare(ctx=ctx, severity=3, title="Slow search", components=["web"], message="Looking.")
    at(clock, T0)
    page = soup(client.get("/"))
    line = page.select_one(f"#incident-{critical.id}-title").find_parent("article").select_one(".next-update")
    assert line.get_text(" ", strip=True) == "Next update by 12:20 EST (updates every 30 minutes)"
    assert line.select_one("time")["datetime"] == "2026-11-25T17:20:00Z"
    assert page.select_one(f"#incident-{minor.id}-title").find_parent("article").select_one(".next-update") is None
    own = soup(client.get(f"/incidents/{critical.id}")).select_one(".next-update")
    assert own.get_text(" ", strip=True).startswith("Next update by 12:20 EST")
    assert client.get("/index.json").json()["next_updates"][str(critical.id)]["due_at"].startswith("2026-11-25T12:20:00")

    at(clock, T0 + timedelta(minutes=5))
    incidents.post_update(ctx=ctx, incident_id=critical.id or 0, message="Found it.", status="identified")
    page = soup(client.get(f"/incidents/{critical.id}"))
    assert page.select_one(".next-update time").get_text() == "12:35 EST"
    incidents.resolve(ctx=ctx, incident_id=critical.id or 0, message="Fixed.")
    assert soup(client.get(f"/incidents/{critical.id}")).select_one(".next-update") is None


def test_a_maintenance_window_breaks_only_after_its_dash(client: TestClient, ctx: WriteContext, clock: FixedClock) -> None:
    at(clock, T0)
    maintenance.schedule(
        ctx=ctx, title="DB upgrade", components=["api"], scheduled_for=T0 + timedelta(days=1), scheduled_until=T0 + timedelta(days=1, hours=2)
    )
    when = soup(client.get("/")).select_one(".maintenance .when")
    assert when.get_text() == "Nov 26, 2026 12:00 EST\xa0– Nov 26, 2026 14:00 EST"
    assert len(when.select("time")) == 2
