"""The public read model in Statuspage's v2 format, built once and used by both the JSON
endpoints and the HTML pages (the pages are these dicts, formatted).

Only public incidents are read here: an internal one (opened from an alert, not yet published)
is in no list, no count and no status (see :data:`PUBLIC`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, select
from sqlmodel.sql.expression import SelectOfScalar

from statuspage.db.models import (
    Component,
    ComponentGroup,
    Incident,
    IncidentComponent,
    IncidentUpdate,
    Maintenance,
    MaintenanceComponent,
    MaintenanceUpdate,
    SiteState,
)
from statuspage.domain.enums import OPEN_INCIDENT_STATUSES, ComponentStatus, Impact, MaintenanceStatus
from statuspage.domain.status import page_status
from statuspage.errors import NotFound
from statuspage.settings import SLUG, Config

JSON = dict[str, Any]
# The incidents the public may see, the condition every query of incidents here carries.
PUBLIC = col(Incident.internal).is_(False)


class V2Builder:
    """Reads the database once per call and renders Statuspage v2 objects."""

    def __init__(self, session: Session, config: Config, *, now: datetime) -> None:
        self.session = session
        self.config = config
        # The moment the page is built at; pages that depend on "today" read it from here.
        self.now = now
        self.page = config.page
        self.zone = ZoneInfo(self.page.time_zone)

    def time(self, value: datetime | None) -> str | None:
        if value is None:
            return None
        return value.astimezone(self.zone).isoformat(timespec="milliseconds")

    # page and status ---------------------------------------------------------------------

    def page_json(self) -> JSON:
        state = self.session.get(SiteState, 1)
        updated = state.updated_at if state and state.updated_at else None
        return {
            "id": self.page.id,
            "name": self.page.name,
            "url": self.page.url,
            "time_zone": self.page.time_zone,
            "updated_at": self.time(updated),
        }

    def status_json(self, components: Sequence[Component], incidents: Sequence[Incident], maintenances: Sequence[Maintenance]) -> JSON:
        status = page_status(
            component_statuses=[ComponentStatus(c.status) for c in components],
            open_incident_impacts=[Impact(i.impact) for i in incidents],
            maintenance_in_progress=any(MaintenanceStatus(m.status).is_active for m in maintenances),
        )
        return {"indicator": status.indicator, "description": status.description}

    # components --------------------------------------------------------------------------

    def components(self) -> list[Component]:
        return list(self.session.exec(select(Component).where(col(Component.archived).is_(False)).order_by(col(Component.position))).all())

    def groups(self) -> list[ComponentGroup]:
        return list(
            self.session.exec(select(ComponentGroup).where(col(ComponentGroup.archived).is_(False)).order_by(col(ComponentGroup.position))).all()
        )

    def components_json(self, components: Sequence[Component] | None = None) -> list[JSON]:
        """Groups and components in display order; a group lists its children's ids."""
        components = self.components() if components is None else components
        children: dict[str | None, list[Component]] = defaultdict(list)
        for component in components:
            children[component.group_id].append(component)
        result: list[JSON] = []
        position = 0
        for group in self.groups():
            members = children.pop(group.id, [])
            if not members:
                continue
            position += 1
            worst = max((ComponentStatus(c.status) for c in members), key=lambda s: s.rank)
            result.append(
                {
                    "id": group.id,
                    "name": group.name,
                    "status": worst.value,
                    "created_at": self.time(group.created_at),
                    "updated_at": self.time(max([group.updated_at, *(c.updated_at for c in members)])),
                    "position": position,
                    "description": group.description,
                    "showcase": False,
                    "start_date": None,
                    "group_id": None,
                    "page_id": self.page.id,
                    "group": True,
                    "only_show_if_degraded": False,
                    "components": [c.id for c in members],
                }
            )
            for member in members:
                position += 1
                result.append(self.component_json(member, position))
        for leftover in (c for members in children.values() for c in members):
            position += 1
            result.append(self.component_json(leftover, position))
        return result

    def component_json(self, component: Component, position: int) -> JSON:
        return {
            "id": component.id,
            "name": component.name,
            "status": component.status,
            "created_at": self.time(component.created_at),
            "updated_at": self.time(component.updated_at),
            "position": position,
            "description": component.description,
            "showcase": component.showcase,
            "start_date": component.created_at.astimezone(self.zone).date().isoformat(),
            "group_id": component.group_id,
            "page_id": self.page.id,
            "group": False,
            "only_show_if_degraded": component.only_show_if_degraded,
        }

    # incidents ---------------------------------------------------------------------------

    def open_incidents(self) -> list[Incident]:
        return list(
            self.session.exec(
                select(Incident)
                .where(col(Incident.status).in_([s.value for s in OPEN_INCIDENT_STATUSES]), PUBLIC)
                .order_by(col(Incident.declared_at).desc(), col(Incident.id).desc())
            ).all()
        )

    def recent_incidents(self, limit: int = 50, *, component: str | None = None) -> list[Incident]:
        """The latest ``limit`` incidents, newest first; only those that affected ``component``, if given."""
        return list(
            self.session.exec(
                self._affecting(select(Incident).where(PUBLIC), component)
                .order_by(col(Incident.declared_at).desc(), col(Incident.id).desc())
                .limit(limit)
            ).all()
        )

    def live_component(self, component_id: str) -> Component:
        """A component that is shown on the page. Ids that could not be one are refused before the
        database is asked (PostgreSQL rejects a NUL in a string parameter, which would be a 500)."""
        found = self.session.get(Component, component_id) if SLUG.match(component_id) else None
        if found is None or found.archived:
            raise NotFound(f"no component {component_id!r}", field="component")
        return found

    @staticmethod
    def _affecting(statement: SelectOfScalar[Incident], component: str | None) -> SelectOfScalar[Incident]:
        if component is None:
            return statement
        affected = select(IncidentComponent.incident_id).where(col(IncidentComponent.component_id) == component)
        return statement.where(col(Incident.id).in_(affected))

    def incidents_between(self, start: datetime, end: datetime, *, component: str | None = None) -> list[Incident]:
        statement = select(Incident).where(col(Incident.declared_at) >= start, col(Incident.declared_at) < end, PUBLIC)
        statement = self._affecting(statement, component)
        return list(self.session.exec(statement.order_by(col(Incident.declared_at).desc(), col(Incident.id).desc())).all())

    def oldest_incident_start(self, *, component: str | None = None) -> datetime | None:
        statement = select(func.min(Incident.declared_at)).where(PUBLIC)
        if component is not None:
            statement = statement.where(
                col(Incident.id).in_(
                    select(IncidentComponent.incident_id).where(col(IncidentComponent.component_id) == component)
                )
            )
        return self.session.exec(statement).one()

    def incidents_json(self, incidents: Sequence[Incident]) -> list[JSON]:
        ids = [i.id for i in incidents if i.id is not None]
        updates: dict[int, list[IncidentUpdate]] = defaultdict(list)
        affected: dict[int, list[Component]] = defaultdict(list)
        if ids:
            for update in self.session.exec(
                select(IncidentUpdate)
                .where(col(IncidentUpdate.incident_id).in_(ids))
                .order_by(col(IncidentUpdate.created_at).desc(), col(IncidentUpdate.id).desc())
            ).all():
                updates[update.incident_id].append(update)
            for link, component in self.session.exec(
                select(IncidentComponent, Component)
                .join(Component, col(Component.id) == col(IncidentComponent.component_id))
                .where(col(IncidentComponent.incident_id).in_(ids))
                .order_by(col(Component.position))
            ).all():
                affected[link.incident_id].append(component)
        return [self.incident_json(i, updates[i.id or 0], affected[i.id or 0]) for i in incidents]

    def incident_json(self, incident: Incident, updates: Iterable[IncidentUpdate], components: Sequence[Component]) -> JSON:
        incident_id = str(incident.id)
        return {
            "id": incident_id,
            "name": incident.title,
            "status": incident.status,
            "impact": incident.impact,
            "created_at": self.time(incident.declared_at),
            "updated_at": self.time(incident.updated_at),
            "monitoring_at": self.time(incident.mitigated_at) if incident.status == "monitoring" or incident.mitigated_at else None,
            "resolved_at": self.time(incident.resolved_at),
            "started_at": self.time(incident.detected_at),
            "shortlink": self.config.incident_url(incident_id),
            "page_id": self.page.id,
            "incident_updates": [
                {
                    "id": f"{incident_id}-{u.id}",
                    "status": u.status,
                    "body": u.body,
                    "incident_id": incident_id,
                    "created_at": self.time(u.created_at),
                    "updated_at": self.time(u.edited_at or u.created_at),
                    "display_at": self.time(u.created_at),
                    "affected_components": u.affected_components,
                    "deliver_notifications": True,
                    "custom_tweet": None,
                    "tweet_id": None,
                    # Beyond the Statuspage format: when its text was corrected, if it was.
                    "edited_at": self.time(u.edited_at),
                }
                for u in updates
            ],
            "components": [self.component_json(c, c.position + 1) for c in components],
            # Beyond the Statuspage format: what our own pages show.
            "severity": f"sev{incident.severity}",
        }

    # maintenance -------------------------------------------------------------------------

    def maintenances(self, statuses: Iterable[MaintenanceStatus] | None = None, limit: int = 50) -> list[Maintenance]:
        statement = select(Maintenance)
        if statuses is not None:
            statement = statement.where(col(Maintenance.status).in_([s.value for s in statuses]))
            statement = statement.order_by(col(Maintenance.scheduled_for))
        else:
            statement = statement.order_by(col(Maintenance.scheduled_for).desc())
        return list(self.session.exec(statement.limit(limit)).all())

    def maintenances_json(self, maintenances: Sequence[Maintenance]) -> list[JSON]:
        ids = [m.id for m in maintenances if m.id is not None]
        updates: dict[int, list[MaintenanceUpdate]] = defaultdict(list)
        affected: dict[int, list[Component]] = defaultdict(list)
        if ids:
            for update in self.session.exec(
                select(MaintenanceUpdate)
                .where(col(MaintenanceUpdate.maintenance_id).in_(ids))
                .order_by(col(MaintenanceUpdate.created_at).desc(), col(MaintenanceUpdate.id).desc())
            ).all():
                updates[update.maintenance_id].append(update)
            for link, component in self.session.exec(
                select(MaintenanceComponent, Component)
                .join(Component, col(Component.id) == col(MaintenanceComponent.component_id))
                .where(col(MaintenanceComponent.maintenance_id).in_(ids))
                .order_by(col(Component.position))
            ).all():
                affected[link.maintenance_id].append(component)
        result = []
        for m in maintenances:
            maintenance_id = f"m{m.id}"
            result.append(
                {
                    "id": maintenance_id,
                    "name": m.title,
                    "status": m.status,
                    "impact": Impact.MAINTENANCE.value,
                    "created_at": self.time(m.created_at),
                    "updated_at": self.time(m.updated_at),
                    "monitoring_at": None,
                    "resolved_at": self.time(m.completed_at),
                    "started_at": self.time(m.started_at or m.scheduled_for),
                    "shortlink": f"{self.page.url}/maintenance/{m.id}",
                    "page_id": self.page.id,
                    "scheduled_for": self.time(m.scheduled_for),
                    "scheduled_until": self.time(m.scheduled_until),
                    "incident_updates": [
                        {
                            "id": f"{maintenance_id}-{u.id}",
                            "status": u.status,
                            "body": u.body,
                            "incident_id": maintenance_id,
                            "created_at": self.time(u.created_at),
                            "updated_at": self.time(u.created_at),
                            "display_at": self.time(u.created_at),
                            "affected_components": None,
                            "deliver_notifications": True,
                            "custom_tweet": None,
                            "tweet_id": None,
                        }
                        for u in updates[m.id or 0]
                    ],
                    "components": [self.component_json(c, c.position + 1) for c in affected[m.id or 0]],
                }
            )
        return result

    # endpoints ---------------------------------------------------------------------------

    def summary(self) -> JSON:
        components = self.components()
        incidents = self.open_incidents()
        current = self.maintenances(
            [MaintenanceStatus.SCHEDULED, MaintenanceStatus.IN_PROGRESS, MaintenanceStatus.VERIFYING]
        )
        return {
            "page": self.page_json(),
            "status": self.status_json(components, incidents, current),
            "components": self.components_json(components),
            "incidents": self.incidents_json(incidents),
            "scheduled_maintenances": self.maintenances_json(current),
        }

    def status(self) -> JSON:
        summary = self.summary()
        return {"page": summary["page"], "status": summary["status"]}

    def components_endpoint(self) -> JSON:
        return {"page": self.page_json(), "components": self.components_json()}

    def incidents_endpoint(self) -> JSON:
        return {"page": self.page_json(), "incidents": self.incidents_json(self.recent_incidents(50))}

    def unresolved_endpoint(self) -> JSON:
        return {"page": self.page_json(), "incidents": self.incidents_json(self.open_incidents())}

    def maintenances_endpoint(self) -> JSON:
        return {"page": self.page_json(), "scheduled_maintenances": self.maintenances_json(self.maintenances(limit=50))}

    def upcoming_endpoint(self) -> JSON:
        upcoming = self.maintenances([MaintenanceStatus.SCHEDULED])
        return {"page": self.page_json(), "scheduled_maintenances": self.maintenances_json(upcoming)}

    def active_endpoint(self) -> JSON:
        active = self.maintenances([MaintenanceStatus.IN_PROGRESS, MaintenanceStatus.VERIFYING])
        return {"page": self.page_json(), "scheduled_maintenances": self.maintenances_json(active)}
