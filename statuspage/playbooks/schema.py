"""The playbook schema: a playbook exactly as written in its YAML file, validated field by field.

These pydantic models are the edge of playbooks: they turn what an operator wrote into the
domain's frozen values (:mod:`statuspage.domain.playbook`) with :meth:`PlaybookFile.to_domain`,
and give each mistake a message that :mod:`statuspage.playbooks.load` turns into one line
``file:line:column: field.path: message``. What the schema alone cannot see (references to the
configuration, step order, templates that do not render) is checked there too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StrictInt, field_validator, model_validator
from pydantic_core import PydanticCustomError

from statuspage.domain.durations import Duration
from statuspage.domain.enums import ComponentStatus
from statuspage.domain.playbook import (
    KINDS,
    NotifyStep,
    Playbook,
    PostUpdateStep,
    RepeatStep,
    SetComponentStep,
    SlackStep,
    Step,
    WaitForAckStep,
)
from statuspage.settings import DurationField, Slug, Strict

__all__ = [
    "MAX_REPEAT",
    "SLACK_CHANNEL",
    "NotifySpec",
    "PlaybookFile",
    "PlaybookSpec",
    "PostUpdateSpec",
    "RepeatSpec",
    "SetComponentSpec",
    "SlackSpec",
    "SpecBody",
    "StepSpec",
    "WaitForAckSpec",
    "WallDuration",
    "playbook_from_data",
]

MAX_REPEAT = 10
SLACK_CHANNEL = re.compile(r"^(#[a-z0-9][a-z0-9._-]{0,79}|[CGD][A-Z0-9]{6,})$")


# --- durations -----------------------------------------------------------------------------


def _wall_clock_only(value: Duration) -> Duration:
    # The state machine is pure and has no business calendar; a wait written in business time
    # would silently become something else, so it is refused where the operator wrote it.
    if value.is_business:
        raise PydanticCustomError(
            "duration",
            "{value} counts business time; playbook waits are wall-clock, write it like 4h",
            {"value": json.dumps(str(value))},
        )
    return value


WallDuration = Annotated[DurationField, AfterValidator(_wall_clock_only)]


# --- the steps -----------------------------------------------------------------------------

TemplateText = Annotated[str, Field(min_length=1, max_length=4000)]


class PostUpdateSpec(Strict):
    """Post a public update; ``status`` changes the incident's status (omit it to keep the status)."""

    status: Literal["investigating", "identified", "monitoring"] | None = None
    template: TemplateText

    def to_domain(self) -> PostUpdateStep:
        return PostUpdateStep(status=self.status, template=self.template)


class NotifySpec(Strict):
    """Page every owner of a tier (and the tier's notify channels), or one named owner."""

    tier: StrictInt | None = Field(default=None, ge=1, le=9)
    owner: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one(self) -> NotifySpec:
        if (self.tier is None) == (self.owner is None):
            raise PydanticCustomError("notify", "name either a tier (tier: 1) or an owner (owner: Chen Wei), not both")
        return self

    def to_domain(self) -> NotifyStep:
        return NotifyStep(tier=self.tier, owner=self.owner)


class WaitForAckSpec(Strict):
    """Wait for an acknowledgement; without ``timeout``, the last paged tier's acknowledge_within."""

    timeout: WallDuration | None = None

    def to_domain(self) -> WaitForAckStep:
        return WaitForAckStep(timeout=self.timeout)


class RepeatSpec(Strict):
    """Go back to ``from_step`` at most ``times`` more times while nobody has acknowledged."""

    times: StrictInt = Field(ge=1, le=MAX_REPEAT)
    from_step: StrictInt = Field(ge=0)

    def to_domain(self) -> RepeatStep:
        return RepeatStep(times=self.times, from_step=self.from_step)


class SetComponentSpec(Strict):
    component: str = Field(min_length=1)
    status: ComponentStatus

    def to_domain(self) -> SetComponentStep:
        return SetComponentStep(component=self.component, status=self.status)


