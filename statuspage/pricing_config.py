"""The prices and service credits of ``support_tiers`` in ``statuspage.yaml`` (see /pricing).

```yaml
support_tiers:
  - id: standard
    price: {currency: USD, min: 49, max: 99, per: seat per month}   # or {included: true}
    sla_credits: {per_breach_percent: 5, monthly_cap_percent: 20}
```

Self-contained (pydantic only): :mod:`statuspage.config` imports it.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

_STRICT = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Price(BaseModel):
    model_config = _STRICT

    included: bool = False
    currency: str = "USD"
    min: Decimal | None = Field(default=None, ge=0)
    max: Decimal | None = Field(default=None, ge=0)
    per: str = "seat per month"

    @model_validator(mode="after")
    def _either(self) -> Price:
        if not self.included and self.min is None:
            raise PydanticCustomError("price", "give a price (min, and max for a range) or included: true")
        if self.min is not None and self.max is not None and self.max < self.min:
            raise PydanticCustomError("price", "max is lower than min")
        return self


class SlaCredits(BaseModel):
    """Credit owed per missed commitment, as a percentage of the monthly fee, capped per month."""

    model_config = _STRICT

    per_breach_percent: Decimal = Field(default=Decimal(0), ge=0, le=100)
    monthly_cap_percent: Decimal = Field(default=Decimal(100), ge=0, le=100)
    note: str = ""
