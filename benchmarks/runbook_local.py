"""Local runbook end to end vs the sum of its steps' Spark work, with the overhead of every step.

Spark work of a job run = the engine's own start -> end of that run (the spark-submit process, from
`.deplat/<env>/runs.jsonl`: `started_at`/`ended_at` recorded by the engine, 1 s resolution), split
into JVM/session start (up to the driver's "Running Spark version" log line) and the rest.
A step's overhead = its wall time in the runbook minus the Spark work of its job runs (Terraform,
seeding, deploy, submission, polling, log and metrics reads, non-Spark steps).
Target (DESIGN.md section 7): end to end < 2x the Spark work.

Usage:
  python benchmarks/runbook_local.py                 # analyse the last runbook of the env
  python benchmarks/runbook_local.py --execute       # run `deplat runbook` first (under the Spark lock)
  python benchmarks/runbook_local.py --runbook ID    # a runbook from .deplat/<env>/runbooks.jsonl
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

LOCK = "/tmp/deplat-spark.lock"
SPARK_UP = re.compile(r"^(\d\d/\d\d/\d\d \d\d:\d\d:\d\d) INFO SparkContext: Running Spark version", re.M)


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _jvm_start(run_dir: Path, started: datetime) -> float | None:
    """Seconds from the spark-submit start to the driver's SparkContext start (from its log)."""
    log = run_dir / "stderr"
    if not log.is_file():
        return None
    m = SPARK_UP.search(log.read_text(errors="replace")[:200_000])
    if not m:
        return None
    up = datetime.strptime(m.group(1), "%y/%m/%d %H:%M:%S").replace(tzinfo=started.tzinfo)
    return max((up - started).total_seconds(), 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--execute", action="store_true", help="run `deplat runbook` first")
    parser.add_argument("--runbook", help="runbook id (default: the last one)")
    parser.add_argument("args", nargs="*", help="extra `deplat runbook` arguments with --execute")
    opts = parser.parse_args()

    from deplat.core.context import Context
    from deplat.report.data import job_runs, runbooks

    ctx = Context()
    if opts.execute:
        deplat = str(Path(sys.executable).with_name("deplat"))
        rc = subprocess.run(["flock", LOCK, deplat, "runbook", *opts.args]).returncode
        if rc:
            print(f"deplat runbook exited {rc}; analysing what ran", file=sys.stderr)
    books = runbooks(ctx.state_dir)
    book = next((b for b in books if b["runbook_id"] == opts.runbook), None) if opts.runbook else \
        (books[-1] if books else None)
    if book is None:
        sys.exit("no runbook recorded in this environment: run `deplat runbook` (or pass --execute)")
    runs = {r["run_id"]: r for r in job_runs(ctx.state_dir)}
    runs_dir = ctx.state_dir / "runs"

    print(f"runbook {book['runbook_id']} ({book['env']}): {book['status']}"
          + (f", resumed from {book['resumed_from']}" if book.get("resumed_from") else ""))
    print(f"{'step':<14} {'status':<13} {'wall s':>8} {'jobs':>5} {'spark s':>8} {'jvm s':>6} {'overhead s':>10}")
    total_wall = total_spark = total_jvm = 0.0
    for s in book["steps"]:
        wall = s.get("duration_s")
        if wall is None:
            continue
        spark = jvm = 0.0
        for rid in s.get("run_ids") or []:
            rec = runs.get(rid, {})
            t0, t1 = _ts(rec.get("started_at")), _ts(rec.get("ended_at"))
            if t0 and t1:
                spark += (t1 - t0).total_seconds()
                jvm += _jvm_start(runs_dir / rid, t0) or 0.0
        total_wall += wall
        total_spark += spark
        total_jvm += jvm
        print(f"{s['name']:<14} {s['status']:<13} {wall:>8.1f} {len(s.get('run_ids') or []):>5} {spark:>8.1f} "
              f"{jvm:>6.1f} {wall - spark:>10.1f}")
    # Resumed runbooks: steps done earlier count with their recorded durations, as if run in one go.
    print(f"{'total':<14} {'':<13} {total_wall:>8.1f} {'':>5} {total_spark:>8.1f} {total_jvm:>6.1f} "
          f"{total_wall - total_spark:>10.1f}")
    if total_spark <= 0:
        sys.exit("no Spark job runs recorded for this runbook: nothing to compare")
    print(f"JVM/session start is {total_jvm / total_spark:.0%} of the Spark work")
    print(f"ratio end-to-end / Spark work: {total_wall / total_spark:.2f}x (target < 2)")


if __name__ == "__main__":
    main()
