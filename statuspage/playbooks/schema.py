"""Playbooks: what happens, in order, when an incident of a given severity is declared.

A playbook is a small YAML file (``playbooks/sev1.yaml``) validated here, against the
configuration it will run with: a tier, an owner or a component it names must exist in
``statuspage.yaml``, because a typo found at three in the morning while paging is far more
expensive than one found by ``incident playbook validate``. Every problem is one line
``file:line:column: field.path: message``, like the configuration's own errors.

Two things are *frozen* when a playbook is attached to an incident and stored on its
``EscalationRun`` row: the playbook (:meth:`Playbook.to_json`) and the escalation matrix
(:func:`matrix_json`). Editing a file or the configuration later therefore never changes an
escalation already under way; the state machine in :mod:`statuspage.domain.escalation` only ever
reads these frozen copies.

Templates (``post_update``, ``slack``) are Jinja2 run in a sandbox with undefined names refused:
playbooks are configuration, not code, and a template must not reach Python internals
(``{{ ''.__class__ }}``) or silently print nothing for a misspelt field. They render plain text;
escaping for Slack or HTML is the job of whatever sends the text.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import AfterValidator, Field, StrictInt, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from statuspage.domain.durations import Duration
from statuspage.domain.enums import ComponentStatus
from statuspage.settings import Config, DurationField, Escalation, Slug, Strict
from statuspage.yamlsource import Loc, SourceError, YamlDocument, load_yaml, parse_yaml, yaml_kind

__all__ = [
    "KINDS",
    "ON_RESOLVE_KINDS",
    "Matrix",
    "MatrixContact",
    "MatrixOwner",
    "MatrixTier",
    "NotifyStep",
    "Playbook",
    "PlaybookError",
    "PlaybookFile",
    "PostUpdateStep",
    "RepeatStep",
    "SetComponentStep",
    "SlackStep",
    "Step",
    "TEMPLATE_NAMES",
    "WaitForAckStep",
    "check_playbook_set",
    "load_playbook_file",
    "load_playbook_files",
    "load_playbooks",
    "matrix_json",
    "parse_playbook",
    "playbook_for",
    "render_template",
    "wall_clock",
]

# The step kinds, in the order the documentation lists them.
KINDS = ("post_update", "notify", "wait_for_ack", "repeat", "set_component", "slack")
# After resolution nobody is paged any more: only these kinds make sense in on_resolve.
ON_RESOLVE_KINDS = ("post_update", "set_component", "slack")
# The names a template may use. Anything else is refused at validation time.
TEMPLATE_NAMES = frozenset({"incident", "playbook"})
MAX_TEMPLATE_OUTPUT = 20_000  # characters; a status update is a paragraph, not a book
MAX_REPEAT = 10
SLACK_CHANNEL = re.compile(r"^(#[a-z0-9][a-z0-9._-]{0,79}|[CGD][A-Z0-9]{6,})$")


class PlaybookError(SourceError):
    """One or more playbooks cannot be used; each line names file, line, column and field."""


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


# --- templates -----------------------------------------------------------------------------


class _Sandbox(SandboxedEnvironment):
    """The stock sandbox plus limits on ``*`` and ``**``, which it lets through unchecked
    (``{{ 'x' * 10**10 }}`` would otherwise exhaust memory while paging)."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**":
            if isinstance(right, int) and abs(right) > 100:
                raise SecurityError("exponent too large in a template")
            return operator.pow(left, right)
        for sized, count in ((left, right), (right, left)):
            if isinstance(sized, (str, list, tuple)) and isinstance(count, int):
                if len(sized) * count > MAX_TEMPLATE_OUTPUT:
                    raise SecurityError("a repeated string or list in a template would be too long")
        return operator.mul(left, right)


def _finalize(value: Any) -> Any:
    # ``{{ incident.commander }}`` with no commander prints nothing rather than "None".
    return "" if value is None else value


@lru_cache(maxsize=1)
def _environment() -> SandboxedEnvironment:
    return _Sandbox(undefined=StrictUndefined, autoescape=False, finalize=_finalize, keep_trailing_newline=False)


@lru_cache(maxsize=256)
def _compile(source: str) -> Any:
    return _environment().from_string(source)


