"""Who makes a change: a person's name and the door it came through (CLI, web, Slack, a
playbook). Light on purpose: the command lines read it before anything else is loaded."""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass

from statuspage.domain.enums import Source


@dataclass(frozen=True, slots=True)
class Actor:
    name: str
    source: Source


def default_actor_name() -> str:
    name = os.environ.get("INCIDENT_USER")
    if name:
        return name
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in this environment
        return "unknown"
