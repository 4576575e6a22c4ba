"""`deplat run all` on the local env through EMR Serverless's stand-in: first load and rerun.

From an empty lake (`DEPLAT_LAKE_URI`, seeded with `deplat local seed`) with no warm driver up, runs
`deplat -o json run all --wait` (the first load), then runs it again (the rerun, which must write the
same rows and change no row count). Wall time is measured around the command; per-step times are the
engine's own (`duration_s`). The application's pre-initialized DRIVER capacity is served by the
stand-in's warm drivers. The stack must be up and deployed (`deplat local up`, `deplat infra apply`,
`deplat deploy`). Goal: first load < 120 s (issue 14).

The direct warm-driver path this benchmark once compared the stand-in with (`engine: local-spark`)
is gone (issue 19: one engine); its last side-by-side figures, 1.04x and 1.08x (2026-12-03), are in
the README.

Usage: python benchmarks/run_all_local.py [--no-rerun]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOCK = "/tmp/deplat-spark.lock"


def run_all(deplat: str, env: dict[str, str]) -> tuple[float, dict[str, float], dict[str, int]]:
    """Wall seconds, seconds per step, rows written per step of one `deplat run all --wait`."""
    import fcntl

    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # timed once the lock is ours: waiting is not run time
        start = time.monotonic()
        proc = subprocess.run([deplat, "-o", "json", "run", "all", "--wait"],
                              env=env, capture_output=True, text=True)
        wall = time.monotonic() - start
    if proc.returncode:
        sys.exit(f"deplat run all exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    doc = json.loads(proc.stdout)
    steps = {s["step"]: float(s["duration_s"] or 0) for s in doc["steps"]}
    written = {m["step"]: int(m["written"]) for m in doc["metrics"]}
    return wall, steps, written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-rerun", action="store_true", help="only the first load")
    opts = parser.parse_args()

    from deplat.core.context import Context
    from deplat.local.standins.emr_serverless import record
    from deplat.local.standins.emr_serverless.supervisor import stop_warm_drivers

    ctx = Context()
    deplat = str(Path(sys.executable).with_name("deplat"))
    found = record(ctx.env.endpoint_url or "")
    if not found:
        sys.exit(f"no EMR Serverless stand-in serves {ctx.env.endpoint_url}: `deplat local down moto && "
                 "deplat local up`, then `deplat infra apply` and `deplat deploy`")
    runs_dir = Path(found["root"]) / "applications" / ctx.output("emr_application_id") / "runs"

    results: list[tuple[float, dict[str, float], dict[str, int]]] = []
    with tempfile.TemporaryDirectory(prefix="deplat-bench-") as tmp:
        env = {**os.environ, "DEPLAT_LAKE_URI": str(Path(tmp) / "lake")}
        subprocess.run([deplat, "local", "seed"], env=env, check=True, capture_output=True)
        stop_warm_drivers(runs_dir)
        for label in ("first load", "rerun")[:1 if opts.no_rerun else 2]:
            results.append(run_all(deplat, env))
            print(f"{label}: {results[-1][0]:.0f} s", flush=True)
    stop_warm_drivers(runs_dir)

    print(f"\n{'step':34} " + " ".join(f"{label:>12}" for label in ("load", "rerun")[:len(results)]))
    for step in results[0][1]:
        print(f"{step:34} " + " ".join(f"{r[1].get(step, 0):>11.0f}s" for r in results))
    for label, r in zip(("load", "rerun"), results, strict=False):
        print(f"{label}: wall {r[0]:.0f} s, rows written {sum(r[2].values())}")
    if len(results) == 2 and results[0][2] != results[1][2]:
        print(f"rows written differ between the first load and the rerun: {results[0][2]} vs {results[1][2]}")


if __name__ == "__main__":
    main()