class SlackSpec(Strict):
    """A message to a Slack channel (default: the configured incidents channel)."""

    channel: str | None = None
    template: TemplateText

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        if value is not None and not SLACK_CHANNEL.match(value):
            raise PydanticCustomError(
                "channel", "{value} is not a Slack channel like #exec (or an id like C0123ABCD)", {"value": json.dumps(value)}
            )
        return value

    def to_domain(self) -> SlackStep:
        return SlackStep(channel=self.channel, template=self.template)


SpecBody = PostUpdateSpec | NotifySpec | WaitForAckSpec | RepeatSpec | SetComponentSpec | SlackSpec


class StepSpec(Strict):
    """One step: a mapping with exactly one key, the kind (``notify: {tier: 1}``)."""

    post_update: PostUpdateSpec | None = None
    notify: NotifySpec | None = None
    wait_for_ack: WaitForAckSpec | None = None
    repeat: RepeatSpec | None = None
    set_component: SetComponentSpec | None = None
    slack: SlackSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # `- wait_for_ack` and `- wait_for_ack:` (no body) both mean "wait with the default timeout".
        if value == "wait_for_ack":
            return {"wait_for_ack": {}}
        if isinstance(value, str) and value in KINDS:
            raise PydanticCustomError("step", "{kind} needs its fields, like `{kind}: {...}`", {"kind": value})
        if isinstance(value, Mapping):
            return {key: ({} if body is None and key in KINDS else body) for key, body in value.items()}
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> StepSpec:
        given = [kind for kind in KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            raise PydanticCustomError("step", "a step names exactly one kind: " + ", ".join(KINDS))
        return self

    @property
    def kind(self) -> str:
        return next(kind for kind in KINDS if getattr(self, kind) is not None)

    @property
    def body(self) -> SpecBody:
        return getattr(self, self.kind)  # type: ignore[no-any-return]

    def to_domain(self) -> Step:
        return Step(self.body.to_domain())


def _severity_level(value: Any) -> Any:
    # `sev1` and `1` both mean severity 1; anything else is left for the int check to refuse.
    if isinstance(value, str) and re.fullmatch(r"sev[1-9]", value.strip()):
        return int(value.strip()[3:])
    return value


SeverityLevel = Annotated[StrictInt, Field(ge=1, le=9)]


class PlaybookFile(Strict):
    """A playbook exactly as written in its YAML file."""

    name: Slug
    description: str = ""
    severities: tuple[SeverityLevel, ...] = ()
    steps: tuple[StepSpec, ...] = Field(min_length=1)
    remind_every: WallDuration | None = None
    on_resolve: tuple[StepSpec, ...] = ()

    @field_validator("severities", mode="before")
    @classmethod
    def _levels(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [_severity_level(item) for item in value]
        return value

    def to_domain(self, reminders: Mapping[int, Duration | None]) -> Playbook:
        """The playbook the machine runs, with its reminder cadence per severity resolved
        (see :class:`statuspage.domain.playbook.Playbook`)."""
        return Playbook(
            name=self.name,
            description=self.description,
            severities=self.severities,
            steps=tuple(step.to_domain() for step in self.steps),
            remind_every=self.remind_every,
            on_resolve=tuple(step.to_domain() for step in self.on_resolve),
            reminders=dict(reminders),
        )


class PlaybookSpec(PlaybookFile):
    """A whole playbook given as data, reminders included (the built-in playbook is made so)."""

    reminders: dict[int, DurationField | None] = {}


def playbook_from_data(data: Mapping[str, Any]) -> Playbook:
    """A playbook from data shaped like :meth:`Playbook.to_json`, validated by the schema (its
    references to the configuration are not checked). Raises ``pydantic.ValidationError``."""
    spec = PlaybookSpec.model_validate(dict(data))
    return spec.to_domain(spec.reminders)
