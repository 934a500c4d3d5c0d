"""Playbooks as the escalation machine runs them: plain, frozen values.

A playbook is written in YAML and validated against the configuration at the edge
(:mod:`statuspage.playbooks`), which produces these objects. When a playbook is attached to an
incident its JSON (:meth:`Playbook.to_json`) is frozen on the ``EscalationRun`` row, and the
machine reads it back with :meth:`Playbook.from_json`; that copy was validated when it was
frozen and is not checked against today's configuration, on purpose.

Templates (``post_update``, ``slack``) are carried as their source text. Rendering them is not
the domain's business: the machine asks a renderer it is given
(:class:`statuspage.domain.escalation.TemplateRenderer`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar

from statuspage.domain.durations import Duration
from statuspage.domain.enums import ComponentStatus

__all__ = [
    "KINDS",
    "ON_RESOLVE_KINDS",
    "UPDATE_STATUSES",
    "NotifyStep",
    "Playbook",
    "PostUpdateStep",
    "RepeatStep",
    "SetComponentStep",
    "SlackStep",
    "Step",
    "StepBody",
    "WaitForAckStep",
    "wall_clock",
]

# The step kinds, in the order the documentation lists them.
KINDS = ("post_update", "notify", "wait_for_ack", "repeat", "set_component", "slack")
# After resolution nobody is paged any more: only these kinds make sense in on_resolve.
ON_RESOLVE_KINDS = ("post_update", "set_component", "slack")
# The statuses a post_update step may move an open incident to.
UPDATE_STATUSES = ("investigating", "identified", "monitoring")


def wall_clock(duration: Duration) -> timedelta:
    """The length of ``duration`` as wall-clock time.

    Business durations only reach the machine from a configuration default for a severity the
    playbook was not validated for (validation refuses them otherwise). Rather than fail in the
    middle of paging, they are approximated: one business hour as an hour, one business day as
    24 hours, which errs on the side of escalating *later* than the business clock would.
    """
    if duration.is_business:
        return timedelta(hours=duration.business_hours, days=duration.business_days)
    return timedelta(seconds=duration.seconds)


# --- the steps -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PostUpdateStep:
    """Post a public update; ``status`` changes the incident's status (None keeps the status)."""

    kind: ClassVar[str] = "post_update"
    status: str | None = None
    template: str

    def to_json(self) -> dict[str, Any]:
        return _without_none({"status": self.status, "template": self.template})


@dataclass(frozen=True, slots=True, kw_only=True)
class NotifyStep:
    """Page every owner of a tier (and the tier's notify channels), or one named owner."""

    kind: ClassVar[str] = "notify"
    tier: int | None = None
    owner: str | None = None

    def __post_init__(self) -> None:
        if (self.tier is None) == (self.owner is None):
            raise ValueError("a notify step names either a tier or an owner, not both")

    def to_json(self) -> dict[str, Any]:
        return _without_none({"tier": self.tier, "owner": self.owner})


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitForAckStep:
    """Wait for an acknowledgement; without ``timeout``, the last paged tier's acknowledge_within."""

    kind: ClassVar[str] = "wait_for_ack"
    timeout: Duration | None = None

    def to_json(self) -> dict[str, Any]:
        return _without_none({"timeout": None if self.timeout is None else str(self.timeout)})


@dataclass(frozen=True, slots=True, kw_only=True)
class RepeatStep:
    """Go back to ``from_step`` at most ``times`` more times while nobody has acknowledged."""

    kind: ClassVar[str] = "repeat"
    times: int
    from_step: int

    def to_json(self) -> dict[str, Any]:
        return {"times": self.times, "from_step": self.from_step}


@dataclass(frozen=True, slots=True, kw_only=True)
class SetComponentStep:
    kind: ClassVar[str] = "set_component"
    component: str
    status: ComponentStatus

    def to_json(self) -> dict[str, Any]:
        return {"component": self.component, "status": self.status.value}


@dataclass(frozen=True, slots=True, kw_only=True)
class SlackStep:
    """A message to a Slack channel (None: the configured incidents channel)."""

    kind: ClassVar[str] = "slack"
    channel: str | None = None
    template: str

    def to_json(self) -> dict[str, Any]:
        return _without_none({"channel": self.channel, "template": self.template})


