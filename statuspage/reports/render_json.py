"""An SLA report as JSON: every figure the other formats print, as numbers (seconds, percentages,
money as decimal strings), with the words the report uses beside them where a reader needs them.
Times are UTC ``Z`` strings; there is no time of generation, so a closed period's JSON is the
same whenever it is made."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from statuspage.domain.causes import CauseRow
from statuspage.domain.report import ResponseTimes
from statuspage.domain.sla import Attainment
from statuspage.reports.kpis import KpiResult
from statuspage.reports.model import MonthlyReport
from statuspage.reports.words import change_text, clock_words, compared_with, credit_rule_words


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def _tally(a: Attainment) -> dict[str, Any]:
    return {"met": a.met, "breached": a.breached, "pending": a.pending, "percent": a.percent}


def _times(times: ResponseTimes) -> dict[str, Any]:
    return {
        "incidents": times.incidents,
        "mttd_seconds": times.mttd_seconds,
        "mtta_from_detection_seconds": times.mtta_seconds,
        "mttr_from_detection_seconds": times.mttr_seconds,
        "mtta_from_declaration_seconds": times.mtta_from_declaration_seconds,
        "mttr_from_declaration_seconds": times.mttr_from_declaration_seconds,
    }


def _causes(rows: list[CauseRow]) -> list[dict[str, Any]]:
    return [
        {"category": r.category, "label": r.label, "incidents": r.incidents, "impact_minutes": r.impact_minutes, "credit": str(r.credit)}
        for r in rows
    ]


def to_json(report: MonthlyReport) -> dict[str, Any]:
    compared = compared_with(report.period, report.previous)
    credits = report.credits
    currency = credits.currency if credits is not None else "USD"
    return {
        "month": report.month,
        "period": {
            "kind": report.period.kind,
            "label": report.period.label,
            "name": report.period.name,
            "start": iso(report.start),
            "end": iso(report.end),
            "previous": report.previous.label,
        },
        "page": report.page_name,
        "time_zone": report.time_zone,
        "as_of": iso(report.as_of),
        "summary": report.summary,
        "cards": [
            {
                "key": c.key,
                "label": c.label,
                "unit": c.unit,
                "value": _plain(c.value),
                "previous": _plain(c.previous),
                "change": _plain(c.change),
                "direction": c.direction,
                "verdict": c.verdict,
                "text": change_text(c, compared, currency),
            }
            for c in report.cards
        ],
        "incidents": report.incidents,
        "attainment_percent": report.attainment_percent,
        "response_times": _times(report.response),
        "breaches": [
            {
                "incident_id": b.incident_id,
                "title": b.title,
                "url": b.url,
                "severity": f"sev{b.severity}",
                "target": b.target,
                "label": b.label,
                "clock": b.clock,
                "promised": b.promised,
                "detected_at": iso(b.detected_at),
                "target_seconds": b.target_seconds,
                "deadline": iso(b.deadline),
                "event_at": iso(b.event_at),
                "actual_seconds": b.actual_seconds,
                "breached_by_seconds": b.breached_by_seconds,
                "root_cause": b.root_cause,
                "remediation": b.remediation,
            }
            for b in report.breaches
        ],
        "missing_root_causes": [
            {
                "incident_id": m.incident_id,
                "title": m.title,
                "url": m.url,
                "severity": f"sev{m.severity}",
                "owner": m.owner,
                "declared_at": iso(m.declared_at),
                "age_days": m.age_days,
                "targets": list(m.targets),
            }
            for m in report.missing_rcas
        ],
        "severities": [
            {
                "severity": f"sev{s.severity}",
                "name": s.name,
                "incidents": s.incidents,
                "acknowledged": s.acknowledged,
                "resolved": s.resolved,
                "mttd_seconds": s.mttd_seconds,
                "mtta_from_detection_seconds": s.mtta_from_detection_seconds,
                "mttr_from_detection_seconds": s.mttr_seconds,
                "mtta_from_declaration_seconds": s.mtta_seconds,
                "mttr_from_declaration_seconds": s.mttr_from_declaration_seconds,
                "breaches": s.breaches,
                "attainment": {name: _tally(a) for name, a in s.attainment.items()},
            }
            for s in report.severities
        ],
        "support_tiers": [
            {
                "id": t.id,
                "name": t.name,
                "coverage": t.coverage,
                "coverage_text": clock_words(t.coverage),
                "first_response": {
                    f"sev{ts.severity}": {"promised": ts.promised, **_tally(ts.attainment)} for ts in t.severities
                },
                "breaches": t.breaches,
                "breached_incidents": list(t.breached_incidents),
                "per_breach_percent": str(t.per_breach_percent),
                "monthly_cap_percent": str(t.monthly_cap_percent),
                "credit_rule": credit_rule_words(t.per_breach_percent, t.monthly_cap_percent),
                "credit_percent": str(t.credit_percent),
            }
            for t in report.tiers
        ],
        "credits": None
        if credits is None
        else {
            "currency": credits.currency,
            "total": str(credits.total),
            "customers_owed": credits.customers_owed,
            "previous_total": str(report.previous_credits.total) if report.previous_credits is not None else None,
            "tiers": [{"tier": t.tier, "name": t.name, "accounts": t.accounts, "credit": str(t.credit)} for t in credits.tiers],
            "accounts": [{"name": a.name, "tier": a.tier, "breaches": a.breaches, "credit": str(a.credit)} for a in credits.accounts],
        },
        "causes": None
        if report.causes is None
        else {"period": _causes(report.causes.period), "year": _causes(report.causes.year), "year_from": report.causes.year_from},
        "paging": {
            "incidents": report.paging.incidents,
            "paged": report.paging.paged,
            "acknowledged": report.paging.acknowledged,
            "acknowledged_without_page": report.paging.unpaged_acknowledged,
            "acknowledged_without_page_mtta_seconds": report.paging.unpaged_mtta_seconds,
        },
        "escalation": [
            {"tier": e.tier, "name": e.name, "pages": e.pages, "acknowledged": e.acknowledged, "mtta_seconds": e.mtta_seconds}
            for e in report.escalation
        ],
        "overdue_actions": [
            {
                "action_id": a.action_id,
                "incident_id": a.incident_id,
                "incident_title": a.incident_title,
                "title": a.title,
                "owner": a.owner,
                "due_on": a.due_on.isoformat(),
                "days_late": a.days_late,
            }
            for a in report.overdue_actions
        ],
        "overdue_postmortems": [
            {"incident_id": p.incident_id, "title": p.title, "url": p.url, "owner": p.owner, "due": p.due, "days_late": p.days_late}
            for p in report.overdue_postmortems
        ],
        "uptime": [
            {"component": u.component_id, "name": u.name, "percent": u.percent, "previous": u.previous, "down_minutes": u.down_minutes}
            for u in report.uptime
        ],
        "trend": [
            {"month": p.month, "incidents": p.incidents, "attainment_percent": p.attainment_percent, "breaches": p.breaches}
            for p in report.trend
        ],
        **({"service_quality": [_kpi_json(k) for k in report.service_quality]} if report.service_quality is not None else {}),
        **(
            {
                "kpi_trend": {
                    "months": report.kpi_trend.months,
                    "kpis": [
                        {"kpi": r.key, "label": r.label, "target": r.target_text, "values": r.values, "met": r.met, "owner": r.owner}
                        for r in report.kpi_trend.rows
                    ],
                }
            }
            if report.kpi_trend is not None
            else {}
        ),
    }


def _kpi_json(result: KpiResult) -> dict[str, Any]:
    return {
        "kpi": result.key,
        "label": result.label,
        "value": result.value,
        "target": result.target_text,
        "met": result.met,
        "owner": result.owner,
        "playbook_trigger": result.playbook_trigger,
        "trigger": result.trigger_text,
    }


def render_json(report: MonthlyReport) -> str:
    return json.dumps(to_json(report), indent=2, ensure_ascii=False, default=str) + "\n"
