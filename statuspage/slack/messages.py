"""Slack messages as Block Kit templates (``templates/slack/*.json.j2``), and what they may contain.

Why templates: what a message says and how it is laid out is data a reader can change without
touching the sender. Why this particular Jinja environment: most of what goes into a message was
typed by someone (incident titles, update bodies, names) and Slack's mrkdwn gives ``<`` ``>`` and
``&`` a meaning: ``<!channel>`` pings a whole channel and ``<http://evil|click>`` is a disguised
link. So every value a template prints goes through :func:`_finalize`, which escapes those three
characters and writes the value as a JSON string: a template cannot forget to escape, and cannot
produce invalid JSON whatever a title contains. The only text that is not escaped is
:class:`Mrkdwn`, made here by the helpers that build our own mentions and links, and mentions are
only ever made from the ``slack_user`` ids of the configuration's escalation matrix.

Templates compose text with the ``fmt`` filter (``{{ "{sev} declared: {title}"|fmt(sev=..., title=...) }}``):
the literal part is ours and trusted, each value is escaped unless it is already :class:`Mrkdwn`.
Literal JSON punctuation (commas between list items) must be template text, never ``{{ }}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from statuspage.settings import Config, resource_dir

SLACK_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)>")
_LABELLED_LINK = re.compile(r"<((?:https?|mailto):[^|>]*)\|([^>]*)>")
_BARE_LINK = re.compile(r"<((?:https?|mailto):[^>]*)>")
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,4}$")
_LEADING_EMOJI = re.compile(r"^(:[a-z0-9_+-]+:\s*)+")

# Block Kit limits, with room: a section's text is at most 3,000 characters, a field 2,000.
SECTION_LIMIT = 2900
FIELD_LIMIT = 1900


class Mrkdwn(str):
    """Text that is already Slack mrkdwn and is printed as it is: escaped text, or a mention or a
    link built here. Nothing typed by a person becomes Mrkdwn without going through :func:`escape`."""


def escape(text: str) -> str:
    """Slack's escaping for mrkdwn: only ``&``, ``<`` and ``>``, and ``&`` first."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def safe(value: Any) -> Mrkdwn:
    """A value as mrkdwn: Mrkdwn as it is, anything else escaped; None is empty."""
    if isinstance(value, Mrkdwn):
        return value
    return Mrkdwn(escape("" if value is None else str(value)))


def _finalize(value: Any) -> str:
    """Every ``{{ }}`` of a Slack template: a JSON literal, strings escaped for mrkdwn."""
    if value is None or isinstance(value, (bool, int, float)):
        return json.dumps(value)
    return json.dumps(str(safe(value)), ensure_ascii=False)


def _fmt(template: str, **values: Any) -> Mrkdwn:
    return Mrkdwn(template.format(**{key: safe(value) for key, value in values.items()}))


def _join(items: Iterable[Any], separator: str = ", ") -> Mrkdwn:
    return Mrkdwn(separator.join(safe(item) for item in items))


def _clip(value: Any, limit: int) -> Mrkdwn:
    """Shorten mrkdwn to ``limit`` characters without leaving half an entity behind."""
    text = safe(value)
    if len(text) <= limit:
        return text
    return Mrkdwn(_PARTIAL_ENTITY.sub("", text[: limit - 1]) + "…")


def plain(text: str, names: Mapping[str, str] | None = None) -> str:
    """The mrkdwn ``text`` of a message as one plain line, for the console: mentions become
    ``@Name``, links their label, entities their characters, a leading ``:emoji:`` is dropped."""
    names = names or {}
    line = _MENTION.sub(lambda m: "@" + names.get(m.group(1), m.group(1)), text)
    line = _LABELLED_LINK.sub(lambda m: m.group(2), line)
    line = _BARE_LINK.sub(lambda m: m.group(1), line)
    line = line.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return _LEADING_EMOJI.sub("", " ".join(line.split()))


