"""A Sev-1 declared on a terminal asks first; --yes, and scripts (no terminal), are never asked.
The real ``incident`` program runs on a pseudo-terminal."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

INCIDENT = str(Path(sys.executable).parent / "incident")
PROMPT = 'Declare a public Sev-1 "Checkout failing" affecting api, web? [y/N]: '


def on_terminal(env: dict[str, str], args: list[str], answer: str | None) -> tuple[int, str]:
    """Runs ``incident ARGS`` with stdin and stdout on a pseudo-terminal; types ``answer`` once
    the prompt shows. Returns the exit status and everything the terminal showed."""
    master, slave = pty.openpty()
    process = subprocess.Popen([INCIDENT, *args], stdin=slave, stdout=slave, stderr=slave, env={**os.environ, **env}, close_fds=True)
    os.close(slave)
    shown = b""
    deadline = time.monotonic() + 60
    answered = answer is None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the program ended and closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        if not answered and b"[y/N]" in shown:
            os.write(master, f"{answer}\n".encode())
            answered = True
        if process.poll() is not None and not ready:
            break
    code = process.wait(timeout=30)
    os.close(master)
    return code, shown.decode().replace("\r\n", "\n")


def listed(env: dict[str, str]) -> str:
    done = subprocess.run([INCIDENT, "list"], env={**os.environ, **env}, capture_output=True, text=True, check=True)
    return done.stdout


ARGS = ["declare", "-s", "sev1", "-t", "Checkout failing", "-c", "api", "-c", "web"]


@pytest.mark.parametrize("answer", ["n", ""])
def test_declining_writes_nothing(cli_env: dict[str, str], answer: str) -> None:
    code, shown = on_terminal(cli_env, ARGS, answer)
    assert code == 1, shown
    assert PROMPT in shown and shown.rstrip().endswith("incident: not declared")
    assert listed(cli_env).strip() == "No incidents."


def test_confirming_declares(cli_env: dict[str, str]) -> None:
    code, shown = on_terminal(cli_env, ARGS, "y")
    assert code == 0, shown
    assert PROMPT in shown and "Declared incident 1 (sev1" in shown
    assert "Checkout failing" in listed(cli_env)


def test_yes_and_lower_severities_do_not_ask(cli_env: dict[str, str]) -> None:
    code, shown = on_terminal(cli_env, [*ARGS, "--yes"], None)
    assert code == 0 and "[y/N]" not in shown, shown
    code, shown = on_terminal(cli_env, ["declare", "-s", "2", "-t", "Slow", "-c", "web"], None)
    assert code == 0 and "[y/N]" not in shown, shown


def test_scripts_are_never_asked(cli_env: dict[str, str]) -> None:
    done = subprocess.run([INCIDENT, *ARGS], env={**os.environ, **cli_env}, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "[y/N]" not in done.stdout + done.stderr and done.stdout.startswith("Declared incident 1 (sev1")
