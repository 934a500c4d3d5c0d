"""Alerts from monitoring: Alertmanager, Grafana and a generic JSON format, posted to
``/api/integrations/*`` with an ``alerts`` token, start the incident response.

The modules:
  config    the ``alerts`` section of the configuration: routing rules, the storm cap
  payloads  each sender's JSON, validated and normalised to :class:`~statuspage.domain.alerts.IncomingAlert`
  service   storing each request and alert, grouping, opening and resolving incidents
  automation  a rule's component status while its alerts fire, restored when they resolve

Nothing here is imported by :mod:`statuspage.config` but ``config``, which imports only the
domain and pydantic.
"""