def render_template(source: str, *, incident: Any, playbook: str) -> str:
    """Render a playbook template as plain text.

    Raises :class:`jinja2.TemplateError` (a :class:`jinja2.exceptions.SecurityError` for unsafe
    attribute access, an ``UndefinedError`` for an unknown field); validation renders every
    template once with a sample incident so that these surface before a playbook is used.
    """
    text = _compile(source).render(incident=incident, playbook=playbook)
    if len(text) > MAX_TEMPLATE_OUTPUT:
        raise SecurityError(f"the template renders {len(text)} characters, more than {MAX_TEMPLATE_OUTPUT}")
    return text


def _template_problem(source: str, sample: Any, playbook: str) -> str | None:
    """Why ``source`` cannot be used, or None."""
    try:
        parsed = _environment().parse(source)
    except TemplateSyntaxError as exc:
        return f"template syntax error on its line {exc.lineno}: {exc.message}"
    unknown = sorted(meta.find_undeclared_variables(parsed) - TEMPLATE_NAMES)
    if unknown:
        names = ", ".join(sorted(TEMPLATE_NAMES))
        return f"the template uses {', '.join(unknown)}; templates can use only: {names}"
    try:
        render_template(source, incident=sample, playbook=playbook)
    except TemplateError as exc:
        return f"the template cannot be rendered: {exc.message or type(exc).__name__}"
    return None


TemplateText = Annotated[str, Field(min_length=1, max_length=4000)]


# --- the steps -----------------------------------------------------------------------------


class PostUpdateStep(Strict):
    """Post a public update; ``status`` changes the incident's status (omit it to keep the status)."""

    status: Literal["investigating", "identified", "monitoring"] | None = None
    template: TemplateText


class NotifyStep(Strict):
    """Page every owner of a tier (and the tier's notify channels), or one named owner."""

    tier: StrictInt | None = Field(default=None, ge=1, le=9)
    owner: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one(self) -> NotifyStep:
        if (self.tier is None) == (self.owner is None):
            raise PydanticCustomError("notify", "name either a tier (tier: 1) or an owner (owner: Chen Wei), not both")
        return self


class WaitForAckStep(Strict):
    """Wait for an acknowledgement; without ``timeout``, the last paged tier's acknowledge_within."""

    timeout: WallDuration | None = None


class RepeatStep(Strict):
    """Go back to ``from_step`` at most ``times`` more times while nobody has acknowledged."""

    times: StrictInt = Field(ge=1, le=MAX_REPEAT)
    from_step: StrictInt = Field(ge=0)


class SetComponentStep(Strict):
    component: str = Field(min_length=1)
    status: ComponentStatus


class SlackStep(Strict):
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


StepBody = PostUpdateStep | NotifyStep | WaitForAckStep | RepeatStep | SetComponentStep | SlackStep


