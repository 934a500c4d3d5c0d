"""Malformed configuration files and playbooks, as an operator's editor (or an attacker) leaves
them: every command that reads one says what is wrong in ONE line naming the file and line (or
the file and field), exits 2, prints no traceback, and leaves the database exactly as it was.

The small inputs are files in ``tests/corpus/`` (``config/`` and ``playbooks/``); every file
there must have an expectation below, so a new corpus file cannot be silently skipped. Huge,
binary and deeply nested inputs are made at test time instead of being committed.
"""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text

from incident_cli.main import main as incident_main
from incident_cli.playbook_cmds import playbook as playbook_group
from statuspage.cli import main as statuspage_main
from statuspage.settings import ConfigError, load_settings
from statuspage.yamlsource import MAX_BYTES

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "corpus"
SHIPPED_CONFIG = ROOT / "statuspage.yaml"
SHIPPED_TEXT = SHIPPED_CONFIG.read_text(encoding="utf-8")
MAX_LINE = 500  # an error line longer than this is not "one line" a person can read


# --- what each corpus file must produce: (line, column, words in the message) ------------------

CONFIG_CORPUS: dict[str, tuple[int, int, str]] = {
    "a-list.yaml": (1, 1, "the file must hold a mapping of sections"),
    "a-scalar.yaml": (1, 1, "the file must hold a mapping of sections"),
    "bad-indentation.yaml": (3, 8, "mapping values are not allowed here"),
    "billion-laughs.yaml": (1, 7, "too many aliases"),
    "duplicate-key-case-of-yes.yaml": (3, 3, "flags.yes: duplicate key 'yes'"),
    "duplicate-key.yaml": (4, 3, "page.id: duplicate key 'id'"),
    "duplicate-section.yaml": (6, 1, "page: duplicate key 'page'"),
    "key-is-a-list.yaml": (1, 3, "a key must be a plain value"),
    "merge-into-itself.yaml": (2, 3, "a merge key (<<) refers to the mapping that contains it"),
    "only-comments.yaml": (1, 1, "the file is empty"),
    "python-tag.yaml": (1, 7, "page: the tag !!python/object/apply:os.system is not allowed here"),
    "recursive-alias.yaml": (1, 7, "page.again: an alias refers to the value that contains it"),
    "tab-after-colon.yaml": (2, 6, "a tab character; indent YAML with spaces"),
    "tab-indent.yaml": (3, 1, "a tab character; indent YAML with spaces"),
    "two-documents.yaml": (3, 1, "expected a single document"),
    "unclosed-bracket.yaml": (2, 11, "expected ',' or '}'"),
    "unknown-tag.yaml": (1, 7, "could not determine a constructor for the tag '!include'"),
    "unterminated-string.yaml": (3, 1, "found unexpected end of stream"),
}

PLAYBOOK_CORPUS: dict[str, tuple[int, int, str]] = {
    "a-list.yaml": (1, 1, "a playbook is a mapping with name, severities and steps"),
    "bad-duration.yaml": (6, 20, 'steps[1].wait_for_ack.timeout: "soon" is not a duration like 4h'),
    "bomb.yaml": (7, 5, "too many aliases"),
    "broken-template.yaml": (7, 13, "steps[2].slack.template: template syntax error on its line 1"),
    "duplicate-key.yaml": (5, 23, "steps[0].notify.tier: duplicate key 'tier'"),
    "duplicate-name.yaml": (4, 1, "name: duplicate key 'name'"),
    "empty-steps.yaml": (4, 1, "steps: needs at least one entry"),
    "missing-steps.yaml": (1, 1, "steps: is required"),
    "only-comments.yaml": (1, 1, "the file is empty"),
    "python-tag.yaml": (4, 8, "steps: the tag !!python/object/apply:os.system is not allowed here"),
    "repeat-forward.yaml": (7, 24, "steps[2].repeat.from_step: 7 is not an earlier step"),
    "repeat-too-many.yaml": (7, 14, "steps[2].repeat.times: 100000 is more than the maximum, 10"),
    "severity-not-configured.yaml": (3, 14, "severities[0]: no severity sev9 is defined"),
    "tab-indent.yaml": (5, 1, "a tab character; indent YAML with spaces"),
    "two-kinds-in-a-step.yaml": (6, 5, "steps[1]: a step names exactly one kind"),
    "undefined-template-field.yaml": (7, 13, "steps[2].slack.template: the template cannot be rendered"),
    "unknown-component-status.yaml": (7, 37, 'steps[2].set_component.status: "on_fire" is not one of'),
    "unknown-component.yaml": (7, 21, 'steps[2].set_component.component: no component "nope"'),
    "unknown-field.yaml": (2, 1, "colour: is not a known field"),
    "unknown-owner.yaml": (5, 14, 'steps[0].notify.owner: no owner "Nobody Atall" in the escalation matrix'),
    "unknown-step-kind.yaml": (7, 5, "steps[2].page_everyone: is not a step kind"),
    "unknown-tier-zero.yaml": (5, 14, "steps[0].notify.tier: 0 is less than the minimum, 1"),
    "unknown-tier.yaml": (5, 14, "steps[0].notify.tier: no escalation tier 9 (known: 1, 2, 3)"),
    "unsafe-template.yaml": (7, 13, "access to attribute '__class__' of 'str' object is unsafe"),
    "wrong-type-severities.yaml": (3, 1, 'severities: should be a list, not the value "three"'),
    "wrong-type-tier.yaml": (5, 14, "steps[0].notify.tier: should be a whole number, not a list"),
}


