"""What both command lines share: one-line errors and exit codes, and text checked as it is read.

Arguments are decoded by Python with ``surrogateescape``: bytes that are not UTF-8 become lone
surrogates, which blow up later, wherever the text is stored or printed. Every command of a
:class:`OneLineErrors` tree refuses them before it runs, naming the option (see
:class:`CheckedContext`).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click
from click.core import ParameterSource

from statuspage.errors import DatabaseNotReady, UserError

EXIT_USER_ERROR = 2
EXIT_UNAVAILABLE = 1


class CheckedContext(click.Context):
    """A context that refuses parameters holding bytes that are not UTF-8 before the command's
    callback runs, so that nothing is opened, sent or written with them."""

    def invoke(self, callback: Any, /, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(callback, click.Command):
            for param in self.command.params:
                if param.name is not None:
                    refuse_undecodable(self.params.get(param.name), param, self)
        return super().invoke(callback, *args, **kwargs)


class OneLineErrors(click.Group):
    """A click group whose every failure a user can cause is one line on stderr, never a
    traceback: exit 2 for bad input (usage, configuration, unknown ids, text that is not UTF-8),
    1 when a dependency such as the database is unavailable."""

    context_class = CheckedContext

    # No ``standalone_mode`` parameter: it is always off, for the handlers below to word every error.
    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        **extra: Any,
    ) -> Any:
        prog = prog_name or self.name or "command"
        _check_every_command(self)
        try:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
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
        except DatabaseNotReady as exc:
            fail(f"{prog}: {exc.message}", EXIT_UNAVAILABLE)
        except UserError as exc:
            fail(f"{prog}: {exc.message}", EXIT_USER_ERROR)
        except KeyboardInterrupt:
            fail(f"{prog}: interrupted", 130)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except Exception as exc:
            _fail_on_loaded_errors(exc, prog)
            raise
        return None


def _fail_on_loaded_errors(exc: Exception, prog: str) -> None:
    """The configuration's and the database driver's errors, told apart without importing their
    modules: a command that never loaded them (``--help``, a remote one) cannot have raised them,
    and starts faster for not loading them here."""
    config = sys.modules.get("statuspage.config")
    if config is not None and isinstance(exc, config.ConfigError):
        for line in exc.lines:
            click.echo(line, err=True)
        sys.exit(EXIT_USER_ERROR)
    database = sys.modules.get("sqlalchemy.exc")
    if database is not None and isinstance(exc, database.OperationalError):
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc).splitlines()[0]
        fail(f"{prog}: database error: {reason}", EXIT_UNAVAILABLE)


def fail(message: str, code: int) -> None:
    click.echo(message, err=True)
    sys.exit(code)


def _check_every_command(command: click.Command) -> None:
    """Give every command below ``command`` a :class:`CheckedContext`: those added from other
    modules too, and those added later, without each having to ask for it."""
    if command.context_class is click.Context:
        command.context_class = CheckedContext
    for sub in getattr(command, "commands", {}).values():
        _check_every_command(sub)


def param_label(param: click.Parameter, ctx: click.Context | None) -> str:
    """How a message names a parameter: ``--title``, ``URL``, or ``--as ($INCIDENT_USER)`` when
    the value came from the environment."""
    if isinstance(param, click.Option):
        label = max(param.opts, key=len)
    else:
        label = param.human_readable_name
    if ctx is not None and param.name and isinstance(param.envvar, str):
        if ctx.get_parameter_source(param.name) is ParameterSource.ENVIRONMENT:
            label += f" (${param.envvar})"
    return label


def refuse_undecodable(value: object, param: click.Parameter, ctx: click.Context | None) -> None:
    """A ``UserError`` naming the parameter when ``value`` (text, a path, or several) holds what
    undecodable bytes become."""
    if isinstance(value, (tuple, list)):
        for item in value:
            refuse_undecodable(item, param, ctx)
        return
    if not isinstance(value, (str, os.PathLike)):
        return
    text = os.fspath(value)
    if not isinstance(text, str):
        return
    bad = next((ch for ch in text if "\ud800" <= ch <= "\udfff"), None)
    if bad is None:
        return
    # surrogateescape keeps byte 0xNN as U+DCNN.
    found = f"the byte 0x{ord(bad) - 0xDC00:02x}" if ord(bad) >= 0xDC80 else f"a lone surrogate U+{ord(bad):04X}"
    raise UserError(f"{param_label(param, ctx)}: must be valid UTF-8 text (it has {found})")


class Checked(click.ParamType):
    """Text that a rule of :mod:`statuspage.validators` accepts, checked as the command line is
    read: before anything is sent or written, in the rule's words, naming the option. The value
    goes on as typed; the service layer trims it (an empty ``--root-cause`` still clears)."""

    name = "text"

    def __init__(self, rule: Callable[..., object]) -> None:
        self.rule = rule

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str) or param is None:
            return value
        refuse_undecodable(value, param, ctx)
        self.rule(value, field=param_label(param, ctx))
        return value


class LazyGroup(OneLineErrors):
    """A group whose subcommands are imported when one is run, not when the group is: ``--help``
    and a command's start-up skip the modules of every other command (the database layer, the
    HTTP client, the report maths).

    ``lazy`` maps each name, in the order ``--help`` lists them, to ``(module, attribute,
    short help)``; the short help is what ``--help`` shows without importing the module, and a
    test holds it equal to the command's own.
    """

    def __init__(self, *args: Any, lazy: dict[str, tuple[str, str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*self.lazy, *(name for name in super().list_commands(ctx) if name not in self.lazy)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module_name, attribute, _help = self.lazy[cmd_name]
            command = getattr(importlib.import_module(module_name), attribute)
            _check_every_command(command)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # As click lays them out, from the stored lines instead of the imported commands.
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            if name in self.lazy:
                rows.append((name, click.Command(name, help=self.lazy[name][2]).get_short_help_str(limit)))
            else:
                rows.append((name, self.commands[name].get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)
