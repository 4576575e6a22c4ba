"""`deplat run all` on the local env: through EMR Serverless's stand-in vs the direct warm-driver path.

Modes (each in one run, side by side): `standin` = EmrServerlessEngine against moto's EMR Serverless
stand-in (`DEPLAT_ENGINE=emr-serverless`; the application's pre-initialized DRIVER capacity is served
by the stand-in's warm driver), `warm` = the old direct path, LocalSparkEngine with its warm driver
(`DEPLAT_ENGINE=local-spark`; this benchmark is what that path is kept for), `cold` = the direct
path with a fresh spark-submit per step. Each mode starts from its own empty lake (`DEPLAT_LAKE_URI`,
seeded with `deplat local seed`) with no warm driver up, runs `deplat -o json run all --wait` (the
first load), then runs it again (the rerun, which changes no row count). Wall time is measured
around the command; per-step times are the engine's own (`duration_s`). The stack must be up and
deployed (`deplat local up`, `deplat infra apply`, `deplat deploy`). Goals: first load < 120 s
(issue 14); standin / warm <= 1.1 (issue 19).

Usage: python benchmarks/run_all_local.py [--modes standin warm cold] [--no-rerun]
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
MODES = {  # the environment of each mode
    "standin": {"DEPLAT_ENGINE": "emr-serverless"},
    "warm": {"DEPLAT_ENGINE": "local-spark", "DEPLAT_WARM_DRIVER_IDLE_SECONDS": "120"},
    "cold": {"DEPLAT_ENGINE": "local-spark", "DEPLAT_WARM_DRIVER_IDLE_SECONDS": "0"},
}


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
    parser.add_argument("--modes", nargs="+", default=["standin", "warm"], choices=list(MODES))
    parser.add_argument("--no-rerun", action="store_true", help="only the first load")
    opts = parser.parse_args()

    from deplat.context import Context
    from deplat.engines.local_spark import stop_warm_drivers
    from deplat.local.emr_serverless_standin import record

    ctx = Context()
    deplat = str(Path(sys.executable).with_name("deplat"))
    runs_dirs = [ctx.state_dir / "runs"]  # the direct path's, then the stand-in application's
    if "standin" in opts.modes:
        found = record(ctx.env.endpoint_url or "")
        if not found:
            sys.exit(f"no EMR Serverless stand-in serves {ctx.env.endpoint_url}: `deplat local down moto && "
                     "deplat local up`, then `deplat infra apply` and `deplat deploy`")
        runs_dirs.append(Path(found["root"]) / "applications" / ctx.output("emr_application_id") / "runs")

    def stop_all() -> None:
        for runs_dir in runs_dirs:
            stop_warm_drivers(runs_dir)

    results: dict[str, list[tuple[float, dict[str, float], dict[str, int]]]] = {}
    with tempfile.TemporaryDirectory(prefix="deplat-bench-") as tmp:
        for mode in opts.modes:
            lake = Path(tmp) / mode
            env = {**os.environ, "DEPLAT_LAKE_URI": str(lake), **MODES[mode]}
            subprocess.run([deplat, "local", "seed"], env=env, check=True, capture_output=True)
            stop_all()
            results[mode] = [run_all(deplat, env)]
            print(f"{mode}: first load {results[mode][0][0]:.0f} s", flush=True)
            if not opts.no_rerun:
                results[mode].append(run_all(deplat, env))
                print(f"{mode}: rerun {results[mode][1][0]:.0f} s", flush=True)
    stop_all()

    steps = list(next(iter(results.values()))[0][1])
    print(f"\n{'step':34} " + " ".join(f"{m + ' ' + p:>12}" for m in results for p in ("load", "rerun")
                                           if p == "load" or not opts.no_rerun))
    for step in steps:
        cells = [f"{r[1].get(step, 0):>11.0f}s" for m in results for r in results[m]]
        print(f"{step:34} " + " ".join(cells))
    for m in results:
        for label, r in zip(("load", "rerun"), results[m], strict=False):
            print(f"{m} {label}: wall {r[0]:.0f} s, rows written {sum(r[2].values())}")
    if "warm" not in results:
        return
    warm = results["warm"]
    for mode in (m for m in results if m != "warm"):
        other = results[mode]
        for i, label in enumerate(("first load", "rerun")[:len(other)]):
            if other[i][2] != warm[i][2]:
                print(f"rows written differ between {mode} and warm on the {label}: {other[i][2]} vs {warm[i][2]}")
            goal = " (goal <= 1.1)" if mode == "standin" else ""
            print(f"ratio {mode}/warm ({label}): {other[i][0] / warm[i][0]:.2f}x{goal}")


if __name__ == "__main__":
    main()
