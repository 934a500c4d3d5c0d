"""The ``subscriptions`` section of ``statuspage.yaml``: customers who subscribe themselves to
the page's notifications by email or webhook (see :mod:`statuspage.subscribers`).

```yaml
subscriptions:
  enabled: true              # the Subscribe link and /subscribe; false hides both
  confirm_within: 48h        # how long a confirmation link works
  bounce_limit: 3            # permanent failures in a row before a subscriber is suspended
  per_address: 3             # confirmation emails to one address ...
  per_client: 10             # ... and subscription requests from one client address ...
  throttle_window: 1h        # ... within this window
  allow_private_webhooks: false   # customer webhook URLs may resolve to private addresses
  check_admin_webhooks: false     # apply the same public-address check to admin-added webhooks
```

``STATUSPAGE_ALLOW_PRIVATE_WEBHOOKS=1`` overrides ``allow_private_webhooks`` (tests, an intranet).
Self-contained (pydantic and the domain only): :mod:`statuspage.config` imports it.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer
from pydantic_core import PydanticCustomError

from statuspage.domain.durations import Duration, DurationError

_STRICT = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _duration(value: Any) -> Duration:
    if isinstance(value, Duration):
        return value
    try:
        return Duration.parse(str(value))
    except DurationError as exc:
        raise PydanticCustomError("duration", "{problem}", {"problem": str(exc)}) from None


Window = Annotated[Duration, BeforeValidator(_duration), PlainSerializer(str, return_type=str)]


class SubscriptionsConfig(BaseModel):
    model_config = _STRICT

    enabled: bool = True
    confirm_within: Window = Duration.parse("48h")
    bounce_limit: int = Field(default=3, ge=1, le=100)
    per_address: int = Field(default=3, ge=1, le=1000)
    per_client: int = Field(default=10, ge=1, le=100000)
    throttle_window: Window = Duration.parse("1h")
    allow_private_webhooks: bool = False
    check_admin_webhooks: bool = False
