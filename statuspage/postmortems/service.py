"""Postmortems: the analysis of an incident beyond its public root cause.

Contributing factors, a why-chain, the detection and response gaps, remediation action items
with an owner and a due date, and whether the postmortem is published (then the public incident
page shows the root cause, the contributing factors and the remediation actions).

Every change is one audited write. Postmortem changes are audited with subject ``postmortem``
(the incident id) and action items with subject ``action_item`` (their own id), not ``incident``:
they change nothing a webhook subscriber's or Slack's copy of the incident shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlmodel import Session, col, select

from statuspage import validators
from statuspage.action_items import OPEN, record_action_item
from statuspage.audit.actions import AuditAction
from statuspage.context import WriteContext, write
from statuspage.db.models import ActionItem, ContributingFactor, Incident, Postmortem
from statuspage.errors import Conflict, InvalidInput, NotFound, UserError
from statuspage.ids import parse_id
from statuspage.incidents import handling
from statuspage.incidents import service as incidents
from statuspage.incidents.service import MAX_BODY, clean_text

DONE = "done"
ACTION_STATUSES = (OPEN, DONE)
MAX_TITLE = validators.MAX_TITLE
MAX_OWNER = validators.MAX_NAME
MAX_WHYS = 20


# Reading -----------------------------------------------------------------------------------


def get_postmortem(*, session: Session, incident_id: int) -> Postmortem | None:
    return session.get(Postmortem, incident_id)


def factors(*, session: Session, incident_id: int) -> list[ContributingFactor]:
    return list(
        session.exec(
            select(ContributingFactor)
            .where(ContributingFactor.incident_id == incident_id)
            .order_by(col(ContributingFactor.created_at), col(ContributingFactor.id))
        ).all()
    )


def action_items(
    *, session: Session, incident_id: int | None = None, open_only: bool = False
) -> list[ActionItem]:
    statement = select(ActionItem)
    if incident_id is not None:
        statement = statement.where(ActionItem.incident_id == incident_id)
    if open_only:
        statement = statement.where(ActionItem.status == OPEN)
    return list(session.exec(statement.order_by(col(ActionItem.due_on), col(ActionItem.id))).all())


def open_actions_past_due(session: Session, now: datetime) -> list[ActionItem]:
    """Open action items whose due date is before ``now``'s date (read in ``now``'s own time
    zone: pass a time in the page's zone), earliest due first. An item due today is not late."""
    today = now.date()
    return list(
        session.exec(
            select(ActionItem)
            .where(ActionItem.status == OPEN, col(ActionItem.due_on) < today)
            .order_by(col(ActionItem.due_on), col(ActionItem.id))
        ).all()
    )


def is_published(postmortem: Postmortem | None) -> bool:
    return postmortem is not None and postmortem.published_at is not None


# Writing -----------------------------------------------------------------------------------


def _postmortem_for_update(ctx: WriteContext, incident_id: int | str) -> tuple[Incident, Postmortem]:
    incident = incidents.get(session=ctx.session, incident_id=incident_id, for_update=True)
    assert incident.id is not None
    row = ctx.session.get(Postmortem, incident.id)
    if row is None:
        now = ctx.now()
        row = Postmortem(incident_id=incident.id, created_at=now, updated_at=now)
        ctx.session.add(row)
    return incident, row


def _touch(ctx: WriteContext, row: Postmortem) -> datetime:
    now = ctx.now()
    row.updated_at = max(row.updated_at, now)
    ctx.session.add(row)
    return now


@write
def add_factor(*, ctx: WriteContext, incident_id: int | str, text: str) -> ContributingFactor:
    incident, row = _postmortem_for_update(ctx, incident_id)
    cleaned = clean_text(text, field="factor", limit=MAX_BODY, required=True)
    assert cleaned is not None and incident.id is not None
    now = _touch(ctx, row)
    factor = ContributingFactor(incident_id=incident.id, text=cleaned, created_at=now, author=ctx.actor.name)
    ctx.session.add(factor)
    ctx.session.flush()
    ctx.audit(
        action=AuditAction.POSTMORTEM_FACTOR,
        subject_type="postmortem",
        subject_id=incident.id,
        at=now,
        after={"factor_id": factor.id, "text": cleaned},
    )
    return factor


@write
def set_why_chain(*, ctx: WriteContext, incident_id: int | str, whys: Sequence[str]) -> Postmortem:
    """Replace the why-chain with ``whys``, in order (the most immediate cause first)."""
    incident, row = _postmortem_for_update(ctx, incident_id)
    if len(whys) > MAX_WHYS:
        raise InvalidInput(f"a why-chain of {len(whys)} is too long; the limit is {MAX_WHYS}", field="why")
    chain = []
    for why in whys:
        cleaned = clean_text(why, field="why", limit=MAX_BODY, required=True)
        assert cleaned is not None
        chain.append(cleaned)
    before = {"why_chain": list(row.why_chain or [])}
    row.why_chain = chain or None
    now = _touch(ctx, row)
    ctx.audit(
        action=AuditAction.POSTMORTEM_WHY_CHAIN,
        subject_type="postmortem",
        subject_id=incident.id or 0,
        at=now,
        before=before,
        after={"why_chain": chain},
    )
    return row


