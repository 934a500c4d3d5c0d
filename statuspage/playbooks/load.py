"""Loading playbooks: YAML files read, validated against the configuration they will run with,
and every problem reported as one line ``file:line:column: field.path: message``.

A playbook is a small YAML file (``playbooks/sev1.yaml``) validated here, against the
configuration it will run with: a tier, an owner or a component it names must exist in
``statuspage.yaml``, because a typo found at three in the morning while paging is far more
expensive than one found by ``incident playbook validate``. Every problem is one line
``file:line:column: field.path: message``, like the configuration's own errors.

What loads is the domain's :class:`~statuspage.domain.playbook.Playbook`, its reminder cadence
resolved against the configuration. Two things are *frozen* when a playbook is attached to an
incident and stored on its ``EscalationRun`` row: the playbook (:meth:`Playbook.to_json`) and
the escalation matrix (:func:`~statuspage.domain.matrix.matrix_json`). Editing a file or the
configuration later therefore never changes an escalation already under way; the state machine
in :mod:`statuspage.domain.escalation` only ever reads these frozen copies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from statuspage import pydantic_errors
from statuspage.domain.durations import Duration
from statuspage.domain.escalation import IncidentView
from statuspage.domain.playbook import KINDS, ON_RESOLVE_KINDS, Playbook
from statuspage.playbooks.render import template_problem
from statuspage.playbooks.schema import (
    NotifySpec,
    PlaybookFile,
    PostUpdateSpec,
    RepeatSpec,
    SetComponentSpec,
    SlackSpec,
    SpecBody,
    StepSpec,
    WaitForAckSpec,
)
from statuspage.settings import Config
from statuspage.yamlsource import Loc, SourceError, YamlDocument, load_yaml, parse_yaml

__all__ = [
    "PlaybookError",
    "check_playbook_set",
    "cross_check",
    "load_playbook_file",
    "load_playbook_files",
    "load_playbooks",
    "parse_playbook",
    "playbook_for",
]


class PlaybookError(SourceError):
    """One or more playbooks cannot be used; each line names file, line, column and field."""


# --- loading -------------------------------------------------------------------------------


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
        found = _schema_problems(exc) + _references_despite(document.data, exc, config)
        raise PlaybookError(_in_file_order(document, found)) from None
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
    return source.to_domain(reminders)


# --- checking against the configuration ----------------------------------------------------


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
        if isinstance(body, NotifySpec):
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
        elif isinstance(body, WaitForAckSpec) and body.timeout is None:
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
        elif isinstance(body, RepeatSpec):
            problems += _check_repeat(playbook.steps, index, body)
        elif isinstance(body, SetComponentSpec) and body.component not in components:
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
        if isinstance(body, PostUpdateSpec) and body.status is not None:
            problems.append((loc + ("status",), "the incident is resolved by then; leave status out"))
        if isinstance(body, SetComponentSpec) and body.component not in components:
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


def _check_repeat(steps: Sequence[StepSpec], index: int, body: RepeatSpec) -> list[tuple[Loc, str]]:
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


def _check_template(body: SpecBody, loc: Loc, sample: Any, playbook: str) -> list[tuple[Loc, str]]:
    if isinstance(body, (PostUpdateSpec, SlackSpec)):
        problem = template_problem(body.template, sample, playbook)
        if problem:
            return [(loc + ("template",), problem)]
    return []


def _sample_incident(config: Config, severity: int) -> IncidentView:
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


def _schema_problems(error: ValidationError) -> list[tuple[Loc, str]]:
    def step_kind(loc: Loc, item: ErrorDetails) -> str | None:
        if item["type"] == "extra_forbidden" and len(loc) == 3 and loc[0] in ("steps", "on_resolve"):
            return f"is not a step kind (known: {', '.join(KINDS)})"
        return None

    return pydantic_errors.problems(error, pydantic_errors.YAML, override=step_kind)


def _in_file_order(document: YamlDocument, found: list[tuple[Loc, str]]) -> list[str]:
    """As an editor would list them, not in the order of the model's fields."""
    lines = sorted(((document.position(loc), document.error(loc, message)) for loc, message in found), key=lambda pair: pair[0])
    return [line for _, line in lines]


# What a reference check reports on: a tier, an owner, a component, a severity, a template.
_REFERENCE_FIELDS = frozenset({"tier", "owner", "component", "template"})
# A step that cannot be read stands in as this one, so that the others keep their indices.
_PLACEHOLDER_STEP = {"slack": {"template": "-"}}


def _references_despite(data: dict[str, Any], error: ValidationError, config: Config) -> list[tuple[Loc, str]]:
    """The reference problems (an unknown tier, owner, component or severity, a broken template) of
    the parts that did read, so that one run reports them beside the schema's. Unreadable steps
    and fields are set aside; checks of step order are left for the next run, as they could be
    about a step that was set aside."""
    broken: set[Loc] = set()
    for item in error.errors():
        loc = tuple(item["loc"])
        broken.add(loc[:2] if loc and loc[0] in ("steps", "on_resolve") and len(loc) > 1 else loc[:1])
    patched = dict(data)
    for key in ("steps", "on_resolve"):
        if isinstance(patched.get(key), list):
            patched[key] = [_PLACEHOLDER_STEP if (key, i) in broken else step for i, step in enumerate(patched[key])]
    for loc in broken:
        if len(loc) == 1 and loc[0] not in ("steps", "on_resolve"):
            patched.pop(str(loc[0]), None)
    patched.setdefault("name", "unreadable")
    try:
        readable = PlaybookFile.model_validate(patched)
    except ValidationError:
        return []
    return [
        (loc, message)
        for loc, message in cross_check(readable, config)
        if loc[:2] not in broken
        and (loc[0] == "severities" or (len(loc) > 3 and loc[3] in _REFERENCE_FIELDS))
    ]
