"""``billing`` in ``statuspage.yaml``: how money owed to customers (SLA credits) is printed.

```yaml
billing:
  currency: USD   # ISO 4217 code; USD prints as $1,234.50, any other as 1,234.50 EUR
```

Self-contained (pydantic only): :mod:`statuspage.config` imports it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic_core import PydanticCustomError

_CODE = re.compile(r"^[A-Z]{3}$")


class BillingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    currency: str = "USD"

    @field_validator("currency", mode="before")
    @classmethod
    def _currency(cls, value: Any) -> Any:
        code = value.strip().upper() if isinstance(value, str) else value
        if not isinstance(code, str) or not _CODE.match(code):
            raise PydanticCustomError(
                "currency", "{value} is not a currency code like USD or EUR", {"value": json.dumps(value, default=str)}
            )
        return code
