"""Run every benchmark, each in its own process, and collect the results.

``python -m bench.run [--quick] [--only web,declare]`` writes ``bench/results/latest.json`` and
``bench/results/latest.md`` and prints the Markdown table. A missed target is reported, not an
error: the exit status is 0 unless the runner itself fails.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from bench.common import ROOT

MODULES = ["web", "freshness", "declare", "timers", "report", "subscribers"]
RESULTS = ROOT / "bench" / "results"
COLUMNS = ["benchmark", "metric", "value", "baseline", "ratio", "target", "met"]


def fmt(value: object, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "**NO**"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        text = f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:,.0f}"
        return f"{text} {unit}".strip()
    return str(value).replace("|", "\\|")


def markdown(results: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for result in results:
        for row in result.get("rows", []):
            unit = row.get("unit", "")
            ratio = row.get("ratio")
            cells = [
                fmt(row.get("benchmark")),
                fmt(row.get("metric")),
                fmt(row.get("value"), unit),
                fmt(row.get("baseline"), unit),
                "–" if ratio is None else (f"{ratio:.0%}" if ratio < 2 else f"{ratio:.1f}×"),
                fmt(row.get("target")),
                fmt(bool(row.get("met"))),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    notes = [(r.get("name", "?"), n) for r in results for n in r.get("notes", [])]
    if notes:
        lines += ["", "Notes:", ""]
        lines += [f"- **{name}**: {note}" for name, note in notes]
    return "\n".join(lines) + "\n"


def run_module(name: str, quick: bool, timeout: float) -> dict:
    path = ROOT / "bench" / f"{name}.py"
    if not path.exists():
        return {"name": name, "rows": [], "notes": [f"skipped: bench/{name}.py does not exist"]}
    out = RESULTS / f"{name}.json"
    out.unlink(missing_ok=True)
    argv = [sys.executable, "-m", f"bench.{name}", "--json", str(out)] + (["--quick"] if quick else [])
    started = time.monotonic()
    print(f"== bench.{name} ...", file=sys.stderr, flush=True)
    # Its own session, so that on a timeout the servers it started go down with it.
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.communicate(timeout=15)
                break
            except subprocess.TimeoutExpired:
                continue
        return {"name": name, "rows": [], "notes": [f"failed: did not finish within {timeout:.0f} s (stopped)"]}
    proc = subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)
    elapsed = time.monotonic() - started
    print(f"   done in {elapsed:.0f} s (exit {proc.returncode})", file=sys.stderr, flush=True)
    (RESULTS / f"{name}.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0 or not out.exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"name": name, "rows": [], "notes": [f"failed (exit {proc.returncode}): {tail[0]} (see bench/results/{name}.log)"]}
    try:
        result = json.loads(out.read_text())
    except json.JSONDecodeError as exc:
        return {"name": name, "rows": [], "notes": [f"failed: unreadable JSON ({exc})"]}
    result.setdefault("name", name)
    result.setdefault("rows", [])
    result.setdefault("notes", [])
    result["seconds"] = round(elapsed, 1)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (passes --quick to every module)")
    parser.add_argument("--only", default="", help="comma-separated module names (default: all)")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds allowed per module")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or MODULES
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = [run_module(name, args.quick, args.timeout) for name in names]
    meta = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {_cpus()} CPUs",
    }
    (RESULTS / "latest.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    table = markdown(results)
    header = f"# Benchmark results\n\n{meta['date']}, {meta['machine']}, Python {meta['python']}" + (", --quick" if args.quick else "") + "\n\n"
    (RESULTS / "latest.md").write_text(header + table)
    print(table)
    missed = [r for res in results for r in res["rows"] if not r.get("met")]
    print(f"{sum(len(r['rows']) for r in results)} rows, {len(missed)} target(s) missed; "
          f"written to {RESULTS.relative_to(ROOT)}/latest.md and latest.json", file=sys.stderr)
    return 0


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
