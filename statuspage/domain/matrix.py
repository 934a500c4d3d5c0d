"""The escalation matrix, frozen: who is paged at each tier, how, and how long they have to answer.

When a playbook is attached to an incident the matrix in force is copied onto its
``EscalationRun`` row (:func:`matrix_json`), so editing the configuration later never changes an
escalation already under way; the state machine only ever reads that copy.

The matrix is built from the configuration's ``escalation`` section, which this module knows
only by its shape (:class:`EscalationSource` and the protocols below), not by importing the
settings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from statuspage.domain.durations import Duration, DurationError

__all__ = [
    "AckWithinSource",
    "ContactSource",
    "EscalationSource",
    "Matrix",
    "MatrixContact",
    "MatrixOwner",
    "MatrixRule",
    "MatrixTier",
    "OwnerSource",
    "RuleSource",
    "TierSource",
    "matrix_json",
    "parse_delay",
]


# --- what the configuration provides -------------------------------------------------------


class ContactSource(Protocol):
    @property
    def method(self) -> str: ...  # slack_user, slack_channel, phone, email

    @property
    def address(self) -> str: ...


class RuleSource(Protocol):
    @property
    def contact(self) -> str: ...  # a contact kind the owner has

    @property
    def after(self) -> Duration: ...


class OwnerSource(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def contacts(self) -> Sequence[ContactSource]: ...

    @property
    def notify(self) -> Sequence[RuleSource] | None: ...  # personal notification rules, in order


class AckWithinSource(Protocol):
    @property
    def default(self) -> Duration: ...

    @property
    def by_severity(self) -> Mapping[str, Duration]: ...  # "sev1" -> how long


class TierSource(Protocol):
    @property
    def level(self) -> int: ...

    @property
    def name(self) -> str: ...

    @property
    def acknowledge_within(self) -> AckWithinSource: ...

    @property
    def owners(self) -> Sequence[OwnerSource]: ...

    @property
    def notify(self) -> Sequence[ContactSource]: ...


class EscalationSource(Protocol):
    @property
    def tiers(self) -> Sequence[TierSource]: ...


def parse_delay(text: str) -> Duration:
    """A notification rule's delay: a duration like ``2m``, or zero (``0``, ``0m``: at once).
    Raises :class:`DurationError`."""
    if isinstance(text, str) and re.fullmatch(r"\s*0+\s*(?:bd|bh|w|d|h|m|s)?\s*", text):
        return Duration()
    if not isinstance(text, str):
        raise DurationError(text, "is not a duration like 0m, 2m or 5m")
    return Duration.parse(text)


# --- the frozen matrix ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MatrixContact:
    kind: str  # slack_user, slack_channel, phone, email
    address: str


@dataclass(frozen=True, slots=True)
class MatrixRule:
    """A personal notification rule: page the owner's ``contact`` (a kind) ``after`` being paged."""

    contact: str
    after: Duration


@dataclass(frozen=True, slots=True)
class MatrixOwner:
    name: str
    role: str
    contacts: tuple[MatrixContact, ...]
    # Empty: every contact at once. See statuspage.domain.notification_rules.
    rules: tuple[MatrixRule, ...] = ()


@dataclass(frozen=True, slots=True)
class MatrixTier:
    level: int
    name: str
    # "default" and severity keys ("sev1") -> how long the tier has to acknowledge.
    acknowledge_within: Mapping[str, Duration]
    owners: tuple[MatrixOwner, ...]
    notify: tuple[MatrixContact, ...] = ()

    def ack_within(self, severity: int) -> Duration:
        return self.acknowledge_within.get(f"sev{severity}", self.acknowledge_within["default"])


@dataclass(frozen=True, slots=True)
class Matrix:
    """The escalation matrix as it was when a playbook was attached to an incident."""

    tiers: tuple[MatrixTier, ...] = field(default=())

    @classmethod
    def from_escalation(cls, escalation: EscalationSource) -> Matrix:
        tiers = []
        for tier in escalation.tiers:
            ack: dict[str, Duration] = {"default": tier.acknowledge_within.default}
            ack.update(tier.acknowledge_within.by_severity)
            owners = tuple(
                MatrixOwner(
                    o.name,
                    o.role,
                    tuple(MatrixContact(c.method, c.address) for c in o.contacts),
                    tuple(MatrixRule(r.contact, r.after) for r in o.notify or ()),
                )
                for o in tier.owners
            )
            notify = tuple(MatrixContact(c.method, c.address) for c in tier.notify)
            tiers.append(MatrixTier(tier.level, tier.name, ack, owners, notify))
        return cls(tuple(tiers))

    def to_json(self) -> dict[str, Any]:
        return {
            "tiers": [
                {
                    "level": t.level,
                    "name": t.name,
                    "acknowledge_within": {k: str(v) for k, v in t.acknowledge_within.items()},
                    "owners": [
                        {
                            "name": o.name,
                            "role": o.role,
                            "contacts": [{c.kind: c.address} for c in o.contacts],
                            **({"notify": [{"contact": r.contact, "after": str(r.after)} for r in o.rules]} if o.rules else {}),
                        }
                        for o in t.owners
                    ],
                    "notify": [{c.kind: c.address} for c in t.notify],
                }
                for t in self.tiers
            ]
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Matrix:
        def contacts(items: Sequence[Mapping[str, str]]) -> tuple[MatrixContact, ...]:
            return tuple(MatrixContact(kind, address) for item in items for kind, address in item.items())

        tiers = tuple(
            MatrixTier(
                level=int(t["level"]),
                name=str(t["name"]),
                acknowledge_within={k: Duration.parse(v) for k, v in t["acknowledge_within"].items()},
                owners=tuple(
                    MatrixOwner(
                        str(o["name"]),
                        str(o.get("role", "")),
                        contacts(o["contacts"]),
                        tuple(MatrixRule(str(r["contact"]), parse_delay(str(r["after"]))) for r in o.get("notify") or ()),
                    )
                    for o in t["owners"]
                ),
                notify=contacts(t.get("notify", [])),
            )
            for t in data["tiers"]
        )
        return cls(tiers)

    def tier(self, level: int) -> MatrixTier | None:
        return next((t for t in self.tiers if t.level == level), None)

    def owner(self, name: str) -> tuple[MatrixTier, MatrixOwner] | None:
        """The owner called ``name`` and the first (lowest) tier they belong to."""
        for tier in sorted(self.tiers, key=lambda t: t.level):
            for owner in tier.owners:
                if owner.name == name:
                    return tier, owner
        return None

    def ack_within(self, level: int, severity: int) -> Duration | None:
        tier = self.tier(level)
        return None if tier is None else tier.ack_within(severity)


def matrix_json(escalation: EscalationSource) -> dict[str, Any]:
    """The escalation matrix as JSON, to freeze in ``EscalationRun.matrix``."""
    return Matrix.from_escalation(escalation).to_json()