@write
def set_gaps(
    *, ctx: WriteContext, incident_id: int | str, detection_gap: str | None = None, response_gap: str | None = None
) -> Postmortem:
    """What detection and what the response missed. Either may be given alone; an empty text clears it."""
    if detection_gap is None and response_gap is None:
        raise InvalidInput("give a detection gap, a response gap or both", field="detection_gap")
    incident, row = _postmortem_for_update(ctx, incident_id)
    before = {"detection_gap": row.detection_gap, "response_gap": row.response_gap}
    if detection_gap is not None:
        row.detection_gap = clean_text(detection_gap, field="detection_gap", limit=MAX_BODY, required=False)
    if response_gap is not None:
        row.response_gap = clean_text(response_gap, field="response_gap", limit=MAX_BODY, required=False)
    now = _touch(ctx, row)
    ctx.audit(
        action=AuditAction.POSTMORTEM_GAPS,
        subject_type="postmortem",
        subject_id=incident.id or 0,
        at=now,
        before=before,
        after={"detection_gap": row.detection_gap, "response_gap": row.response_gap},
    )
    return row


@write
def record_analysis(
    *,
    ctx: WriteContext,
    incident_id: int | str,
    root_cause: str | None = None,
    remediation: str | None = None,
    factors: Sequence[str] = (),
    whys: Sequence[str] = (),
    detection_gap: str | None = None,
    response_gap: str | None = None,
    category: str | None = None,
) -> Incident:
    """Everything ``incident rca`` can record, in one transaction: all of it or nothing."""
    if root_cause is not None or remediation is not None or category is not None:
        handling.record_root_cause(
            ctx=ctx, incident_id=incident_id, root_cause=root_cause, remediation=remediation, category=category
        )
    for text in factors:
        add_factor(ctx=ctx, incident_id=incident_id, text=text)
    if whys:
        set_why_chain(ctx=ctx, incident_id=incident_id, whys=whys)
    if detection_gap is not None or response_gap is not None:
        set_gaps(ctx=ctx, incident_id=incident_id, detection_gap=detection_gap, response_gap=response_gap)
    return incidents.get(session=ctx.session, incident_id=incident_id)


def parse_due(value: date | str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"{value!r} is not a date; give it as YYYY-MM-DD, e.g. 2026-12-15", field="due") from None


@write
def add_action(
    *, ctx: WriteContext, incident_id: int | str, title: str, owner: str, due_on: date | str
) -> ActionItem:
    incident, row = _postmortem_for_update(ctx, incident_id)
    clean_title = validators.title(title, limit=MAX_TITLE)
    clean_owner = validators.person_name(owner, field="owner", limit=MAX_OWNER)
    due = parse_due(due_on)
    assert incident.id is not None
    now = _touch(ctx, row)
    return record_action_item(ctx, incident_id=incident.id, title=clean_title, owner=clean_owner, due_on=due, at=now)


def get_action(*, session: Session, action_id: int | str, for_update: bool = False) -> ActionItem:
    try:
        key = parse_id(str(action_id), what="action item")
    except UserError as exc:
        raise NotFound(exc.message, field="id") from None
    statement = select(ActionItem).where(ActionItem.id == key)
    if for_update:
        statement = statement.with_for_update()
    item = session.exec(statement).first()
    if item is None:
        raise NotFound(f"no action item {key}", field="id")
    return item


@write
def complete_action(*, ctx: WriteContext, action_id: int | str) -> ActionItem:
    item = get_action(session=ctx.session, action_id=action_id, for_update=True)
    if item.status == DONE:
        raise Conflict(f"action item {item.id} is already done", field="id")
    now = ctx.now()
    item.status = DONE
    item.done_at = now
    ctx.session.add(item)
    ctx.audit(
        action=AuditAction.ACTION_ITEM_DONE,
        subject_type="action_item",
        subject_id=item.id or 0,
        at=now,
        before={"status": OPEN},
        after={"incident_id": item.incident_id, "status": DONE},
    )
    return item


@write
def publish(*, ctx: WriteContext, incident_id: int | str) -> Postmortem:
    """Show the postmortem on the public incident page. Publishing again keeps the first time."""
    incident, row = _postmortem_for_update(ctx, incident_id)
    if row.published_at is not None:
        return row
    now = _touch(ctx, row)
    row.published_at = now
    row.published_by = ctx.actor.name
    ctx.audit(
        action=AuditAction.POSTMORTEM_PUBLISH,
        subject_type="postmortem",
        subject_id=incident.id or 0,
        at=now,
        after={"published_at": now},
    )
    return row
