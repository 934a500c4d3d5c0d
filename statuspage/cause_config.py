"""The cause categories of root-cause analyses (``causes:``) and the postmortem deadline
(``postmortems:``) in ``statuspage.yaml``.

```yaml
causes:                 # id: label; ``incident rca ID --category ID`` takes an id
  change: Change or deploy
  capacity: Capacity
postmortems:
  due_within: 5bd       # after resolution: business days (bd), or calendar time (d, h)
  severities: [1, 2]    # which incidents need one; any incident that breached a target does too
```

Self-contained (pydantic and the pure domain only): :mod:`statuspage.config` imports it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, RootModel, field_validator
from pydantic_core import PydanticCustomError

from statuspage.domain.causes import UNCATEGORISED, UNCATEGORISED_LABEL
from statuspage.domain.durations import Duration, DurationError

CAUSE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
MAX_LABEL = 100
DEFAULT_CAUSES: dict[str, str] = {
    "change": "Change or deploy",
    "capacity": "Capacity",
    "third-party": "Third party",
    "configuration": "Configuration",
    "infrastructure": "Infrastructure",
    "process": "Process",
}


class Causes(RootModel[dict[str, str]]):
    """The taxonomy: category id → label, in the order written."""

    model_config = ConfigDict(frozen=True)

    root: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_CAUSES))

    @field_validator("root")
    @classmethod
    def _entries(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise PydanticCustomError("causes", "name at least one cause category, e.g. change: Change or deploy")
        cleaned: dict[str, str] = {}
        for key, label in value.items():
            if not isinstance(key, str) or not CAUSE_ID.match(key):
                raise PydanticCustomError(
                    "cause_id", "{value} is not an id: use lower-case letters, digits, '-' and '_'", {"value": json.dumps(key, default=str)}
                )
            if key == UNCATEGORISED:
                raise PydanticCustomError("cause_id", "{value} is reserved for incidents without a category", {"value": json.dumps(key)})
            text = " ".join(str(label).split()) if isinstance(label, str) else ""
            if not text or len(text) > MAX_LABEL:
                raise PydanticCustomError(
                    "cause_label", "the label of {value} must be 1 to {limit} characters", {"value": json.dumps(key), "limit": MAX_LABEL}
                )
            cleaned[key] = text
        return cleaned

    def __iter__(self) -> Iterator[str]:  # type: ignore[override]
        return iter(self.root)

    def __contains__(self, key: object) -> bool:
        return key in self.root

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.root)

    def label(self, key: str | None) -> str:
        """The label of ``key``; an id no longer configured reads as itself."""
        if key is None:
            return UNCATEGORISED_LABEL
        return self.root.get(key, key)


def _due_within(value: Any) -> Duration:
    if isinstance(value, Duration):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("duration", "expected a duration like 5bd or 7d")
    try:
        return Duration.parse(value)
    except DurationError as exc:
        raise PydanticCustomError("duration", "{value} {problem}", {"value": json.dumps(value), "problem": exc.problem}) from None


class PostmortemsConfig(BaseModel):
    """When a postmortem is due: ``due_within`` after the incident is resolved, for incidents of
    ``severities`` and for any incident that breached an SLA target."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    due_within: Annotated[Duration, BeforeValidator(_due_within), PlainSerializer(str, return_type=str)] = Duration(business_days=5)
    severities: tuple[Annotated[int, Field(ge=1, le=9)], ...] = (1, 2)
