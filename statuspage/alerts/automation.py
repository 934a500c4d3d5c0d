"""Component automation: a rule's ``set_component_status`` sets the component's own (public)
status while its alerts fire, and the last of them to resolve puts back what was there before.

Several alerts may hold one component at once (a storm, two rules): the first to take hold
remembers the status to restore, the others inherit it, the worst status asked for is the one
shown, and only the last to let go restores it. If a person set the component's status in the
meantime (``incident component set``), that is theirs: it is left as they set it.

The change goes through :func:`statuspage.components.service.set_status`, so it is audited
(``component.set_status``) and recorded in the component's history like one made by hand.
"""

from __future__ import annotations

import logging

from sqlmodel import col, select

from statuspage.components import service as components
from statuspage.context import WriteContext
from statuspage.db.models import Alert, Component
from statuspage.domain.alerts import FIRING
from statuspage.domain.enums import ComponentStatus

log = logging.getLogger(__name__)


def _holders(ctx: WriteContext, component_id: str, *, besides: Alert) -> list[Alert]:
    ctx.session.flush()
    return list(
        ctx.session.exec(
            select(Alert).where(
                col(Alert.held_component) == component_id,
                col(Alert.status) == FIRING,
                col(Alert.id) != besides.id,
            )
        ).all()
    )


def hold(ctx: WriteContext, alert: Alert, component_id: str, status: ComponentStatus) -> None:
    """``alert`` fires: hold ``component_id`` at ``status`` (or worse, if another alert asks)."""
    component = ctx.session.get(Component, component_id)
    if component is None or component.archived:
        return
    others = _holders(ctx, component_id, besides=alert)
    held = max([status, *(ComponentStatus(a.component_status or status) for a in others)], key=lambda s: s.rank)
    alert.held_component = component_id
    alert.component_restore = others[0].component_restore if others else component.base_status
    if component.base_status != held.value:
        components.set_status(ctx=ctx, component_id=component_id, status=held.value)
    for holder in [alert, *others]:
        holder.component_status = held.value


def release(ctx: WriteContext, alert: Alert) -> None:
    """``alert`` resolved: if no other alert holds its component, put back what was before."""
    component_id = alert.held_component
    if component_id is None:
        return
    alert.held_component = None
    if _holders(ctx, component_id, besides=alert):
        return
    component = ctx.session.get(Component, component_id)
    if component is None or component.archived or alert.component_restore is None:
        return
    if component.base_status != alert.component_status:
        log.info(
            "component %s is %s, set by hand while alert %s held it at %s; left as it is",
            component_id,
            component.base_status,
            alert.id,
            alert.component_status,
        )
        return
    if component.base_status != alert.component_restore:
        components.set_status(ctx=ctx, component_id=component_id, status=alert.component_restore)