def test_every_corpus_file_has_an_expectation() -> None:
    assert sorted(p.name for p in (CORPUS / "config").iterdir()) == sorted(CONFIG_CORPUS)
    assert sorted(p.name for p in (CORPUS / "playbooks").iterdir()) == sorted(PLAYBOOK_CORPUS)


# --- inputs made at test time -------------------------------------------------------------------


def _edit(old: str, new: str) -> str:
    assert SHIPPED_TEXT.count(old) == 1, f"{old!r} is not exactly once in the shipped statuspage.yaml"
    return SHIPPED_TEXT.replace(old, new)


def _where(content: str, marker: str) -> tuple[int, int]:
    index = content.index(marker)
    return content.count("\n", 0, index) + 1, index - (content.rfind("\n", 0, index) + 1) + 1


@dataclass(frozen=True)
class Made:
    """A bad configuration written at test time; ``where`` is (line, column) or None when the
    message names only the file (e.g. its size)."""

    id: str
    write: Callable[[Path], None]
    where: tuple[int, int] | None
    words: str


def _text(content: str) -> Callable[[Path], None]:
    return lambda path: path.write_text(content, encoding="utf-8", newline="")


def _bytes(content: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(content)


def _sparse(size: int) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with path.open("wb") as handle:  # a hole: 50 MB on paper, nothing on disk
            handle.truncate(size)

    return write


_LONG_ID = "x" * 300_000
_DEEP = "page: " + "[" * 10_000 + "]" * 10_000 + "\n"
_ALIAS_DEEP = "".join(
    f"a{i}: &a{i} " + "[" * 12 + (f"*a{i - 1}" if i else "1") + "]" * 12 + "\n" for i in range(10)
)
_random = random.Random(20261125)

MADE = [
    Made("huge-50mb", _sparse(50 * 1024 * 1024), None, f"52428800 bytes is larger than the {MAX_BYTES} bytes allowed"),
    Made("just-over-the-limit", _bytes(b"#" * (MAX_BYTES + 1)), None, "bytes is larger than the"),
    Made("random-binary", _bytes(b"\xff\xfe" + _random.randbytes(4096)), (1, 1), "not valid UTF-8 (byte 0xff)"),
    Made("utf16-from-notepad", _bytes(SHIPPED_TEXT.encode("utf-16")), (1, 1), "not valid UTF-8 (byte 0xff)"),
    Made(
        "latin1-name",
        _bytes(_edit("  name: Sendero\n", "  name: Señor\n").encode("latin-1")),
        _where(_edit("  name: Sendero\n", "  name: Señor\n"), "ñ"),
        "not valid UTF-8 (byte 0xf1)",
    ),
    Made(
        "nul-in-a-value",
        _text(_edit("  name: Sendero\n", "  name: Send\x00ero\n")),
        _where(_edit("  name: Sendero\n", "  name: Send\x00ero\n"), "\x00"),
        "a control character (U+0000) is not allowed in YAML",
    ),
    Made(
        "terminal-escape-in-a-value",
        _text(_edit("  name: Sendero\n", "  name: \x1b[2JSendero\n")),
        _where(_edit("  name: Sendero\n", "  name: \x1b[2JSendero\n"), "\x1b"),
        "a control character (U+001B) is not allowed in YAML",
    ),
    Made("deeply-nested", _text(_DEEP), (1, 70), "nested more than 64 deep"),
    Made("deeply-nested-through-aliases", _text(_ALIAS_DEEP), None, "nested more than 64 deep"),
    Made(
        "wrong-type",
        _text(_edit("  name: Sendero\n", "  name: [Sendero, Inc]\n")),
        _where(_edit("  name: Sendero\n", "  name: [Sendero, Inc]\n"), "name: ["),
        "page.name: should be text, not a list",
    ),
    Made(
        "wrong-type-number",
        _text(_edit("    - level: 3", "    - level: three")),
        _where(_edit("    - level: 3", "    - level: three"), "level: three"),
        'escalation.tiers[2].level: should be a whole number, not the value "three"',
    ),
    Made(
        "unknown-field",
        _text(_edit("  name: Sendero\n", "  name: Sendero\n  colour: red\n")),
        _where(_edit("  name: Sendero\n", "  name: Sendero\n  colour: red\n"), "colour"),
        "page.colour: is not a known field",
    ),
    Made(
        "unknown-section",
        _text(SHIPPED_TEXT + "\npagerduty:\n  key: abc\n"),
        _where(SHIPPED_TEXT + "\npagerduty:\n  key: abc\n", "pagerduty:"),
        "pagerduty: is not a known field",
    ),
    Made(
        "missing-required-field",
        _text(_edit("  id: sendero\n  name: Sendero\n", "  id: sendero\n")),
        _where(SHIPPED_TEXT, "page:"),
        "page.name: is required",
    ),
    Made(
        "duplicate-key-in-the-real-file",
        _text(_edit("  name: Sendero\n", "  name: Sendero\n  name: Other\n")),
        _where(_edit("  name: Sendero\n", "  name: Sendero\n  name: Other\n"), "name: Other"),
        "page.name: duplicate key 'name'",
    ),
    Made(
        "a-value-of-300000-characters",
        _text(_edit("  id: sendero\n", f"  id: {_LONG_ID}\n")),
        _where(SHIPPED_TEXT, "id: sendero"),
        "(300000 characters) is not an id",
    ),
    Made(
        "terminal-escape-written-as-a-yaml-escape",
        _text(_edit("  id: sendero\n", '  id: "\\e[2Jsendero"\n')),
        _where(SHIPPED_TEXT, "id: sendero"),
        'page.id: "\\u001b[2Jsendero" is not an id',
    ),
]


def check_config(path: Path) -> Result:
    runner = CliRunner(env={"STATUSPAGE_CONFIG": None, "DATABASE_URL": None})
    return runner.invoke(statuspage_main, ["--config", str(path), "config", "check"], prog_name="statuspage")


def assert_one_line(result: Result, start: str, words: str) -> str:
    """Exit 2, nothing on stdout, one readable line on stderr that starts with ``start``."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    (line,) = lines
    assert line.startswith(start), line
    assert words in line, line
    assert len(line) <= MAX_LINE, f"{len(line)} characters"
    assert line.isprintable(), repr(line)  # no terminal escapes, NULs or RTL overrides reach the terminal
    return line


# --- statuspage config check ------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CONFIG_CORPUS))
def test_config_check_on_the_corpus(name: str) -> None:
    path = CORPUS / "config" / name
    line, column, words = CONFIG_CORPUS[name]
    assert_one_line(check_config(path), f"{path}:{line}:{column}: ", words)


@pytest.mark.parametrize("case", MADE, ids=[c.id for c in MADE])
def test_config_check_on_made_inputs(case: Made, tmp_path: Path) -> None:
    path = tmp_path / "statuspage.yaml"
    case.write(path)
    started = time.monotonic()
    result = check_config(path)
    elapsed = time.monotonic() - started
    start = f"{path}:{case.where[0]}:{case.where[1]}: " if case.where else f"{path}:"
    assert_one_line(result, start, case.words)
    assert elapsed < 5, f"{elapsed:.1f}s to refuse {case.id}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["statuspage.yaml"]  # no var/, no database


def test_a_50mb_config_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "statuspage.yaml"
    _sparse(50 * 1024 * 1024)(path)
    started = time.monotonic()
    result = check_config(path)
    assert time.monotonic() - started < 2.0  # it is not read: a few milliseconds, with room for a busy CI
    assert_one_line(result, f"{path}: ", "larger than the")


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_an_endless_config_is_refused_after_the_limit() -> None:
    assert_one_line(check_config(Path("/dev/zero")), "/dev/zero: ", f"more than the {MAX_BYTES} bytes allowed")


def test_a_directory_instead_of_a_config_file(tmp_path: Path) -> None:
    folder = tmp_path / "statuspage.yaml"
    folder.mkdir()
    # Named with --config or through the environment, click refuses it before the loader runs.
    assert_one_line(check_config(folder), "statuspage: ", f"'{folder}' is a directory")
    runner = CliRunner(env={"STATUSPAGE_CONFIG": str(folder), "DATABASE_URL": None})
    result = runner.invoke(statuspage_main, ["config", "check"], prog_name="statuspage")
    assert_one_line(result, "statuspage: ", f"'{folder}' is a directory")
    # The loader says it too, for callers that do not go through click (the web app, the worker).
    with pytest.raises(ConfigError) as caught:
        load_settings(folder, env={})
    assert caught.value.lines == [f"{folder}: is a directory, not a YAML file"]


# --- commands that would write: the database stays as it was -----------------------------------

# One of each kind: YAML-level, schema-level, size, encoding, nesting.
WRITERS = ["huge-50mb", "random-binary", "nul-in-a-value", "deeply-nested", "wrong-type", "missing-required-field"]


def _snapshot(db_url: str) -> dict[str, object]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            state: dict[str, object] = {
                table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("incident", "incident_update", "audit_event", "component", "outbox_message", "timer")
            }
            state["revision"] = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    finally:
        engine.dispose()
    if db_url.startswith("sqlite:///"):
        file = Path(db_url.removeprefix("sqlite:///"))
        state["file"] = (file.stat().st_mtime_ns, hashlib.sha256(file.read_bytes()).hexdigest())
    return state


@pytest.fixture
def populated(cli_env: dict[str, str], db_url: str) -> Iterator[dict[str, str]]:
    """A database with one declared incident, made with the good configuration."""
    runner = CliRunner(env=cli_env)
    result = runner.invoke(incident_main, ["declare", "-s", "2", "-t", "Slow", "-c", "web"], prog_name="incident")
    assert result.exit_code == 0, result.output
    yield cli_env


def _bad_configs(directory: Path) -> Iterator[tuple[Path, Made | str]]:
    directory.mkdir()
    for case in MADE:
        if case.id in WRITERS:
            path = directory / f"{case.id}.yaml"
            case.write(path)
            yield path, case
    for name in ("duplicate-key.yaml", "tab-indent.yaml", "python-tag.yaml"):
        yield CORPUS / "config" / name, name


def _start(path: Path, case: Made | str) -> tuple[str, str]:
    if isinstance(case, str):
        line, column, words = CONFIG_CORPUS[case]
        return f"{path}:{line}:{column}: ", words
    return (f"{path}:{case.where[0]}:{case.where[1]}: " if case.where else f"{path}:"), case.words


def test_db_upgrade_and_declare_with_a_bad_config_change_nothing(
    populated: dict[str, str], db_url: str, tmp_path: Path
) -> None:
    before = _snapshot(db_url)
    runner = CliRunner(env=populated)
    for index, (path, case) in enumerate(_bad_configs(tmp_path / "bad")):
        result = runner.invoke(statuspage_main, ["--config", str(path), "db", "upgrade"], prog_name="statuspage")
        assert_one_line(result, *_start(path, case))
        args = ["--config", str(path), "declare", "-s", "1", "-t", "Checkout failing", "-c", "api"]
        if index % 2:  # every other one through the environment, as on a server
            result = CliRunner(env={**populated, "STATUSPAGE_CONFIG": str(path)}).invoke(
                incident_main, args[2:], prog_name="incident"
            )
        else:
            result = runner.invoke(incident_main, args, prog_name="incident")
        assert_one_line(result, *_start(path, case))
    assert _snapshot(db_url) == before


def test_a_broken_playbook_does_not_stop_a_declaration(populated: dict[str, str], db_url: str, tmp_path: Path) -> None:
    """By design an outage can always be declared: a broken playbook is a warning naming its
    file and line, and the built-in escalation pages instead."""
    site = tmp_path / "site"
    (site / "playbooks").mkdir(parents=True)
    (site / "statuspage.yaml").write_text(SHIPPED_TEXT, encoding="utf-8")
    broken = site / "playbooks" / "sev1.yaml"
    broken.write_text((CORPUS / "playbooks" / "unknown-tier.yaml").read_text().replace("[3]", "[1]"), encoding="utf-8")
    env = {**populated, "STATUSPAGE_CONFIG": str(site / "statuspage.yaml")}
    result = CliRunner(env=env).invoke(incident_main, ["declare", "-s", "1", "-t", "Down", "-c", "api"], prog_name="incident")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert result.stdout.startswith("Declared incident 2 (sev1")
    assert f"{broken}:5:14: steps[0].notify.tier: no escalation tier 9" in result.stderr
    assert _snapshot(db_url)["incident"] == 2


# --- incident playbook validate -------------------------------------------------------------------


def validate(*files: Path | str) -> Result:
    return CliRunner().invoke(
        playbook_group, ["validate", *map(str, files)], env={"STATUSPAGE_CONFIG": str(SHIPPED_CONFIG)}
    )


@pytest.mark.parametrize("name", sorted(PLAYBOOK_CORPUS))
def test_playbook_validate_on_the_corpus(name: str) -> None:
    path = CORPUS / "playbooks" / name
    line, column, words = PLAYBOOK_CORPUS[name]
    assert_one_line(validate(path), f"{path}:{line}:{column}: ", words)


PLAYBOOK_MADE = [
    Made("huge-50mb", _sparse(50 * 1024 * 1024), None, "bytes is larger than the"),
    Made("random-binary", _bytes(b"\x80" + _random.randbytes(2048)), (1, 1), "not valid UTF-8 (byte 0x80)"),
    Made("nul", _text("name: x\x00\n"), (1, 8), "a control character (U+0000) is not allowed in YAML"),
    Made("empty", _text(""), (1, 1), "the file is empty"),
    Made("deeply-nested", _text("name: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n"), (1, 256), "nested more than 64 deep"),
    Made(
        "long-owner-name",
        _text((CORPUS / "playbooks" / "unknown-owner.yaml").read_text().replace("Nobody Atall", "N" * 100_000)),
        (5, 14),
        '(100000 characters) in the escalation matrix',
    ),
]


@pytest.mark.parametrize("case", PLAYBOOK_MADE, ids=[c.id for c in PLAYBOOK_MADE])
def test_playbook_validate_on_made_inputs(case: Made, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    case.write(path)
    started = time.monotonic()
    result = validate(path)
    assert time.monotonic() - started < 5
    start = f"{path}:{case.where[0]}:{case.where[1]}: " if case.where else f"{path}:"
    assert_one_line(result, start, case.words)


def test_playbook_validate_a_directory(tmp_path: Path) -> None:
    assert_one_line(validate(tmp_path), "playbook validate: ", f"'{tmp_path}' is a directory")


def test_playbook_validate_reports_each_bad_file_once_and_still_exits_2() -> None:
    names = ["unknown-tier.yaml", "tab-indent.yaml", "python-tag.yaml"]
    result = validate(*(CORPUS / "playbooks" / n for n in names))
    assert result.exit_code == 2 and result.stdout == "" and "Traceback" not in result.output
    assert [line.split(":")[0] for line in result.stderr.splitlines()] == [str(CORPUS / "playbooks" / n) for n in names]


# --- a real process: what an operator's terminal shows -------------------------------------------


def test_a_real_process_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    """One real interpreter (a few seconds to start, so only one): a nesting that used to exhaust
    Python's stack, given to the command that would migrate the database."""
    deep = tmp_path / "deep.yaml"
    deep.write_text(_DEEP, encoding="utf-8")
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("DATABASE_URL", None)
    env.pop("STATUSPAGE_CONFIG", None)
    argv = [str(Path(sys.executable).parent / "statuspage"), "--config", str(deep), "db", "upgrade"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stdout == "" and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [f"{deep}:1:70: lists or mappings are nested more than 64 deep"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep.yaml"]  # no var/, no database