StepBody = PostUpdateStep | NotifyStep | WaitForAckStep | RepeatStep | SetComponentStep | SlackStep


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a playbook; in JSON, a mapping with exactly one key, the kind (``notify: {tier: 1}``)."""

    body: StepBody

    @property
    def kind(self) -> str:
        return self.body.kind

    def to_json(self) -> dict[str, Any]:
        return {self.kind: self.body.to_json()}

    @classmethod
    def from_json(cls, data: object, where: str = "step") -> Step:
        # `wait_for_ack` alone, or with no body, means "wait with the default timeout".
        if data == "wait_for_ack":
            data = {"wait_for_ack": {}}
        if not isinstance(data, Mapping) or len(data) != 1:
            raise ValueError(f"{where}: a step is a mapping with exactly one kind: {', '.join(KINDS)}")
        ((kind, body),) = data.items()
        if kind not in KINDS:
            raise ValueError(f"{where}: {kind!r} is not a step kind (known: {', '.join(KINDS)})")
        fields = _Fields({} if body is None else body, f"{where}.{kind}")
        if kind == "post_update":
            status = fields.optional_text("status")
            if status is not None and status not in UPDATE_STATUSES:
                raise ValueError(f"{where}.post_update.status: {status!r} is not one of {', '.join(UPDATE_STATUSES)}")
            step: StepBody = PostUpdateStep(status=status, template=fields.text("template"))
        elif kind == "notify":
            try:
                step = NotifyStep(tier=fields.optional_whole("tier"), owner=fields.optional_text("owner"))
            except ValueError as exc:
                raise ValueError(f"{where}.notify: {exc}") from None
        elif kind == "wait_for_ack":
            step = WaitForAckStep(timeout=fields.optional_duration("timeout"))
        elif kind == "repeat":
            step = RepeatStep(times=fields.whole("times"), from_step=fields.whole("from_step"))
        elif kind == "set_component":
            step = SetComponentStep(component=fields.text("component"), status=fields.component_status("status"))
        else:
            step = SlackStep(channel=fields.optional_text("channel"), template=fields.text("template"))
        fields.done()
        return cls(step)


# --- the playbook --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Playbook:
    """A validated playbook, with its reminder cadence resolved against the configuration.

    ``reminders`` maps each configured severity level to the cadence used when this playbook
    runs at that severity: ``remind_every`` when the file sets it (None for none), otherwise
    the severity's ``update_every``. It is resolved when the playbook is loaded so that the
    frozen JSON copy carries it and the machine never needs the configuration.
    """

    name: str
    description: str = ""
    severities: tuple[int, ...] = ()
    steps: tuple[Step, ...]
    remind_every: Duration | None = None
    on_resolve: tuple[Step, ...] = ()
    reminders: Mapping[int, Duration | None] = field(default_factory=dict)

    def remind_every_for(self, severity: int) -> Duration | None:
        """The reminder cadence at ``severity``, or None when there are no reminders."""
        if severity in self.reminders:
            return self.reminders[severity]
        return self.remind_every

    def to_json(self) -> dict[str, Any]:
        """A JSON-able copy, stored in ``EscalationRun.playbook`` when the playbook is attached."""
        return {
            "name": self.name,
            "description": self.description,
            "severities": list(self.severities),
            "steps": [step.to_json() for step in self.steps],
            "remind_every": None if self.remind_every is None else str(self.remind_every),
            "on_resolve": [step.to_json() for step in self.on_resolve],
            "reminders": {str(k): (None if v is None else str(v)) for k, v in sorted(self.reminders.items())},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Playbook:
        """Read back :meth:`to_json`. Raises ``ValueError`` for a copy that is not one."""
        fields = _Fields(data, "playbook")
        steps = fields.sequence("steps")
        if not steps:
            raise ValueError("playbook.steps: a playbook has at least one step")
        reminders: dict[int, Duration | None] = {}
        for key, value in _mapping(fields.get("reminders", {}), "playbook.reminders").items():
            level = _int(int(key) if isinstance(key, str) and key.isdigit() else key, f"playbook.reminders[{key!r}]")
            reminders[level] = None if value is None else _duration(value, f"playbook.reminders[{key!r}]")
        playbook = cls(
            name=fields.text("name"),
            description=fields.text("description", ""),
            severities=tuple(_int(level, "playbook.severities") for level in fields.sequence("severities")),
            steps=tuple(Step.from_json(step, f"steps[{index}]") for index, step in enumerate(steps)),
            remind_every=fields.optional_duration("remind_every"),
            on_resolve=tuple(
                Step.from_json(step, f"on_resolve[{index}]") for index, step in enumerate(fields.sequence("on_resolve"))
            ),
            reminders=reminders,
        )
        fields.done()
        return playbook


# --- reading JSON --------------------------------------------------------------------------


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _mapping(value: object, where: str) -> Mapping[object, object]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: should be a mapping, not {type(value).__name__}")
    return value


def _int(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where}: should be a whole number, not {value!r}")
    return value


def _text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where}: should be text, not {value!r}")
    return value


def _duration(value: object, where: str) -> Duration:
    if isinstance(value, Duration):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{where}: should be a duration like 4h, not {value!r}")
    try:
        return Duration.parse(value)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


class _Fields:
    """The fields of one JSON object, each taken once; :meth:`done` refuses any left over."""

    def __init__(self, data: object, where: str) -> None:
        self.data = _mapping(data, where)
        self.where = where
        self.taken: set[object] = set()

    def get(self, name: str, default: object = None) -> object:
        self.taken.add(name)
        return self.data.get(name, default)

    def text(self, name: str, default: str | None = None) -> str:
        return _text(self.get(name, default), f"{self.where}.{name}")

    def optional_text(self, name: str) -> str | None:
        value = self.get(name)
        return None if value is None else _text(value, f"{self.where}.{name}")

    def whole(self, name: str) -> int:
        return _int(self.get(name), f"{self.where}.{name}")

    def optional_whole(self, name: str) -> int | None:
        value = self.get(name)
        return None if value is None else _int(value, f"{self.where}.{name}")

    def optional_duration(self, name: str) -> Duration | None:
        value = self.get(name)
        return None if value is None else _duration(value, f"{self.where}.{name}")

    def component_status(self, name: str) -> ComponentStatus:
        value = self.text(name)
        try:
            return ComponentStatus(value)
        except ValueError:
            raise ValueError(f"{self.where}.{name}: {value!r} is not a component status") from None

    def sequence(self, name: str) -> tuple[object, ...]:
        value = self.get(name, ())
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{self.where}.{name}: should be a list, not {type(value).__name__}")
        return tuple(value)

    def done(self) -> None:
        extra = sorted(str(key) for key in self.data if key not in self.taken)
        if extra:
            raise ValueError(f"{self.where}: unknown fields {', '.join(extra)}")
