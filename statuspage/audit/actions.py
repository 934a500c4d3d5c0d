"""Every audit action the product writes, in one place: the services and the on-call engine
write them, and the Slack hook, the worker's console, ``incident show``, the postmortem
timeline, webhooks and retention read them. A name is part of the record people keep for
years, so a new action is added here and an existing one is never renamed.

The values are the stored names; :class:`AuditAction` compares equal to them, so rows written
by any version read the same.
"""

from __future__ import annotations

from enum import StrEnum


class AuditAction(StrEnum):
    # An incident's public life (statuspage.incidents).
    INCIDENT_DECLARE = "incident.declare"
    INCIDENT_UPDATE = "incident.update"
    INCIDENT_RESOLVE = "incident.resolve"
    INCIDENT_REOPEN = "incident.reopen"
    INCIDENT_ACKNOWLEDGE = "incident.acknowledge"
    INCIDENT_SEVERITY = "incident.severity"
    INCIDENT_HAND_OVER = "incident.hand_over"
    # The same change, as early versions recorded it: still read, never written.
    INCIDENT_HANDOVER_EARLY = "incident.handover"
    INCIDENT_ROOT_CAUSE = "incident.root_cause"
    INCIDENT_SLA_PAUSE = "incident.sla_pause"
    INCIDENT_SLA_RESUME = "incident.sla_resume"
    INCIDENT_SLA_BREACH = "incident.sla_breach"
    # The plan to resolve an incident recorded (``incident plan``): stops its resolution_plan clock.
    INCIDENT_RESOLUTION_PLAN = "incident.resolution_plan"
    # An internal incident (opened from an alert) shown to the public from now on.
    INCIDENT_PUBLISH = "incident.publish"
    # Corrections (statuspage.incidents.corrections): a title or a published update's text put
    # right, and an incident withdrawn from the public page (internal again) as a mistake.
    INCIDENT_EDIT_TITLE = "incident.edit_title"
    INCIDENT_EDIT_UPDATE = "incident.edit_update"
    INCIDENT_RETRACT = "incident.retract"
    # What the on-call engine did (statuspage.oncall.engine) and what the outbox could not do.
    INCIDENT_PLAYBOOK = "incident.playbook"
    INCIDENT_PAGE = "incident.page"
    # A page not sent: the person declared the incident (``incident declare --page-me`` pages them).
    INCIDENT_PAGE_SKIPPED = "incident.page_skipped"
    INCIDENT_PAGE_FAILED = "incident.page_failed"
    # What became of a page once its channel answered (sent, or not sent and why).
    INCIDENT_PAGE_DELIVERED = "incident.page_delivered"
    # A page's one-click acknowledgement link was used (statuspage.incidents.ack_links).
    INCIDENT_ACK_LINK = "incident.ack_link"
    INCIDENT_NOTIFY_CHANNEL = "incident.notify_channel"
    INCIDENT_ESCALATE = "incident.escalate"
    INCIDENT_REMIND = "incident.remind"
    INCIDENT_ESCALATION_EXHAUSTED = "incident.escalation_exhausted"
    INCIDENT_SLACK = "incident.slack"
    # Postmortems (statuspage.postmortems).
    POSTMORTEM_FACTOR = "postmortem.factor"
    POSTMORTEM_WHY_CHAIN = "postmortem.why_chain"
    POSTMORTEM_GAPS = "postmortem.gaps"
    POSTMORTEM_PUBLISH = "postmortem.publish"
    ACTION_ITEM_ADD = "action_item.add"
    ACTION_ITEM_DONE = "action_item.done"
    # Alerts from monitoring (statuspage.alerts): one firing (new, joining an incident, or firing
    # again), one resolving, and a storm held to its rule's cap of new incidents.
    ALERT_FIRE = "alert.fire"
    ALERT_RESOLVE = "alert.resolve"
    ALERT_CAPPED = "alert.capped"
    # Components and maintenance.
    COMPONENT_CREATE = "component.create"
    COMPONENT_UPDATE = "component.update"
    COMPONENT_ARCHIVE = "component.archive"
    COMPONENT_SET_STATUS = "component.set_status"
    COMPONENT_GROUP_CREATE = "component_group.create"
    COMPONENT_GROUP_UPDATE = "component_group.update"
    COMPONENT_GROUP_ARCHIVE = "component_group.archive"
    MAINTENANCE_SCHEDULE = "maintenance.schedule"
    MAINTENANCE_SET_STATUS = "maintenance.set_status"
    # Operating the product.
    TOKEN_CREATE = "token.create"
    TOKEN_REVOKE = "token.revoke"
    WEBHOOK_SUBSCRIBE = "webhook.subscribe"
    WEBHOOK_DISABLE = "webhook.disable"
    WEBHOOK_REMOVE = "webhook.remove"
    OUTBOX_RETRY = "outbox.retry"
    # Customers' subscriptions (never with the address: the log outlives a removal).
    SUBSCRIBER_SUBSCRIBE = "subscriber.subscribe"
    SUBSCRIBER_CONFIRM = "subscriber.confirm"
    SUBSCRIBER_UPDATE = "subscriber.update"
    SUBSCRIBER_REMOVE = "subscriber.remove"
    SUBSCRIBER_SUSPEND = "subscriber.suspend"
    REPORT_POST = "report.post"
    # Figures imported for the monthly report: customer accounts (SLA credits in money) and KPIs.
    ACCOUNT_IMPORT = "account.import"
    KPI_IMPORT = "kpi.import"
    RETENTION_PRUNED = "retention.pruned"
    # Admin API access: one per request, and refused anonymous requests counted per minute.
    API_REQUEST = "api.request"
    API_REFUSED = "api.refused"
