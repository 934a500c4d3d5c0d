"""The monthly report of the seeded demo, figure by figure.

The demo (``statuspage db seed-demo``) is seeded at 2026-12-06 17:00 UTC, so November 2026 holds
two of its incidents, October three and September one. Every expected value below is worked out
by hand from the stories in ``statuspage/demo.py``, the accounts in
``statuspage/demo_accounts.csv`` and the targets in ``statuspage.yaml``; the arithmetic is in the
comments. America/New_York: EDT (UTC-4) until 1 November, EST (UTC-5) after, so November has
30 days and one hour (43,260 minutes) and October 31 days (44,640 minutes).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from statuspage import demo
from statuspage.clock import FixedClock
from statuspage.context import Actor
from statuspage.domain.enums import Source
from statuspage.reports import render
from statuspage.reports.monthly import MonthlyReport, monthly_report
from statuspage.reports.render_json import render_json, to_json
from statuspage.runtime import Runtime

SEEDED_AT = datetime(2026, 12, 6, 17, 0, tzinfo=UTC)
MINUTE = 60
HOUR = 60 * MINUTE


@pytest.fixture
def seeded(runtime: Runtime, clock: FixedClock) -> Iterator[Runtime]:
    clock.at = SEEDED_AT
    with runtime.session() as session:
        demo.seed(session=session, runtime=runtime, actor=Actor("demo", Source.SYSTEM))
    yield runtime


def november(runtime: Runtime, now: datetime = SEEDED_AT) -> MonthlyReport:
    with runtime.session() as session:
        return monthly_report(session, runtime.settings.config, 2026, 11, now=now)


@pytest.fixture
def report(seeded: Runtime) -> dict[str, Any]:
    data: dict[str, Any] = to_json(november(seeded))
    return json.loads(json.dumps(data, default=str))


def card(report: dict[str, Any], key: str) -> dict[str, Any]:
    return next(c for c in report["cards"] if c["key"] == key)


def test_headline_figures_and_their_change_since_october(report: dict[str, Any]) -> None:
    # November: "Sign-in unavailable" (Sev-1, 21 days before the seeding: Sun 15 Nov, 12:00 EST)
    # and "Delayed email notifications" (Sev-3, Fri 27 Nov). October: the EU API errors (22 Oct),
    # the checkout failure (15 Oct) and the slow dashboards (29 Oct).
    assert (card(report, "incidents")["value"], card(report, "incidents")["previous"]) == (2, 3)
    assert card(report, "incidents")["text"] == "▼ 1 vs October"
    # Sign-in: 5 targets, 2 met (acknowledged 23 min after detection, plan after 2 h); the Sev-3:
    # both of its 2 targets met. 4 of 7. October: 10 of 14 (see the trend test).
    assert card(report, "attainment")["value"] == pytest.approx(100 * 4 / 7)
    assert card(report, "attainment")["previous"] == pytest.approx(100 * 10 / 14)
    assert card(report, "attainment")["text"] == "▼ 14.3 points vs October"
    assert (card(report, "missed")["value"], card(report, "missed")["previous"]) == (3, 4)
    # MTTD: detected 19 and 45 minutes before declaring: 32 minutes. October: 8, 6, 20: 11 m 20 s.
    assert (card(report, "mttd")["value"], card(report, "mttd")["previous"]) == (32 * MINUTE, 680)
    # Acknowledged 4 minutes after declaring: 23 and 49 from detection, 36 on average.
    assert (card(report, "mtta")["value"], card(report, "mtta")["previous"]) == (36 * MINUTE, 920)
    # Resolved 5 h 05 and 6 h after declaring: 5 h 24 and 6 h 45 from detection, 6 h 4 m 30 s.
    assert card(report, "mttr")["value"] == (5 * HOUR + 24 * MINUTE + 6 * HOUR + 45 * MINUTE) // 2
    # October: 4 h 43, 2 h 16, 3 h 20 from detection.
    assert card(report, "mttr")["previous"] == (4 * HOUR + 43 * MINUTE + 2 * HOUR + 16 * MINUTE + 3 * HOUR + 20 * MINUTE) // 3
    times = report["response_times"]
    assert (times["mtta_from_declaration_seconds"], times["mttr_from_declaration_seconds"]) == (
        4 * MINUTE,
        (5 * HOUR + 5 * MINUTE + 6 * HOUR) // 2,
    )
    assert report["summary"] == [
        "In November 2026, 2 incidents were declared and 57.1% of their SLA targets were met (▼ 14.3 points vs October).",
        "3 commitments were missed in 1 incident (▼ 1 vs October); the biggest known cause was Change or deploy (1 incident).",
        "5 customers are owed $3,950.50 in SLA credits.",
        "5 postmortems are overdue.",
    ]


def test_the_breaches_of_the_demo_sev1_update_cadence_included(report: dict[str, Any]) -> None:
    detected = datetime(2026, 11, 15, 16, 41, tzinfo=UTC)  # 12:00 EST declared, less 19 minutes
    declared = detected + timedelta(minutes=19)
    rows = [(b["incident_id"], b["target"], b["deadline"], b["actual_seconds"], b["breached_by_seconds"]) for b in report["breaches"]]
    assert rows == [
        # First response with the declaration: 19 minutes for 15.
        (5, "first_response", (detected + timedelta(minutes=15)).isoformat().replace("+00:00", "Z"), 19 * MINUTE, 4 * MINUTE),
        # Public updates at 0, 1 h 40, 4 h 20 and 5 h 05 after declaring: the first was due 30 minutes
        # in; the longest silence 2 h 40, 2 h 10 over the 30 minutes.
        (5, "update_cadence", (declared + timedelta(minutes=30)).isoformat().replace("+00:00", "Z"), 160 * MINUTE, 130 * MINUTE),
        # Resolved 5 h 24 after detection, against 4 hours.
        (5, "resolution", (detected + timedelta(hours=4)).isoformat().replace("+00:00", "Z"), 324 * MINUTE, 84 * MINUTE),
    ]
    assert [b["label"] for b in report["breaches"]] == ["First response", "Update cadence", "Resolution"]
    assert report["missing_root_causes"] == []


def test_credits_in_money_per_account_and_tier(report: dict[str, Any]) -> None:
    credits = report["credits"]
    # Only Premium promises a Sev-1 first response in 15 minutes (Standard 1bd and Basic 2bd were
    # met: the incident began on a Sunday). The Premium accounts using auth, web or api are all
    # five (Helix uses every component); each is owed 10 % of its monthly fee for one miss.
    assert credits["accounts"] == [
        {"name": "Helix Pharmacy Group", "tier": "premium", "breaches": 1, "credit": "1196.00"},
        {"name": "Meridian Health Plans", "tier": "premium", "breaches": 1, "credit": "1194.00"},
        {"name": "Northwind Freight", "tier": "premium", "breaches": 1, "credit": "622.50"},
        {"name": "Orbital Payments", "tier": "premium", "breaches": 1, "credit": "538.80"},
        {"name": "Quantum Ledger", "tier": "premium", "breaches": 1, "credit": "399.20"},
    ]
    assert Decimal(credits["total"]) == Decimal("11960") / 10 + Decimal("11940") / 10 + Decimal("6225") / 10 + Decimal(
        "5388"
    ) / 10 + Decimal("3992") / 10
    assert (credits["currency"], credits["total"], credits["customers_owed"], credits["previous_total"]) == (
        "USD", "3950.50", 5, "0.00"
    )
    assert credits["tiers"] == [
        {"tier": "standard", "name": "Standard", "accounts": 0, "credit": "0.00"},
        {"tier": "premium", "name": "Premium", "accounts": 5, "credit": "3950.50"},
    ]
    premium = next(t for t in report["support_tiers"] if t["id"] == "premium")
    assert premium["first_response"]["sev1"] == {"promised": "15m", "met": 0, "breached": 1, "pending": 0, "percent": 0.0}
    assert premium["credit_rule"] == "10 % of the monthly fee per missed commitment, at most 50 % a month"


def test_causes_by_category_for_the_month_and_the_year(report: dict[str, Any]) -> None:
    causes = report["causes"]
    # Impact: detection to resolution. Sign-in 5 h 24 (324 min), the email delay 6 h 45 (405).
    assert causes["period"] == [
        {"category": "change", "label": "Change or deploy", "incidents": 1, "impact_minutes": 324, "credit": "3950.50"},
        {"category": "uncategorised", "label": "Not categorised", "incidents": 1, "impact_minutes": 405, "credit": "0.00"},
    ]
    # The year adds the dashboards (change, 20 + 180 min), the EU API (infrastructure, 8 + 275),
    # the webhooks (configuration, 75 + 120; Premium's Sev-2 first response missed in September:
    # the four Premium accounts using the API, 10 % each) and checkout (process, 6 + 130).
    assert causes["year"] == [
        {"category": "change", "label": "Change or deploy", "incidents": 2, "impact_minutes": 524, "credit": "3950.50"},
        {"category": "infrastructure", "label": "Infrastructure", "incidents": 1, "impact_minutes": 283, "credit": "0.00"},
        {"category": "configuration", "label": "Configuration", "incidents": 1, "impact_minutes": 195, "credit": "2756.50"},
        {"category": "process", "label": "Process", "incidents": 1, "impact_minutes": 136, "credit": "0.00"},
        {"category": "uncategorised", "label": "Not categorised", "incidents": 1, "impact_minutes": 405, "credit": "0.00"},
    ]


def test_overdue_postmortems_uptime_paging_and_trend(report: dict[str, Any]) -> None:
    # Due five business days after resolution, as of 1 December: Thursday resolutions are due the
    # next Thursday; Sign-in, resolved on a Sunday evening, the Friday after (20 November).
    assert [(p["incident_id"], p["due"], p["days_late"]) for p in report["overdue_postmortems"]] == [
        (1, "2026-09-24", 68), (3, "2026-10-22", 40), (2, "2026-10-29", 33), (4, "2026-11-05", 26), (5, "2026-11-20", 11),
    ]
    uptime = {u["component"]: (u["percent"], u["previous"], u["down_minutes"]) for u in report["uptime"]}
    # Sign-in: 305 minutes of major outage; API and web: 305 minutes of partial outage at 30 %.
    assert uptime["auth"] == (pytest.approx(100 * (1 - 305 / 43260)), 100.0, 305)
    assert uptime["api"] == (pytest.approx(100 * (1 - 91.5 / 43260)), pytest.approx(100 * (1 - (275 + 0.3 * 130) / 44640)), 92)
    assert uptime["web"][1] == pytest.approx(100 * (1 - 0.3 * 180 / 44640))
    assert uptime["checkout"] == (100.0, pytest.approx(100 * (1 - 130 / 44640)), 0)
    # History is recorded, not lived: nobody was paged, both acknowledged 4 minutes in.
    assert report["paging"] == {
        "incidents": 2, "paged": 0, "acknowledged": 2, "acknowledged_without_page": 2, "acknowledged_without_page_mtta_seconds": 240,
    }
    # September: the webhooks (Sev-2) missed its first response (75 min for 1 h) and its cadence
    # (updates 50 and 70 minutes apart, every hour promised): 2 of 4. October: EU API missed
    # resolution (4 h 43) and cadence, checkout its cadence (gaps of 45 and 60 min), dashboards its cadence
    # (2 h gap for 1 h): 10 of 14.
    assert [(t["month"], t["incidents"], t["attainment_percent"], t["breaches"]) for t in report["trend"]][-3:] == [
        ("2026-09", 1, 50.0, 2), ("2026-10", 3, pytest.approx(100 * 10 / 14), 4), ("2026-11", 2, pytest.approx(100 * 4 / 7), 3),
    ]
    fcr = next(k for k in report["kpi_trend"]["kpis"] if k["kpi"] == "fcr_percent")
    assert (fcr["values"], fcr["met"], fcr["owner"]) == ([81.5, 76.0, 73.5], [True, False, False], "Ben Okafor")


def test_every_format_shows_the_figures_and_a_past_month_renders_the_same_later(seeded: Runtime) -> None:
    now = november(seeded)
    later = november(seeded, SEEDED_AT + timedelta(days=365))
    outputs = {
        "md": (render.render_markdown(now), render.render_markdown(later)),
        "html": (render.render_html(now), render.render_html(later)),
        "csv": (render.render_csv(now), render.render_csv(later)),
        "json": (render_json(now), render_json(later)),
    }
    for fmt, (first, again) in outputs.items():
        assert first == again, f"{fmt} changed when rendered a year later"
    markdown, html = outputs["md"][0], outputs["html"][0]
    for text in (markdown, html):
        assert "$3,950.50" in text and "Change or deploy" in text and "Update cadence" in text
        assert "MTTD" in text and "32 minutes" in text and "▼ 14.3 points vs October" in text
    assert "| Time to detect (MTTD) | 32 minutes (detection to declaration) | ▲ 20 minutes 40 seconds vs October |" in markdown
    assert ",update_cadence," in outputs["csv"][0]
