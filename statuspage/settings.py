"""The one configuration file, ``statuspage.yaml``, read and validated in one place.

The path comes from ``--config`` or ``STATUSPAGE_CONFIG`` (default: ``statuspage.yaml`` in the
working directory). ``DATABASE_URL`` overrides the database, ``STATUSPAGE_SMTP_URL`` the mail
server (``email.smtp_url``); ``STATUSPAGE_SECRET_KEY`` signs the one-click acknowledgement links
(without it, a key generated once is kept in the database). Every problem is reported as one line
``file:line:column: field.path: what is wrong`` (or ``VARIABLE: what is wrong``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from pydantic import (
    ValidationError,
)

from statuspage import pydantic_errors
from statuspage.config import (  # noqa: F401 - the schema's names, read from here by the rest of the product
    SEVERITY_KEY,
    SLUG,
    WEEKDAYS,
    AckWithin,
    BusinessHours,
    ChannelTarget,
    Component,
    ComponentGroup,
    Config,
    ConfigError,
    Contact,
    DatabaseConfig,
    DurationField,
    EmailConfig,
    Escalation,
    EscalationTier,
    HolidayCalendar,
    Owner,
    PageConfig,
    Price,
    RetentionConfig,
    Severity,
    SlackConfig,
    SlaCredits,
    Slug,
    Strict,
    SupportTier,
)
from statuspage.domain.sla import TARGET_EVENTS
from statuspage.yamlsource import Loc, SourceError, YamlDocument, load_yaml

DEFAULT_CONFIG_NAME = "statuspage.yaml"
PACKAGE_DIR = Path(__file__).resolve().parent
def cross_check(config: Config) -> list[tuple[Loc, str]]:
    """What pydantic cannot see field by field: references between sections, unique ids."""
    problems: list[tuple[Loc, str]] = []
    for key in config.severities:
        if not SEVERITY_KEY.match(key):
            problems.append((("severities", key), f"{json.dumps(key)} is not a severity name like sev1"))
    group_ids: set[str] = set()
    for index, group in enumerate(config.component_groups):
        if group.id in group_ids:
            problems.append((("component_groups", index, "id"), f"{json.dumps(group.id)} is used twice"))
        group_ids.add(group.id)
    component_ids: set[str] = set()
    for index, component in enumerate(config.components):
        if component.id in component_ids or component.id in group_ids:
            problems.append((("components", index, "id"), f"{json.dumps(component.id)} is used twice"))
        component_ids.add(component.id)
        if component.group is not None and component.group not in group_ids:
            known = ", ".join(sorted(group_ids)) or "none defined"
            problems.append(
                (("components", index, "group"), f"no component group {json.dumps(component.group)} (known: {known})")
            )
    tier_ids: set[str] = set()
    for index, tier in enumerate(config.support_tiers):
        if tier.id in tier_ids:
            problems.append((("support_tiers", index, "id"), f"{json.dumps(tier.id)} is used twice"))
        tier_ids.add(tier.id)
        for key in tier.response_targets:
            if key not in config.severities:
                problems.append(
                    (("support_tiers", index, "response_targets", key), f"no severity {json.dumps(key)} is defined")
                )
    levels: set[int] = set()
    for index, escalation_tier in enumerate(config.escalation.tiers):
        if escalation_tier.level in levels:
            problems.append((("escalation", "tiers", index, "level"), f"level {escalation_tier.level} is used twice"))
        levels.add(escalation_tier.level)
        for key in escalation_tier.acknowledge_within.by_severity:
            if key not in config.severities:
                problems.append(
                    (("escalation", "tiers", index, "acknowledge_within", key), f"no severity {json.dumps(key)} is defined")
                )
        for owner_index, owner in enumerate(escalation_tier.owners):
            problems += _notify_rule_problems(owner, ("escalation", "tiers", index, "owners", owner_index, "notify"))
    return problems + _alert_rule_problems(config)


def _notify_rule_problems(owner: Owner, where: Loc) -> list[tuple[Loc, str]]:
    """An owner's notification rules: each names a contact kind the owner has, once, and each
    waits longer than the one before."""
    problems: list[tuple[Loc, str]] = []
    kinds = [c.method for c in owner.contacts]
    seen: dict[str, int] = {}
    for index, rule in enumerate(owner.notify or ()):
        if rule.contact not in kinds:
            has = ", ".join(dict.fromkeys(kinds))
            problems.append(((*where, index, "contact"), f"{owner.name} has no {rule.contact} contact (has: {has})"))
        elif rule.contact in seen:
            problems.append(((*where, index, "contact"), f"{rule.contact} already has a rule (notify[{seen[rule.contact]}])"))
        seen.setdefault(rule.contact, index)
        if index and rule.after.seconds <= (previous := (owner.notify or ())[index - 1].after).seconds:
            problems.append(
                ((*where, index, "after"), f"{rule.after} does not come after the rule before it ({previous}); delays must increase")
            )
    return problems


@dataclass(frozen=True)
class Settings:
    """The validated configuration plus where things live on disk and which database to use."""

    config: Config
    config_path: Path
    database_url: str
    # The SMTP server for email pages (STATUSPAGE_SMTP_URL, else email.smtp_url); None: .eml files.
    smtp_url: str | None = None
    # STATUSPAGE_SECRET_KEY: the key of the one-click acknowledgement links, when not the database's.
    secret_key: str | None = field(default=None, repr=False)
    # Signs the POSTs to webhook contacts (STATUSPAGE_PAGE_WEBHOOK_SECRET, else escalation.webhook_secret).
    page_webhook_secret: str | None = field(default=None, repr=False)
    # Customer webhook URLs may resolve to private addresses (STATUSPAGE_ALLOW_PRIVATE_WEBHOOKS=1,
    # else subscriptions.allow_private_webhooks): for tests and intranets only.
    allow_private_webhooks: bool = False

    @cached_property
    def data_dir(self) -> Path:
        return self.config_path.parent / "var"

    @property
    def mail_dir(self) -> Path:
        """Where email pages are written as ``.eml`` files when no SMTP server is configured."""
        return self.data_dir / "mail"

    @property
    def templates_dir(self) -> Path:
        return resource_dir("templates")

    @property
    def static_dir(self) -> Path:
        return resource_dir("static")

    @property
    def playbooks_dir(self) -> Path:
        beside = (self.config_path.parent / self.config.playbooks).resolve()
        return beside if beside.is_dir() else resource_dir("playbooks")

    def incident_url(self, incident_id: int | str) -> str:
        return self.config.incident_url(incident_id)


def resource_dir(name: str) -> Path:
    """Templates, static files and playbooks: inside an installed wheel, or beside the package."""
    for candidate in (PACKAGE_DIR / "_share" / name, PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    return PACKAGE_DIR.parent / name


def config_path_from(explicit: str | os.PathLike[str] | None, env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    chosen = explicit or env.get("STATUSPAGE_CONFIG") or DEFAULT_CONFIG_NAME
    return Path(chosen).expanduser()


def parse_config(document: YamlDocument) -> Config:
    if not isinstance(document.data, dict):
        raise ConfigError([document.error((), "the file must hold a mapping of sections (page, severities, ...)")])
    try:
        config = Config.model_validate(document.data)
    except ValidationError as exc:
        raise ConfigError(
            [document.error(loc, message) for loc, message in pydantic_errors.problems(exc, pydantic_errors.YAML, wrappers={"by_severity"})]
        ) from None
    problems = cross_check(config)
    lines = [document.error(loc, message) for loc, message in problems]
    for loc, shown, message in commitment_problems(config, document):
        line, column = document.position(loc)
        lines.append(f"{document.display_name}:{line}:{column}: {shown}: {message}")
    if lines:
        raise ConfigError(lines)
    return config


def commitment_problems(config: Config, document: YamlDocument | None = None) -> list[tuple[Loc, str, str]]:
    """Targets whose order contradicts the severities' (see statuspage.domain.commitments): in
    each support tier, and for each target of the severities, a more severe level due later than
    a less severe one. Each problem is (where in the file, the field as shown, the message);
    with the ``document``, durations are quoted as written there."""
    from statuspage.domain.businesstime import BusinessCalendar
    from statuspage.domain.commitments import Commitment, inversions, levels

    def written(*loc: str | int) -> str:
        value: object = document.data if document is not None else None
        for part in loc:
            if isinstance(value, dict):
                value = value.get(part)
            elif isinstance(value, list) and isinstance(part, int) and part < len(value):
                value = value[part]
            else:
                return ""
        return value.strip() if isinstance(value, str) else ""

    try:
        calendar = BusinessCalendar.from_config(config.business_hours, config.page.time_zone)
    except ValueError:  # reported field by field already
        return []
    level_of = levels(list(config.severities))
    problems: list[tuple[Loc, str, str]] = []
    for index, tier in enumerate(config.support_tiers):
        tier_targets = [
            Commitment(level_of[key], key, duration, tier.coverage, written("support_tiers", index, "response_targets", key))
            for key, duration in tier.response_targets.items()
            if key in level_of
        ]
        for found in inversions(tier_targets, calendar):
            problems.append(
                (
                    ("support_tiers", index, "response_targets", found.severe.key),
                    f"support_tiers[{tier.id}].response_targets",
                    found.describe(calendar),
                )
            )
    for target in TARGET_EVENTS:
        severity_targets = [
            Commitment(level_of[key], key, duration, severity.clock, written("severities", key, target))
            for key, severity in config.severities.items()
            if key in level_of and (duration := getattr(severity, target)) is not None
        ]
        for found in inversions(severity_targets, calendar):
            problems.append(
                (("severities", found.severe.key, target), f"severities.{found.severe.key}.{target}", found.describe(calendar))
            )
    return problems


def load_settings(
    config_path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    env = os.environ if env is None else env
    path = config_path_from(config_path, env)
    try:
        document = load_yaml(path)
    except SourceError as exc:
        raise ConfigError(exc.lines) from None
    config = parse_config(document)
    database_url = env.get("DATABASE_URL") or config.database.url or default_database_url(path.absolute())
    return Settings(
        config=config,
        config_path=path.absolute(),
        database_url=database_url,
        smtp_url=smtp_url_from(env, config),
        secret_key=secret_key_from(env),
        page_webhook_secret=page_webhook_secret_from(env, config),
        allow_private_webhooks=allow_private_from(env, config),
    )


SMTP_URL_ENV = "STATUSPAGE_SMTP_URL"
SECRET_KEY_ENV = "STATUSPAGE_SECRET_KEY"
PAGE_WEBHOOK_SECRET_ENV = "STATUSPAGE_PAGE_WEBHOOK_SECRET"
ALLOW_PRIVATE_ENV = "STATUSPAGE_ALLOW_PRIVATE_WEBHOOKS"
MIN_SECRET_KEY = 16


def smtp_url_from(env: Mapping[str, str], config: Config) -> str | None:
    """``STATUSPAGE_SMTP_URL`` when set, else the configuration's ``email.smtp_url``; checked."""
    from statuspage.smtp_url import SmtpUrlError, parse_smtp_url

    given = env.get(SMTP_URL_ENV, "").strip()
    if not given:
        return config.email.smtp_url
    try:
        parse_smtp_url(given)
    except SmtpUrlError as exc:
        raise ConfigError([f"{SMTP_URL_ENV}: {exc}"]) from None
    return given


