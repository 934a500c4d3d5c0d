"""The public pages beyond the front banner: uptime bars, history, support plans, incident pages,
read as a customer's browser and a script reading the JSON twins would read them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bs4 import BeautifulSoup
from starlette.testclient import TestClient

from statuspage.clock import FixedClock
from statuspage.context import WriteContext
from statuspage.incidents import handling
from statuspage.incidents import service as incidents
from statuspage.maintenance import service as maintenance
from statuspage.runtime import Runtime
from statuspage.web.app import create_app

T0 = datetime(2026, 11, 25, 17, 0, tzinfo=UTC)  # 12:00 in New York, the page's zone
XSS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "]]>", "{{ 7*7 }}"]


@pytest.fixture
def clock() -> FixedClock:
    """The page has existed for 200 days when the tests look at it."""
    return FixedClock(T0 - timedelta(days=200))


@pytest.fixture
def client(runtime: Runtime, clock: FixedClock) -> Iterator[TestClient]:
    with TestClient(create_app(runtime.settings, runtime.engine, clock=clock, version_check_interval=0)) as c:
        yield c


def at(clock: FixedClock, moment: datetime) -> None:
    clock.at = moment


def soup(response: Any) -> BeautifulSoup:
    assert response.status_code == 200, response.text[:500]
    return BeautifulSoup(response.text, "html.parser")


def declare_and_resolve(ctx: WriteContext, clock: FixedClock, start: datetime, minutes: int, **kwargs: Any) -> int:
    at(clock, start)
    incident = incidents.declare(ctx=ctx, **kwargs)
    at(clock, start + timedelta(minutes=minutes))
    incidents.resolve(ctx=ctx, incident_id=incident.id or 0, message="Fixed.")
    return incident.id or 0


# --- uptime bars -----------------------------------------------------------------------------


def test_uptime_bar_marks_the_day_of_an_outage_in_colour_and_words(client: TestClient, ctx: WriteContext, clock: FixedClock) -> None:
    # Three days ago, 14:00-16:24 New York time: 144 minutes of major outage on checkout.
    declare_and_resolve(
        ctx, clock, datetime(2026, 11, 22, 19, 0, tzinfo=UTC), 144, severity=1, title="Payments failing", components=["checkout"]
    )
    at(clock, T0)
    data = client.get("/index.json").json()
    days = data["uptime"]["checkout"]["days"]
    assert len(days) == 90 and days[-1]["date"] == "2026-11-25" and days[0]["date"] == "2026-08-28"
    bad = next(d for d in days if d["date"] == "2026-11-22")
    assert bad["status"] == "major_outage"
    assert bad["uptime"] == pytest.approx(100 * (1 - 144 / 1440), abs=0.001)
    assert bad["incidents"] == [{"id": "1", "name": "Payments failing", "impact": "critical"}]
    assert {d["status"] for d in days if d["date"] != "2026-11-22"} == {"operational"}
    # 90 days, today half over: 89.5 days counted, 144 minutes down.
    assert data["uptime"]["checkout"]["percent"] == pytest.approx(100 * (1 - 144 / (89.5 * 1440)), abs=0.001)
    assert data["uptime"]["api"]["percent"] == 100.0

    page = soup(client.get("/"))
    cells = page.select("#component-checkout .uptime .bar li")
    assert len(cells) == 90
    marked = [c for c in cells if "s-major_outage" in c.get("class", [])]
    assert len(marked) == 1
    # Said in words too, not by colour alone: the day's link is named (and its tooltip) by its title.
    assert marked[0].a["title"] == "Nov 22, 2026: Major outage · 90.00 % uptime · Payments failing"
    assert sum(1 for c in cells if c.get("class")) == 1  # an operational day has no class at all
    assert page.select_one("#component-checkout .uptime-legend .percent").get_text() == "99.89 % uptime"


def test_maintenance_time_does_not_count_against_uptime(client: TestClient, ctx: WriteContext, clock: FixedClock) -> None:
    start = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
    at(clock, start - timedelta(days=1))
    window = maintenance.schedule(
        ctx=ctx, title="DB upgrade", components=["api"], scheduled_for=start, scheduled_until=start + timedelta(hours=2)
    )
    at(clock, start)
    maintenance.set_status(ctx=ctx, maintenance_id=window.id or 0, status="in_progress")
    at(clock, start + timedelta(hours=2))
    maintenance.set_status(ctx=ctx, maintenance_id=window.id or 0, status="completed")
    at(clock, T0)
    day = next(d for d in client.get("/index.json").json()["uptime"]["api"]["days"] if d["date"] == "2026-11-20")
    assert day["status"] == "under_maintenance"
    assert day["uptime"] == 100.0


def test_days_before_a_component_existed_have_no_data(runtime: Runtime, clock: FixedClock) -> None:
    at(clock, T0)
    # A component added to the configuration today.
    from statuspage.db.models import Component

    with runtime.session() as session:
        api = session.get(Component, "api")
        assert api is not None
        api.created_at = T0 - timedelta(days=2)
        session.add(api)
        session.commit()
    with TestClient(create_app(runtime.settings, runtime.engine, clock=clock, version_check_interval=0)) as c:
        days = c.get("/index.json").json()["uptime"]["api"]["days"]
    assert [d["status"] for d in days[-3:]] == ["operational"] * 3
    assert {d["status"] for d in days[:-3]} == {None}
    assert days[0]["text"].endswith(": no data")


# --- history ---------------------------------------------------------------------------------


def test_history_groups_by_month_and_pages_back(client: TestClient, ctx: WriteContext, clock: FixedClock) -> None:
    declare_and_resolve(ctx, clock, datetime(2026, 11, 3, 15, tzinfo=UTC), 30, severity=2, title="November one", components=["api"])
    declare_and_resolve(ctx, clock, datetime(2026, 9, 10, 15, tzinfo=UTC), 30, severity=3, title="September one", components=["web"])
    declare_and_resolve(ctx, clock, datetime(2026, 7, 1, 15, tzinfo=UTC), 30, severity=3, title="July one", components=["api"])
    at(clock, T0)

    first = client.get("/history.json").json()
    assert [m["month"] for m in first["months"]] == ["2026-11", "2026-10", "2026-09"]
    assert [[i["name"] for i in m["incidents"]] for m in first["months"]] == [["November one"], [], ["September one"]]
    assert first["pagination"] == {"page": 1, "newer": None, "older": "/history?page=2"}

    second = client.get("/history.json?page=2").json()
    assert [m["month"] for m in second["months"]] == ["2026-08", "2026-07", "2026-06"]
    assert second["months"][1]["incidents"][0]["name"] == "July one"
    assert second["pagination"] == {"page": 2, "newer": "/history", "older": None} or second["pagination"] == {
        "page": 2,
        "newer": "/history?page=1",
        "older": None,
    }

    page = soup(client.get("/history"))
    assert [h.get_text() for h in page.select(".month h2")] == ["November 2026", "October 2026", "September 2026"]
    october = page.select(".month")[1]
    assert october.select_one(".empty").get_text() == "No incidents reported."
    assert page.select_one('.pager a[rel="next"]')["href"] == "/history?page=2"
    assert page.select_one('.pager a[rel="prev"]') is None


def test_history_filters_by_component(client: TestClient, ctx: WriteContext, clock: FixedClock) -> None:
    declare_and_resolve(ctx, clock, datetime(2026, 11, 3, 15, tzinfo=UTC), 30, severity=2, title="API slow", components=["api"])
    declare_and_resolve(ctx, clock, datetime(2026, 11, 4, 15, tzinfo=UTC), 30, severity=2, title="Web slow", components=["web"])
    at(clock, T0)
    data = client.get("/history.json?component=web").json()
    assert data["component"] == {"id": "web", "name": "Web app"}
    assert [i["name"] for m in data["months"] for i in m["incidents"]] == ["Web slow"]
    page = soup(client.get("/history?component=web"))
    assert page.select_one("h1").get_text() == "Incident history: Web app"
    assert page.select_one("#component-filter option[selected]")["value"] == "web"


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [("component=nope", 404, "no component 'nope'"), ("page=abc", 400, "is not a page number"), ("page=0", 400, "is not a page number")],
)
def test_history_refuses_bad_queries_clearly(client: TestClient, query: str, status: int, words: str) -> None:
    as_json = client.get(f"/history.json?{query}")
    assert as_json.status_code == status
    assert as_json.headers["content-type"] == "application/problem+json"
    assert words in as_json.json()["detail"]
    html = client.get(f"/history?{query}")
    assert html.status_code == status
    assert words in BeautifulSoup(html.text, "html.parser").get_text()


# --- support plans ---------------------------------------------------------------------------


def test_pricing_compares_the_configured_tiers(client: TestClient) -> None:
    data = client.get("/pricing.json").json()
    assert [t["name"] for t in data["support_tiers"]] == ["Basic", "Standard", "Premium"]
    premium = data["support_tiers"][2]
    assert premium["price"]["text"] == "$199–499 per seat per month"
    assert premium["coverage_text"] == "24/7, every day of the year"
    assert premium["response_targets"]["sev1"] == {"target": "15m", "text": "15 minutes"}
    assert premium["sla_credits"]["text"] == "10 % of the monthly fee per missed target, up to 50 % a month"
    assert data["support_tiers"][0]["price"]["text"] == "Included"
    assert data["support_tiers"][0]["sla_credits"]["text"] == "No service credits"

    page = soup(client.get("/pricing"))
    headers = [th.get_text(strip=True) for th in page.select("table.compare thead th")][1:]
    assert headers == ["Basic", "Standard", "Premium"]
    rows = {tr.th.get_text(" ", strip=True).split(" (")[0]: [td.get_text(" ", strip=True) for td in tr.select("td")] for tr in page.select("table.compare tbody tr")}
    assert rows["Price"] == ["Included", "$49–99 per seat per month", "$199–499 per seat per month"]
    assert rows["Channels"] == ["Email", "Email, Chat", "Phone, Chat, Email"]
    assert rows["Response, Critical"] == ["within 2 business days", "within 1 business day", "within 15 minutes"]
    assert rows["Coverage"][0] == "Mon–Fri 08:00–18:00 America/New_York, public holidays excluded"


# --- incident permalink ----------------------------------------------------------------------


def test_incident_page_shows_duration_severity_and_affected_components(client: TestClient, ctx: WriteContext, clock: FixedClock) -> None:
    incident_id = declare_and_resolve(
        ctx, clock, datetime(2026, 11, 20, 15, tzinfo=UTC), 95, severity=2, title="Slow API", components=["api", "web"]
    )
    at(clock, T0)
    page = soup(client.get(f"/incidents/{incident_id}"))
    facts = {div.dt.get_text(strip=True): div.dd.get_text(" ", strip=True) for div in page.select(".facts div")}
    assert facts["Duration"] == "1 h 35 min"
    assert facts["Affected"] == "API, Web app"
    assert "sev2" in facts["Severity"].lower() or "major" in facts["Severity"].lower()
    statuses = [li.select_one(".update-status").get_text() for li in page.select(".timeline li")]
    # Newest first; detection, when the problem began, at the bottom.
    assert statuses[0] == "Resolved" and statuses[-2:] == ["Investigating", "Detected"]


# --- untrusted text --------------------------------------------------------------------------


@pytest.mark.parametrize("title", XSS)
def test_untrusted_titles_stay_text_on_every_page(client: TestClient, ctx: WriteContext, clock: FixedClock, title: str) -> None:
    at(clock, T0 - timedelta(hours=2))
    incident = incidents.declare(ctx=ctx, severity=1, title=title, components=["api"], message=f"Update: {title}")
    at(clock, T0)
    for path in ("/", f"/incidents/{incident.id}", "/history", "/history?component=api"):
        response = client.get(path)
        assert "<script>alert" not in response.text and "<img src=x" not in response.text, path
        page = soup(response)
        assert title in page.get_text(), path
        assert page.find("img") is None and [s.get("src") for s in page.find_all("script")] == ["/static/live.js"]
    for path in ("/index.json", "/history.json", f"/incidents/{incident.id}.json"):
        raw = client.get(path)
        assert "<" not in raw.text  # escaped as \u003c for any browser that sniffs
        assert title in raw.text.encode().decode("unicode_escape") or title in str(raw.json())


# --- service level commitments ---------------------------------------------------------------


def test_sla_page_publishes_commitments_attainment_and_breaches(client: TestClient, ctx: WriteContext, clock: FixedClock) -> None:
    # Detected 20 minutes before anyone answered: first response (15 min) missed by 5 minutes.
    start = datetime(2026, 11, 10, 15, 0, tzinfo=UTC)
    at(clock, start)
    late = incidents.declare(
        ctx=ctx, severity=1, title="Checkout down", components=["checkout"], detected_at=start - timedelta(minutes=20)
    )
    incidents.acknowledge(ctx=ctx, incident_id=late.id or 0)
    at(clock, start + timedelta(minutes=30))  # resolved before the next update was due
    incidents.resolve(ctx=ctx, incident_id=late.id or 0, message="Fixed.")
    # October: a Sev-2 that kept every promise.
    declare_and_resolve(ctx, clock, datetime(2026, 10, 5, 15, tzinfo=UTC), 60, severity=2, title="Slow API", components=["api"])
    at(clock, T0)

    data = client.get("/sla.json").json()
    sev1 = next(c for c in data["commitments"] if c["severity"] == "sev1")
    assert sev1["targets"]["first_response"] == {"target": "15m", "text": "15 minutes"}
    assert sev1["targets"]["resolution"] == {"target": "4h", "text": "4 hours"}
    assert sev1["clock"] == "24x7"
    assert "channels" not in data  # nothing measures first responses by channel, so /sla promises none

    november, october, september = data["months"]
    assert (november["month"], november["to_date"], november["incidents"]) == ("2026-11", True, 1)
    assert november["targets"]["first_response"] == {"met": 0, "breached": 1, "pending": 0, "percent": 0.0}
    assert november["targets"]["resolution"] == {"met": 1, "breached": 0, "pending": 0, "percent": 100.0}
    assert october["targets"]["first_response"]["percent"] == 100.0
    assert september["incidents"] == 0 and september["targets"]["resolution"]["percent"] is None

    (breach,) = data["breaches"]
    assert breach["incident"]["name"] == "Checkout down"
    assert (breach["target"], breach["promised"], breach["actual"], breach["breached_by"]) == (
        "first_response", "15 minutes", "20 minutes", "5 minutes"
    )
    assert breach["root_cause"] is None

    page = soup(client.get("/sla"))
    row = page.select_one('.attainment tr[data-target="first_response"]')
    assert [td.get_text(" ", strip=True) for td in row.select("td")] == ["0.0 % 0 of 1 met", "100.0 % 1 of 1 met", "No incidents"]
    facts = page.select_one(".breach .breach-facts").get_text(" ", strip=True)
    assert "Root-cause analysis in progress." in facts

    handling.record_root_cause(
        ctx=ctx, incident_id=late.id or 0, root_cause="<b>Alert</b> routed to a muted channel.", remediation="Route Sev-1 alerts to the pager."
    )
    page = soup(client.get("/sla"))
    facts = page.select_one(".breach .breach-facts")
    assert "<b>Alert</b> routed to a muted channel." in facts.get_text()
    assert facts.find("b") is None
    assert "Route Sev-1 alerts to the pager." in facts.get_text()


def test_open_incidents_are_pending_until_their_clock_runs_out(client: TestClient, ctx: WriteContext, clock: FixedClock) -> None:
    at(clock, T0 - timedelta(hours=1))
    incidents.declare(ctx=ctx, severity=1, title="Degraded API", components=["api"])
    at(clock, T0)
    november = client.get("/sla.json").json()["months"][0]
    assert november["targets"]["resolution"] == {"met": 0, "breached": 0, "pending": 1, "percent": None}
    at(clock, T0 + timedelta(hours=4))
    client.app.state.site.cache.clear()  # nothing was written; the page cache would wait out its max age
    november = client.get("/sla.json").json()["months"][0]
    assert november["targets"]["resolution"]["breached"] == 1


def test_pages_announce_their_feeds(client: TestClient) -> None:
    links = {(link["type"], link["href"]) for link in soup(client.get("/")).select('head link[rel="alternate"]')}
    assert ("application/atom+xml", "/history.atom") in links and ("application/rss+xml", "/history.rss") in links
    filtered = soup(client.get("/history?component=api")).select('head link[rel="alternate"]')
    assert "/history.atom?component=api" in {link["href"] for link in filtered}
