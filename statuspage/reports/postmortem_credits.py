"""The credits a postmortem shows: what an incident's missed tier commitments cost each customer
account, worked out with the other incidents of the month as the monthly report works them out
(credits are capped per month, so an incident's share depends on the month's other breaches).

The month is the one the incident was detected in, in the page's time zone: a tier's first
response falls due within hours of detection. With no account imported there is nothing to owe,
and the report is not built.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from statuspage.db.models import Incident
from statuspage.postmortems.impact import IncidentCredits
from statuspage.reports.credits import format_money, load_accounts
from statuspage.reports.monthly import monthly_report
from statuspage.settings import Config


def incident_credits(session: Session, config: Config, incident: Incident, now: datetime) -> IncidentCredits | None:
    if incident.id is None or not load_accounts(session):
        return None
    detected = min(incident.detected_at, incident.declared_at).astimezone(ZoneInfo(config.page.time_zone))
    credits = monthly_report(session, config, detected.year, detected.month, now).credits
    if credits is None:
        return None
    currency = credits.currency
    return IncidentCredits(tuple(credits.by_incident.get(incident.id, ())), lambda amount: format_money(amount, currency))