class Step(Strict):
    """One step: a mapping with exactly one key, the kind (``notify: {tier: 1}``)."""

    post_update: PostUpdateStep | None = None
    notify: NotifyStep | None = None
    wait_for_ack: WaitForAckStep | None = None
    repeat: RepeatStep | None = None
    set_component: SetComponentStep | None = None
    slack: SlackStep | None = None

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
    def _exactly_one(self) -> Step:
        given = [kind for kind in KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            raise PydanticCustomError("step", "a step names exactly one kind: " + ", ".join(KINDS))
        return self

    @property
    def kind(self) -> str:
        return next(kind for kind in KINDS if getattr(self, kind) is not None)

    @property
    def body(self) -> StepBody:
        return getattr(self, self.kind)  # type: ignore[no-any-return]

    def to_json(self) -> dict[str, Any]:
        return {self.kind: self.body.model_dump(mode="json", exclude_none=True)}


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
    steps: tuple[Step, ...] = Field(min_length=1)
    remind_every: WallDuration | None = None
    on_resolve: tuple[Step, ...] = ()

    @field_validator("severities", mode="before")
    @classmethod
    def _levels(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [_severity_level(item) for item in value]
        return value


class Playbook(PlaybookFile):
    """A validated playbook, with its reminder cadence resolved against the configuration.

    ``reminders`` maps each configured severity level to the cadence used when this playbook
    runs at that severity: ``remind_every`` when the file sets it (``null`` for none), otherwise
    the severity's ``update_every``. It is resolved at load time so that the frozen JSON copy
    carries it and the machine never needs the configuration.
    """

    reminders: dict[int, DurationField | None] = {}

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
        """Read back :meth:`to_json`. The copy was validated when it was frozen; it is not
        checked against today's configuration, on purpose."""
        return cls.model_validate(dict(data))


# --- the escalation matrix, frozen ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MatrixContact:
    kind: str  # slack_user, slack_channel, phone, email
    address: str


@dataclass(frozen=True, slots=True)
class MatrixOwner:
    name: str
    role: str
    contacts: tuple[MatrixContact, ...]


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
    def from_escalation(cls, escalation: Escalation) -> Matrix:
        tiers = []
        for tier in escalation.tiers:
            ack: dict[str, Duration] = {"default": tier.acknowledge_within.default}
            ack.update(tier.acknowledge_within.by_severity)
            owners = tuple(
                MatrixOwner(o.name, o.role, tuple(MatrixContact(c.method, c.address) for c in o.contacts))
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
                        {"name": o.name, "role": o.role, "contacts": [{c.kind: c.address} for c in o.contacts]}
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
                    MatrixOwner(str(o["name"]), str(o.get("role", "")), contacts(o["contacts"])) for o in t["owners"]
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


def matrix_json(escalation: Escalation) -> dict[str, Any]:
    """The escalation matrix as JSON, to freeze in ``EscalationRun.matrix``."""
    return Matrix.from_escalation(escalation).to_json()


# --- loading and checking ------------------------------------------------------------------


def load_playbook_file(path: Path, config: Config) -> Playbook:
    """Read one playbook file and check it against ``config``. Raises :class:`PlaybookError`."""
    playbook, _document = _load(path, config)
    return playbook


def load_playbooks(directory: Path, config: Config) -> dict[str, Playbook]:
    """Every ``*.yaml``/``*.yml`` playbook in ``directory``, by name, checked as a set.

    All files are read and every problem in every file is reported at once. As a set, names
    must be unique, no severity may be claimed by two playbooks, and a Sev-1 (when the
    configuration has one) must have a playbook: Sev-1 is exactly when nobody should have to
    remember to page people.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise PlaybookError([f"{directory}: no such directory of playbooks"])
    paths = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml"))
    loaded, lines = load_playbook_files(paths, config)
    lines += check_playbook_set(loaded, config, require=(1,) if config.severity(1) else (), where=str(directory))
    if lines:
        raise PlaybookError(lines)
    return {playbook.name: playbook for playbook, _ in loaded}


def playbook_for(severity: int, playbooks: Mapping[str, Playbook]) -> Playbook | None:
    """The playbook chosen automatically for ``severity``, or None when no playbook claims it."""
    for name in sorted(playbooks):
        if severity in playbooks[name].severities:
            return playbooks[name]
    return None


def load_playbook_files(
    paths: Sequence[Path], config: Config
) -> tuple[list[tuple[Playbook, YamlDocument]], list[str]]:
    """Read several files, each checked on its own: what loaded (with its document, for
    positions), and every problem line of the files that did not."""
    loaded: list[tuple[Playbook, YamlDocument]] = []
    lines: list[str] = []
    for path in paths:
        try:
            loaded.append(_load(path, config))
        except SourceError as exc:
            lines += exc.lines
    return loaded, lines


def check_playbook_set(
    loaded: Sequence[tuple[Playbook, YamlDocument]],
    config: Config,
    *,
    require: Sequence[int] = (),
    where: str = "playbooks",
) -> list[str]:
    """Problems between playbooks: a name or a severity used twice, a required severity with none."""
    lines: list[str] = []
    names: dict[str, str] = {}
    claimed: dict[int, str] = {}
    for playbook, document in loaded:
        if playbook.name in names:
            lines.append(document.error(("name",), f'"{playbook.name}" is also the name of {names[playbook.name]}'))
        else:
            names[playbook.name] = document.display_name
        for index, level in enumerate(playbook.severities):
            if level in claimed:
                lines.append(
                    document.error(("severities", index), f"severity {level} is already chosen by playbook {claimed[level]}")
                )
            else:
                claimed[level] = playbook.name
    for level in require:
        if level not in claimed:
            lines.append(f"{where}: no playbook is chosen for severity {level}: add {level} to one playbook's severities")
    return lines


def parse_playbook(text: str, config: Config, path: Path = Path("<playbook>")) -> Playbook:
    """A playbook from YAML text (``path`` only names it in errors). Raises :class:`PlaybookError`."""
    try:
        document = parse_yaml(text, path)
    except SourceError as exc:
        raise PlaybookError(exc.lines) from None
    return _check(document, config)


def _load(path: Path, config: Config) -> tuple[Playbook, YamlDocument]:
    try:
        document = load_yaml(path)
    except SourceError as exc:
        # load_yaml's missing-file hint speaks of the configuration; say it for a playbook.
        raise PlaybookError([line.replace(" (give --config FILE or set STATUSPAGE_CONFIG)", "") for line in exc.lines]) from None
    return _check(document, config), document


def _check(document: YamlDocument, config: Config) -> Playbook:
    if not isinstance(document.data, dict):
        raise PlaybookError([document.error((), "a playbook is a mapping with name, severities and steps")])
    try:
        source = PlaybookFile.model_validate(document.data)
    except ValidationError as exc:
        raise PlaybookError(_error_lines(document, exc)) from None
    problems = cross_check(source, config)
    if problems:
        raise PlaybookError([document.error(loc, message) for loc, message in problems])
    return _resolve(source, config)


def _resolve(source: PlaybookFile, config: Config) -> Playbook:
    explicit = "remind_every" in source.model_fields_set
    reminders: dict[int, Duration | None] = {}
    for level in config.severity_levels:
        severity = config.severity(level)
        reminders[level] = source.remind_every if explicit else (severity.update_every if severity else None)
    return Playbook.model_validate({**dict(source), "reminders": reminders})


def cross_check(playbook: PlaybookFile, config: Config) -> list[tuple[Loc, str]]:
    """What the schema alone cannot see: references to the configuration, and step order."""
    problems: list[tuple[Loc, str]] = []
    levels = config.severity_levels
    seen: set[int] = set()
    for index, level in enumerate(playbook.severities):
        if level not in levels:
            problems.append((("severities", index), f"no severity sev{level} is defined (known: {_join(levels)})"))
        elif level in seen:
            problems.append((("severities", index), f"severity {level} is listed twice"))
        seen.add(level)
    covered = [level for level in playbook.severities if level in levels]
    sample_severity = covered[0] if covered else (levels[0] if levels else 1)
    sample = _sample_incident(config, sample_severity)
    tiers = sorted(t.level for t in config.escalation.tiers)
    owners = {o.name: t.level for t in sorted(config.escalation.tiers, key=lambda t: t.level) for o in t.owners}
    components = [c.id for c in config.components]

    last_tier: int | None = None
    paged = False  # a notify came before, even one naming an unknown tier (reported once, not again at its wait)
    for index, step in enumerate(playbook.steps):
        loc: Loc = ("steps", index, step.kind)
        body = step.body
        if isinstance(body, NotifyStep):
            paged = True
            if body.tier is not None:
                if body.tier not in tiers:
                    problems.append((loc + ("tier",), f"no escalation tier {body.tier} (known: {_join(tiers)})"))
                else:
                    last_tier = body.tier
            elif body.owner is not None:
                if body.owner not in owners:
                    known = ", ".join(owners)
                    problems.append((loc + ("owner",), f'no owner "{body.owner}" in the escalation matrix (known: {known})'))
                else:
                    last_tier = owners[body.owner]
        elif isinstance(body, WaitForAckStep) and body.timeout is None:
            if not paged:
                problems.append(
                    (loc, "has no timeout and nobody was paged before it; give a timeout like 15m or notify a tier first")
                )
            elif last_tier is not None:
                tier = config.escalation.tier(last_tier)
                for level in covered:
                    ack = tier.acknowledge_within.for_severity(f"sev{level}") if tier else None
                    if ack is not None and ack.is_business:
                        problems.append(
                            (
                                loc,
                                f"defaults to tier {last_tier}'s acknowledge_within for sev{level}, {ack}, which counts "
                                "business time; give a wall-clock timeout like 4h",
                            )
                        )
        elif isinstance(body, RepeatStep):
            problems += _check_repeat(playbook.steps, index, body)
        elif isinstance(body, SetComponentStep) and body.component not in components:
            problems.append((loc + ("component",), f'no component "{body.component}" (known: {", ".join(components)})'))
        problems += _check_template(body, loc, sample, playbook.name)

    for index, step in enumerate(playbook.on_resolve):
        loc = ("on_resolve", index, step.kind)
        body = step.body
        if step.kind not in ON_RESOLVE_KINDS:
            problems.append(
                (loc, "on_resolve runs once the incident is resolved; only post_update, set_component and slack fit here")
            )
            continue
        if isinstance(body, PostUpdateStep) and body.status is not None:
            problems.append((loc + ("status",), "the incident is resolved by then; leave status out"))
        if isinstance(body, SetComponentStep) and body.component not in components:
            problems.append((loc + ("component",), f'no component "{body.component}" (known: {", ".join(components)})'))
        problems += _check_template(body, loc, sample, playbook.name)

    if "remind_every" not in playbook.model_fields_set:
        for index, level in enumerate(playbook.severities):
            severity = config.severity(level)
            every = severity.update_every if severity else None
            if every is not None and every.is_business:
                problems.append(
                    (
                        ("severities", index),
                        f"reminders default to sev{level}'s update_every, {every}, which counts business time; "
                        "set remind_every like 24h (or null for none)",
                    )
                )
    return problems


def _check_repeat(steps: Sequence[Step], index: int, body: RepeatStep) -> list[tuple[Loc, str]]:
    loc: Loc = ("steps", index, "repeat", "from_step")
    if body.from_step >= index:
        earlier = f"0 to {index - 1}" if index else "none: a repeat cannot come first"
        return [(loc, f"{body.from_step} is not an earlier step (steps are counted from 0; earlier: {earlier})")]
    kinds = {step.kind for step in steps[body.from_step : index]}
    if "notify" not in kinds:
        return [(loc, f"steps[{body.from_step}] to steps[{index - 1}] page nobody; there is nothing to repeat")]
    if "wait_for_ack" not in kinds:
        return [(loc, f"steps[{body.from_step}] to steps[{index - 1}] have no wait_for_ack; the repeat would page again at once")]
    return []


def _check_template(body: StepBody, loc: Loc, sample: Any, playbook: str) -> list[tuple[Loc, str]]:
    if isinstance(body, (PostUpdateStep, SlackStep)):
        problem = _template_problem(body.template, sample, playbook)
        if problem:
            return [(loc + ("template",), problem)]
    return []


def _sample_incident(config: Config, severity: int) -> Any:
    from statuspage.domain.escalation import IncidentView

    return IncidentView(
        id=1,
        title="Checkout failing",
        severity=severity,
        status="investigating",
        commander="Ana Ruiz",
        url=config.incident_url(1),
    )


def _join(values: Sequence[int]) -> str:
    return ", ".join(str(v) for v in values) or "none"


# --- one-line errors -----------------------------------------------------------------------


def _error_lines(document: YamlDocument, error: ValidationError) -> list[str]:
    lines: list[tuple[tuple[int, int], str]] = []
    for item in error.errors():
        loc = tuple(part for part in item["loc"] if not (isinstance(part, str) and part.startswith("function-")))
        kind, message = item["type"], item["msg"]
        value = item.get("input")
        if kind == "missing":
            message = "is required"
        elif kind == "extra_forbidden":
            if len(loc) == 3 and loc[0] in ("steps", "on_resolve"):
                message = f"is not a step kind (known: {', '.join(KINDS)})"
            else:
                message = "is not a known field"
        elif kind in {"literal_error", "enum"}:
            message = f"{json.dumps(value, default=str)} is not one of: {message.removeprefix('Input should be ')}"
        elif kind == "too_short":
            message = "needs at least one entry"
        elif kind in {"model_type", "dict_type", "model_attributes_type"}:
            message = f"should be a mapping of fields, not {yaml_kind(value)}"
        elif kind in {"tuple_type", "list_type"}:
            message = f"should be a list, not {yaml_kind(value)}"
        elif kind in {"int_type", "int_parsing"}:
            message = f"should be a whole number, not {yaml_kind(value)}"
        elif kind in {"string_type"}:
            message = f"should be text, not {yaml_kind(value)}"
        elif kind == "greater_than_equal":
            message = f"{json.dumps(value, default=str)} is less than the minimum, {item.get('ctx', {}).get('ge')}"
        elif kind == "less_than_equal":
            message = f"{json.dumps(value, default=str)} is more than the maximum, {item.get('ctx', {}).get('le')}"
        lines.append((document.position(loc), document.error(loc, message)))
    # In file order, as an editor would list them, not in the order of the model's fields.
    return [line for _, line in sorted(lines, key=lambda pair: pair[0])]


