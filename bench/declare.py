"""Wall time of the ``incident`` command line in a cold process, against ``python -c pass``.

Each run is a new Python process (what an on-call engineer's shell starts): ``--help``, the
read commands and a Sev-1 declaration, on a seeded SQLite database (local mode) and through a
running server's admin API (``--server``, remote mode). A declaration attaches the Sev-1
playbook and schedules its first page, as in the README's tour. Timed with hyperfine when it is
installed (one warm-up run so the file cache is warm), else with ``time.perf_counter`` around
``subprocess.run``.
"""

from __future__ import annotations

import json
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.common import (
    BIN,
    Row,
    free_port,
    parse_args,
    prepare_site,
    sqlite_url,
    start_process,
    stop_process,
    write_result,
)

NAME = "declare"
TARGET_S = 0.5
# What an engineer waits for: a declaration, and everything that only reads or explains.
TARGETS = {"declare": 0.5, "read": 0.3}


CPU: dict[str, float] = {}  # mean user+system seconds per command, when hyperfine measured it
IMPORTS = ["alembic", "sqlalchemy", "sqlmodel", "statuspage.db.models", "statuspage.settings", "holidays", "rich.console", "jinja2"]


def import_costs(env: dict[str, str], cwd: str) -> str:
    """Where ``import incident_cli.main`` spends its time (python -X importtime, cumulative)."""
    err = subprocess.run([str(BIN / "python"), "-X", "importtime", "-c", "import incident_cli.main"],
                         env=env, cwd=cwd, capture_output=True, text=True).stderr
    cumulative: dict[str, int] = {}
    for line in err.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            cumulative.setdefault(parts[2].strip(), int(parts[1]))
    total = cumulative.get("incident_cli.main", 0)
    shown = [f"{name} {cumulative[name] / 1e6:.3f} s" for name in IMPORTS if name in cumulative]
    return (f"import incident_cli.main took {total / 1e6:.3f} s (one run, -X importtime); first-import cumulative "
            "costs inside it: " + ", ".join(shown) + ".")


def time_commands(commands: dict[str, str], runs: int, env: dict[str, str], cwd: str) -> tuple[dict[str, list[float]], str]:
    """Seconds per run for each shell command; hyperfine if present."""
    if shutil.which("hyperfine"):
        out = Path(cwd) / "hyperfine.json"
        argv = ["hyperfine", "--warmup", "1", "--runs", str(runs), "--export-json", str(out), "--style", "none", "-N"]
        for label, command in commands.items():
            argv += ["--command-name", label, command]
        subprocess.run(argv, env=env, cwd=cwd, check=True, capture_output=True)
        data = json.loads(out.read_text())
        for r in data["results"]:
            CPU[r["command"]] = r["user"] + r["system"]
        return {r["command"]: r["times"] for r in data["results"]}, f"hyperfine --warmup 1 --runs {runs} -N"
    times: dict[str, list[float]] = {}
    for label, command in commands.items():
        subprocess.run(shlex.split(command), env=env, cwd=cwd, check=True, capture_output=True)  # warm-up
        times[label] = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run(shlex.split(command), env=env, cwd=cwd, check=True, capture_output=True)
            times[label].append(time.perf_counter() - started)
    return times, f"time.perf_counter around subprocess.run, {runs} runs after 1 warm-up"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv, __doc__.splitlines()[0])
    runs = 10 if args.quick else 20
    rows: list[Row] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench_declare_") as tmp:
        env = prepare_site(tmp, sqlite_url(tmp))
        # An installed CLI runs from cached bytecode; without it every run recompiles the
        # project's own modules and measures the compiler instead.
        bytecode_off = env.pop("PYTHONDONTWRITEBYTECODE", None)
        incident = str(BIN / "incident")
        commands = {
            "python -c pass": f"{BIN / 'python'} -c pass",
            "incident --help": f"{incident} --help",
            "incident list": f"{incident} list",
            "incident show 1": f"{incident} show 1",
            "incident declare": f"{incident} declare --severity 1 --title Bench-declare --component api",
            "import floor: sqlmodel + statuspage.db.models": f"{BIN / 'python'} -c 'import statuspage.db.models'",
        }
        # Fail loudly here rather than time an error message.
        check = subprocess.run(shlex.split(commands["incident declare"]), env=env, cwd=tmp, capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"incident declare failed: {check.stderr.strip()}")
        made = subprocess.run([incident, "token", "create", "--name", "bench", "--scope", "write"], env=env, cwd=tmp,
                              capture_output=True, text=True, check=True)
        port = free_port()
        server = start_process(
            [str(BIN / "statuspage"), "serve", "--workers", "1", "--port", str(port), "--log-level", "warning"],
            env=env, ready_url=f"http://127.0.0.1:{port}/api/v2/summary.json",
        )
        try:
            remote_env = {**env, "STATUSPAGE_URL": f"http://127.0.0.1:{port}", "STATUSPAGE_TOKEN": made.stdout.strip()}
            times, how = time_commands(commands, runs, env, tmp)
            remote = {
                "incident --server list": f"{incident} list",
                "incident --server show 1": f"{incident} show 1",
                "incident --server declare": commands["incident declare"],
            }
            remote_times, _ = time_commands(remote, runs, remote_env, tmp)
            times.update(remote_times)
        finally:
            stop_process(server)
        notes.append(import_costs(env, tmp))
    base = statistics.median(times["python -c pass"])
    for label, values in times.items():
        median = statistics.median(values)
        if label == "python -c pass":
            rows.append(Row(label, f"cold process wall time, median of {len(values)}", round(median, 4), "s",
                            None, None, "baseline", True))
            continue
        kind = None if label.startswith("import floor") else ("declare" if label.endswith("declare") else "read")
        target = f"< {TARGETS[kind]} s" if kind else "informative"
        met = median < TARGETS[kind] if kind else True
        rows.append(Row(label, f"cold process wall time, median of {len(values)}", round(median, 4), "s",
                        round(base, 4), round(median / base, 2), target, met))
        cpu = f", CPU (user+sys) mean {CPU[label]:.3f} s" if label in CPU else ""
        notes.append(f"{label}: min {min(values):.3f} s, max {max(values):.3f} s, mean {statistics.fmean(values):.3f} s{cpu}.")
    if "incident declare" in CPU:
        # CPU time is what the command costs; wall time adds waiting for a core on a busy machine.
        cpu = CPU["incident declare"]
        rows.append(Row("incident declare", "CPU time (user+sys), mean", round(cpu, 4), "s",
                        round(CPU.get("python -c pass", 0), 4) or None,
                        round(cpu / CPU["python -c pass"], 2) if CPU.get("python -c pass") else None,
                        f"informative (< {TARGET_S} s would be needed)", True))
    if bytecode_off:
        notes.append("PYTHONDONTWRITEBYTECODE was set in the environment; it was removed for these runs so that, as for "
                     "an installed CLI, the project's modules load from cached bytecode (the warm-up run writes it).")
    notes.append(
        f"Timed with {how}; every declare is a Sev-1 on the api component of a seeded SQLite database "
        "(the Sev-1 playbook is attached and its first page scheduled). Ratio against `python -c pass` "
        "in the same venv is informative; the target is absolute."
    )
    write_result(args.json_path, NAME, rows, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
