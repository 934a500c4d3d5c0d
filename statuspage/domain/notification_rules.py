"""Personal notification rules: how one person is paged, contact by contact, over time.

An owner of the escalation matrix may list rules (``notify: [{contact: slack_user, after: 0m},
{contact: email, after: 2m}, ...]``). Without rules a page reaches every contact of the person at
once. With them, a page sends the rules due at once (``after: 0m``) and schedules one durable
timer of kind :data:`CONTACT_RULE` for each later rule; when such a timer fires and nobody has
acknowledged the incident, the person is paged through that contact. An acknowledgement by
anyone, a resolution, a re-attached playbook, or a new page of the same person cancels the
person's pending rule timers.

Pure like the rest of the machine (:mod:`statuspage.domain.escalation`, which calls this module):
it returns actions and the keys of the timers it scheduled, and keeps no state of its own.

A rule timer's key names everything its page needs, so firing it reads only the frozen matrix:
``rule:<n>:<step>:<loop>:<tier>:<contact kind>:<owner>`` (``tier`` is ``-`` when a step named
the owner; the owner is last, so a name holding ``:`` is read back whole). ``n`` counts rule
timers within the incident, so a key never repeats even when a tier is paged twice by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from statuspage.domain.escalation_actions import Action, Page, ScheduleTimer
from statuspage.domain.matrix import Matrix, MatrixOwner
from statuspage.domain.playbook import wall_clock

__all__ = [
    "CONTACT_RULE",
    "RULE_PREFIX",
    "RuleTimer",
    "fire_rule",
    "is_rule_key",
    "page_by_rules",
    "parse_rule_key",
    "rule_key",
    "rule_keys_of",
]

CONTACT_RULE = "contact_rule"
RULE_PREFIX = "rule:"


@dataclass(frozen=True, slots=True)
class RuleTimer:
    """What a rule timer's key names."""

    seq: int
    step: int
    loop: int
    tier: int | None
    contact_kind: str
    owner: str


def rule_key(timer: RuleTimer) -> str:
    tier = "-" if timer.tier is None else str(timer.tier)
    return f"{RULE_PREFIX}{timer.seq}:{timer.step}:{timer.loop}:{tier}:{timer.contact_kind}:{timer.owner}"


def is_rule_key(key: str) -> bool:
    return key.startswith(RULE_PREFIX)


def parse_rule_key(key: str) -> RuleTimer | None:
    """The parts of a rule timer's key; ``None`` for any other key."""
    if not is_rule_key(key):
        return None
    parts = key[len(RULE_PREFIX) :].split(":", 5)
    if len(parts) != 6:
        return None
    seq, step, loop, tier, kind, owner = parts
    try:
        return RuleTimer(int(seq), int(step), int(loop), None if tier == "-" else int(tier), kind, owner)
    except ValueError:
        return None


def page_by_rules(
    owner: MatrixOwner, *, step: int, loop: int, tier: int | None, at: datetime | None, seq: int
) -> tuple[list[Action], list[str], int]:
    """Page ``owner``: every contact at once when they have no rules, else the rules due at once
    paged and the later ones scheduled from ``at`` (``None``: not scheduled, the incident is
    acknowledged). Returns the actions, the rule timer keys scheduled, and the last rule timer
    number used (``seq`` when none)."""
    if not owner.rules:
        return [Page(step, loop, tier, owner.name, c.kind, c.address) for c in owner.contacts], [], seq
    actions: list[Action] = []
    keys: list[str] = []
    for rule in owner.rules:
        delay = wall_clock(rule.after)
        if not delay:
            actions += _pages(owner, rule.contact, step=step, loop=loop, tier=tier, after=None)
            continue
        if at is None:
            continue
        seq += 1
        key = rule_key(RuleTimer(seq, step, loop, tier, rule.contact, owner.name))
        actions.append(ScheduleTimer(key, at + delay, CONTACT_RULE))
        keys.append(key)
    return actions, keys, seq


def fire_rule(matrix: Matrix, key: str) -> list[Action]:
    """The pages a rule timer sends when it fires (the caller checked nobody acknowledged)."""
    timer = parse_rule_key(key)
    if timer is None:
        return []
    owner = _find_owner(matrix, timer.owner)
    if owner is None:
        return []
    rule = next((r for r in owner.rules if r.contact == timer.contact_kind), None)
    after = None if rule is None else str(rule.after)
    return _pages(owner, timer.contact_kind, step=timer.step, loop=timer.loop, tier=timer.tier, after=after or "")


def rule_keys_of(keys: Sequence[str], owner: str) -> list[str]:
    """The pending rule timer keys (of ``keys``) that page ``owner``."""
    return [k for k in keys if (t := parse_rule_key(k)) is not None and t.owner == owner]


def _pages(
    owner: MatrixOwner, kind: str, *, step: int, loop: int, tier: int | None, after: str | None
) -> list[Action]:
    return [
        Page(step, loop, tier, owner.name, c.kind, c.address, by_rule=after)
        for c in owner.contacts
        if c.kind == kind
    ]


def _find_owner(matrix: Matrix, name: str) -> MatrixOwner | None:
    for tier in matrix.tiers:
        for owner in tier.owners:
            if owner.name == name:
                return owner
    return None
