"""What both command lines share: one-line errors and exit codes."""

from __future__ import annotations

import sys
from typing import Any

import click
from sqlalchemy.exc import OperationalError

from statuspage.errors import DatabaseNotReady, UserError
from statuspage.settings import ConfigError

EXIT_USER_ERROR = 2
EXIT_UNAVAILABLE = 1


class OneLineErrors(click.Group):
    """A click group whose every failure a user can cause is one line on stderr, never a
    traceback: exit 2 for bad input (usage, configuration, unknown ids), 1 when a dependency
    such as the database is unavailable."""

    def main(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        prog = kwargs.get("prog_name") or self.name or "command"
        try:
            return super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
            sys.exit(EXIT_USER_ERROR)
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx else prog
            fail(f"{command}: {exc.format_message()} (see --help)", EXIT_USER_ERROR)
        except click.exceptions.Abort:
            fail(f"{prog}: aborted", 1)
        except click.ClickException as exc:
            fail(f"{prog}: {exc.format_message()}", exc.exit_code or 1)
        except ConfigError as exc:
            for line in exc.lines:
                click.echo(line, err=True)
            sys.exit(EXIT_USER_ERROR)
        except DatabaseNotReady as exc:
            fail(f"{prog}: {exc.message}", EXIT_UNAVAILABLE)
        except UserError as exc:
            fail(f"{prog}: {exc.message}", EXIT_USER_ERROR)
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc).splitlines()[0]
            fail(f"{prog}: database error: {reason}", EXIT_UNAVAILABLE)
        except KeyboardInterrupt:
            fail(f"{prog}: interrupted", 130)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        return None


def fail(message: str, code: int) -> None:
    click.echo(message, err=True)
    sys.exit(code)
