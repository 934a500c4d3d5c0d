"""What every ``incident`` command shares: the :class:`State` of one invocation (configuration,
who is acting, the server and token of remote mode, the runtime and the backend, both opened on
first use), the decorator that hands it to a command, and the checked parameter types.

The backends (and the records they return, :mod:`incident_cli.backend`) are imported when a
command first asks for them: local commands need not load the HTTP client, nor ``--help`` any of
it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import click

from incident_cli.render import Renderer
from statuspage import validators
from statuspage.actors import Actor, default_actor_name
from statuspage.clickutil import Checked
from statuspage.domain.enums import Source
from statuspage.errors import UserError
from statuspage.typed_times import parse_when

if TYPE_CHECKING:
    from incident_cli.backend import Backend
    from statuspage.runtime import Runtime


class State:
    def __init__(self, config_path: str | None, actor_name: str | None, server: str | None = None, token: str | None = None) -> None:
        self.config_path = config_path
        # --as is checked as it is read (see NAME); the person's name is kept without surrounding space.
        self.actor = Actor(actor_name.strip() if actor_name else default_actor_name(), Source.CLI)
        self.server = server or None
        self.token = token or None
        self._runtime: Runtime | None = None
        self._backend: Backend | None = None

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            # Imported here: a remote command never loads the database layer.
            from statuspage.runtime import open_runtime

            self._runtime = open_runtime(self.config_path)
        return self._runtime
    @property
    def backend(self) -> Backend:
        if self._backend is None:
            if self.server is None:
                from incident_cli.local import LocalBackend

                self._backend = LocalBackend(lambda: self.runtime, self.actor)
            else:
                if self.token is None:
                    raise UserError("--server needs a token: set STATUSPAGE_TOKEN or give --token (make one with: incident token create)")
                # Imported here: local commands need not load the HTTP client.
                from incident_cli.remote import RemoteBackend

                self._backend = RemoteBackend(self.server, self.token, user=self.actor.name)
        return self._backend

    def local_runtime(self, command: str) -> Runtime:
        """The database, for commands that only make sense on it: tokens are made where the data
        is, ``watch`` is the worker that runs beside it, and ``report import-kpis`` and
        ``report import-accounts`` import files into it."""
        if self.server is not None:
            from incident_cli.backend import database_only

            raise database_only(command)
        return self.runtime

    def close_runtime(self) -> None:
        if self._runtime is not None:
            self._runtime.engine.dispose()

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
        self.close_runtime()

    @property
    def renderer(self) -> Renderer:
        return Renderer(self.backend.time_zone)

    def when(self, text: str | None, field: str) -> datetime | None:
        """A time option, read in the page's time zone against the backend's clock."""
        if not text:
            return None
        backend = self.backend
        return parse_when(text, now=backend.now(), zone=backend.time_zone, field=field)


pass_state = click.make_pass_decorator(State)
# What people type, checked by the rules the service layer and the admin API apply, as the command
# line is read: refused in the same words before any request is sent or anything is written.
NAME = Checked(validators.person_name)
TITLE = Checked(validators.title)
TEXT = Checked(validators.free_text)


def parse_components(values: Sequence[str]) -> dict[str, str | None]:
    """``api`` or ``api=partial_outage``, possibly comma-separated."""
    result: dict[str, str | None] = {}
    for value in values:
        for part in filter(None, (p.strip() for p in value.split(","))):
            name, _, status = part.partition("=")
            result[name.strip()] = status.strip() or None
    return result