def severity_label(level: int | str | None) -> str:
    return f"Sev-{level}" if level is not None else "Sev-?"


def duration(seconds: float | int | None) -> str:
    """``1h 20m``, ``45m``, ``2d 3h``: how long something has been going on, roughly."""
    if seconds is None:
        return ""
    minutes = max(int(seconds) // 60, 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m"


def _moment(value: datetime | str | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


class Helpers:
    """What templates may call, bound to one configuration (its escalation matrix and time zone)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.zone = ZoneInfo(config.page.time_zone)
        self.user_names: dict[str, str] = {}
        self.owner_users: dict[str, str] = {}
        for tier in config.escalation.tiers:
            for owner in tier.owners:
                for contact in owner.contacts:
                    if contact.slack_user and SLACK_ID.match(contact.slack_user):
                        self.user_names.setdefault(contact.slack_user, owner.name)
                        self.owner_users.setdefault(owner.name, contact.slack_user)

    def mention(self, name: str | None) -> Mrkdwn:
        """``<@U…>`` for a person of the escalation matrix with a Slack user; anyone else by name."""
        if name and name in self.owner_users:
            return Mrkdwn(f"<@{self.owner_users[name]}>")
        return safe(name or "nobody")

    def user(self, user_id: str | None, fallback: str | None = None) -> Mrkdwn:
        """A mention of a Slack user id, only if the configuration knows it."""
        if user_id and user_id in self.user_names:
            return Mrkdwn(f"<@{user_id}>")
        return safe(fallback or user_id or "someone")

    def link(self, url: str, label: Any) -> Mrkdwn:
        return Mrkdwn(f"<{escape(url).replace('|', '%7C')}|{safe(label)}>")

    def local(self, value: datetime | str | None, with_date: bool = False) -> str:
        moment = _moment(value)
        if moment is None:
            return ""
        shown = moment.astimezone(self.zone)
        return shown.strftime("%b %d, %H:%M %Z" if with_date else "%H:%M %Z")

    def since(self, start: datetime | str | None, end: datetime | str | None) -> str:
        first, last = _moment(start), _moment(end)
        if first is None or last is None:
            return ""
        return duration((last - first).total_seconds())

    def tier_name(self, level: int | None) -> str:
        tier = self.config.escalation.tier(level) if level is not None else None
        return tier.name if tier else ""

    def context(self) -> dict[str, Any]:
        return {
            "mention": self.mention,
            "user": self.user,
            "link": self.link,
            "local": self.local,
            "since": self.since,
            "tier_name": self.tier_name,
            "sev": severity_label,
            "duration": duration,
            "page_name": self.config.page.name,
        }


@lru_cache(maxsize=4)
def _environment(directory: Path) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(directory)),
        autoescape=False,
        finalize=_finalize,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.do"],
    )
    env.filters.update(fmt=_fmt, mjoin=_join, clip=_clip)
    return env


def templates_dir() -> Path:
    return resource_dir("templates") / "slack"


def render(name: str, config: Config, **data: Any) -> dict[str, Any]:
    """Render ``templates/slack/<name>.json.j2`` into a message: ``{"text": ..., "blocks": [...]}``.

    ``text`` is what notifications, screen readers and the console show; ``blocks`` what Slack
    draws. A template that produces invalid JSON raises here, in the worker, never in the
    transaction of the change the message is about.
    """
    helpers = Helpers(config)
    template = _environment(templates_dir()).get_template(f"{name}.json.j2")
    rendered = template.render(**helpers.context(), **data)
    message = json.loads(rendered)
    if not isinstance(message, dict) or not message.get("text"):
        raise ValueError(f"the Slack template {name} gave no text")
    return message


def console_line(message: Mapping[str, Any], config: Config) -> str:
    """The one line the console sender prints for a rendered message."""
    return plain(str(message["text"]), Helpers(config).user_names)
