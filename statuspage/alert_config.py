"""The ``alerts`` section of ``statuspage.yaml``: the routing rules alerts from monitoring go
through, and the cap on how many incidents a storm of them may open.

```yaml
alerts:
  max_new_incidents: 3     # per rule within `window`; beyond it, alerts join the rule's latest incident
  window: 10m
  dedupe_window: 15m       # the same request body again within this time is a retry
  rules:
    - name: critical-component
      match: {severity: critical}          # labels equal to these
      match_re: {env: "prod|production"}    # labels matching these (whole value, Python syntax)
      component_label: component            # the component is this label's value ...
      component: api                        # ... or this one (also the fallback)
      severity: 1
      playbook: sev1                        # default: the severity's
      title: Checkout is failing            # default: the alert's summary or name
      publish: false                        # default: the incident is internal
      set_component_status: major_outage    # while the alerts fire; restored when they resolve
      resolve_incident: false               # default: a person resolves the incident
```

Self-contained (pydantic and the domain only): :mod:`statuspage.config` imports it, and
:mod:`statuspage.settings` checks the rules against the rest of the configuration.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, model_validator
from pydantic_core import PydanticCustomError

from statuspage.domain.alerts import Rule
from statuspage.domain.durations import Duration, DurationError
from statuspage.domain.enums import ComponentStatus

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_SEVERITY = re.compile(r"^sev([1-9])$")
MAX_LABEL_NAME = 100
MAX_LABEL_VALUE = 1000
_STRICT = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _id(value: Any) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise PydanticCustomError(
            "slug", "{value} is not an id: use lower-case letters, digits, '-' and '_'", {"value": json.dumps(value, default=str)}
        )
    return value


def _label_value(value: Any) -> Any:
    # YAML reads `code: 500` as a number and `up: true` as a boolean; labels are text.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise PydanticCustomError(
            "regex", "{value} is not a regular expression: {problem}", {"value": json.dumps(value), "problem": str(exc)}
        ) from None
    return value


def _severity(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 9:
        return value
    found = _SEVERITY.match(value) if isinstance(value, str) else None
    if found:
        return int(found.group(1))
    raise PydanticCustomError(
        "severity", "{value} is not a severity: write 1 or sev1", {"value": json.dumps(value, default=str)}
    )


def _wall_clock(value: Any) -> Duration:
    if isinstance(value, Duration):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("duration", "expected a duration like 10m or 1h")
    try:
        duration = Duration.parse(value)
    except DurationError:
        raise PydanticCustomError("duration", "{value} is not a duration like 10m", {"value": json.dumps(value)}) from None
    if duration.is_business:
        raise PydanticCustomError("duration", "{value} counts business time; write wall-clock time like 10m", {"value": json.dumps(value)})
    return duration


Id = Annotated[str, BeforeValidator(_id)]
LabelName = Annotated[str, Field(min_length=1, max_length=MAX_LABEL_NAME)]
LabelValue = Annotated[str, BeforeValidator(_label_value), Field(max_length=MAX_LABEL_VALUE)]
Pattern = Annotated[str, AfterValidator(_regex), Field(max_length=MAX_LABEL_VALUE)]
Severity = Annotated[int, BeforeValidator(_severity)]
WallClock = Annotated[Duration, BeforeValidator(_wall_clock), PlainSerializer(str, return_type=str)]


class AlertRule(BaseModel):
    model_config = _STRICT

    name: Id
    match: dict[LabelName, LabelValue] = {}
    match_re: dict[LabelName, Pattern] = {}
    severity: Severity
    component: Id | None = None
    component_label: LabelName | None = None
    playbook: str | None = Field(default=None, min_length=1, max_length=100)
    title: str | None = Field(default=None, min_length=1, max_length=200)
    publish: bool = False
    set_component_status: ComponentStatus | None = None
    resolve_incident: bool = False
    max_new_incidents: int | None = Field(default=None, ge=1, le=1000)

    @model_validator(mode="after")
    def _component(self) -> AlertRule:
        if self.component is None and self.component_label is None:
            raise PydanticCustomError(
                "component", "a rule names its component: component: api, or component_label: component (or both)"
            )
        return self

    def to_rule(self) -> Rule:
        return Rule(
            name=self.name,
            severity=self.severity,
            match=dict(self.match),
            match_re={name: re.compile(pattern) for name, pattern in self.match_re.items()},
            component=self.component,
            component_label=self.component_label,
            playbook=self.playbook,
            title=self.title,
            publish=self.publish,
            set_component_status=self.set_component_status,
            resolve_incident=self.resolve_incident,
            max_new_incidents=self.max_new_incidents,
        )


class AlertsConfig(BaseModel):
    model_config = _STRICT

    # At most this many incidents per rule within `window`; beyond, alerts join the rule's latest.
    max_new_incidents: int = Field(default=3, ge=1, le=1000)
    window: WallClock = Duration.parse("10m")
    # A request whose body is the same as one received this recently is a retry and does nothing.
    dedupe_window: WallClock = Duration.parse("15m")
    rules: tuple[AlertRule, ...] = ()

    def routing_rules(self) -> list[Rule]:
        return [rule.to_rule() for rule in self.rules]

    def rule(self, name: str | None) -> Rule | None:
        found = next((rule for rule in self.rules if rule.name == name), None)
        return found.to_rule() if found is not None else None

    def cap(self, rule: Rule) -> int:
        return rule.max_new_incidents or self.max_new_incidents