def secret_key_from(env: Mapping[str, str]) -> str | None:
    given = env.get(SECRET_KEY_ENV, "").strip()
    if not given:
        return None
    if len(given) < MIN_SECRET_KEY:
        raise ConfigError([f"{SECRET_KEY_ENV}: at least {MIN_SECRET_KEY} characters, e.g. from: openssl rand -hex 32"])
    return given


def allow_private_from(env: Mapping[str, str], config: Config) -> bool:
    given = env.get(ALLOW_PRIVATE_ENV, "").strip().lower()
    if not given:
        return config.subscriptions.allow_private_webhooks
    if given in {"1", "true", "yes", "on"}:
        return True
    if given in {"0", "false", "no", "off"}:
        return False
    raise ConfigError([f"{ALLOW_PRIVATE_ENV}: {given!r} is not true or false (1 or 0)"])


def default_database_url(config_path: Path) -> str:
    return f"sqlite:///{config_path.parent / 'var' / 'statuspage.db'}"


def page_webhook_secret_from(env: Mapping[str, str], config: Config) -> str | None:
    """``STATUSPAGE_PAGE_WEBHOOK_SECRET`` when set, else ``escalation.webhook_secret``."""
    given = env.get(PAGE_WEBHOOK_SECRET_ENV, "").strip()
    if not given:
        return config.escalation.webhook_secret
    if len(given) < MIN_SECRET_KEY:
        raise ConfigError([f"{PAGE_WEBHOOK_SECRET_ENV}: at least {MIN_SECRET_KEY} characters, e.g. from: openssl rand -hex 32"])
    return given


def _alert_rule_problems(config: Config) -> list[tuple[tuple[str | int, ...], str]]:
    """References from the rules to the rest of the configuration: severities and components."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    components = {component.id for component in config.components}
    names: set[str] = set()
    for index, rule in enumerate(config.alerts.rules):
        where: tuple[str | int, ...] = ("alerts", "rules", index)
        if rule.name in names:
            problems.append(((*where, "name"), f"{json.dumps(rule.name)} is used twice"))
        names.add(rule.name)
        if config.severity(rule.severity) is None:
            known = ", ".join(sorted(config.severities))
            problems.append(((*where, "severity"), f"no severity sev{rule.severity} is defined (known: {known})"))
        if rule.component is not None and rule.component not in components:
            problems.append(((*where, "component"), f"no component {json.dumps(rule.component)} (known: {', '.join(sorted(components))})"))
    return problems
