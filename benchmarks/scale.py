"""How `deplat run all` grows with the data: the local sources at scale factors 0.01, 0.1 and 1.

For each scale factor SF (deplat.local.scale: TPC-H's SF, every other source in the same proportion
from the sample's sizes at 0.01), in a fresh lake of its own (`DEPLAT_LAKE_URI`):
`deplat local seed --scale SF`, a DMS change burst of ~1,000,000 x SF changes (`deplat local
dms-capture --sample-changes N`), then `deplat -o json run all --wait` through the local env's
engine (EMR Serverless's stand-in). Per step: wall seconds (the engine's `duration_s`), rows read,
written, rejected and skipped (each counted by the job), whether they balance, and the peak RSS of
the Spark driver JVMs sampled every 0.5 s while the step's run was RUNNING (a warm driver's RSS is a
high-water mark: it shows memory that grows with the data, not a step's own use). Then the growth
ratio of each step's time per 10x of data (linear = 10; the issue's bound is 12) and a second
`run all` at the largest scale, which must change no row count.

It ends with an extrapolation to EMR Serverless at SF 100 from the measured per-row cost of the
largest scale: a step's local seconds per row read x the rows at SF 100, spread over workers of
4 vCPU / 16 GB (EMR Serverless's default worker), priced at the us-east-1 on-demand rates of
https://aws.amazon.com/emr/pricing/ (EMR Serverless: $0.052624 per vCPU-hour, $0.0057785 per
GB-hour; the rates config/deplat.yaml's emr_pricing holds). The local machine has 2 cores, so the
per-row cost is per 2 vCPU; the extrapolation assumes the step parallelises across workers (say so
when it does not: the stream and the single-file readers do not). The stream's figure at 1,000,000
events is benchmarks/stream_throughput.py's.

The stack must be up with infra applied (`deplat local up`, `deplat infra apply`); the script
deploys. It leaves the sources at the last scale it ran unless --restore (then it reseeds sf 0.01
into a throwaway lake). Costly: sf 1 loads TPC-H's 1.5M orders and 6M lineitems through fakesnow.

Usage: python benchmarks/scale.py [--scales 0.01 0.1 1] [--quick] [--restore] [--json F] | --report F
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

LOCK = "/tmp/deplat-spark.lock"
SF_TARGET = 100  # the extrapolation's scale factor
WORKER_VCPU, WORKER_GB = 4, 16  # EMR Serverless's default worker (docs: "Default worker configuration")
PRICE_VCPU_H, PRICE_GB_H = 0.052624, 0.0057785  # us-east-1, https://aws.amazon.com/emr/pricing/
LOCAL_VCPU = 2


def _deplat(*args: str, env: dict[str, str], timeout: float = 7200) -> subprocess.CompletedProcess:
    deplat = str(Path(sys.executable).with_name("deplat"))
    proc = subprocess.run([deplat, *args], env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode:
        sys.exit(f"deplat {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc


def _driver_rss_mb() -> list[float]:
    """RSS (MB) of each Spark driver JVM on this machine (SparkSubmit processes: warm drivers, a
    stream's own spark-submit), one entry per JVM."""
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            if b"org.apache.spark.deploy.SparkSubmit" not in cmdline:
                continue
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out.append(int(line.split()[1]) / 1024)
        except OSError:
            continue
    return out


class RssSampler(threading.Thread):
    """(UTC time, [RSS MB of each driver JVM]) every `interval` seconds until stopped."""

    def __init__(self, interval: float = 0.5):
        super().__init__(daemon=True)
        self.interval, self.samples, self._halt = interval, [], threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.samples.append((datetime.now(timezone.utc), _driver_rss_mb()))
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def peak(self, start: datetime, end: datetime) -> dict:
        """Within [start, end]: the largest RSS of one driver JVM (MB), the largest sum over the JVMs
        alive at once, and the most JVMs alive at once. A warm driver serves several steps, so its
        RSS is a high-water mark (memory that grows with the data shows; a step's own use does not)."""
        inside = [jvms for at, jvms in self.samples if start <= at <= end]
        return {"peak_driver_rss_mb": round(max((max(j, default=0.0) for j in inside), default=0.0)),
                "peak_drivers_rss_sum_mb": round(max((sum(j) for j in inside), default=0.0)),
                "driver_jvms": max((len(j) for j in inside), default=0)}


def _run_windows(runs_dir: Path, run_ids: list[str]) -> dict[str, tuple[datetime, datetime]]:
    """run id -> (started_at, ended_at) from the stand-in's run folders."""
    out = {}
    for run_id in run_ids:
        try:
            doc = json.loads((runs_dir / run_id / "state.json").read_text())
            out[run_id] = (datetime.fromisoformat(doc["started_at"]),
                           datetime.fromisoformat(doc.get("ended_at") or doc["updated_at"]))
        except (OSError, ValueError, KeyError):
            continue
    return out


def _table_rows(lake: str) -> dict[str, int | None]:
    """layer.table -> its row count now (deplat.report.data.lake_tables: every Delta table under the lake)."""
    from deplat.report.data import lake_tables

    return {f"{t.layer}.{t.table}": t.rows for t in lake_tables(lake)}


def measure(scale: float, tmp: Path, runs_dir: Path, rerun: bool,
            on_pass: Callable[[dict], None] = lambda partial: None) -> dict:
    """Seed at `scale` into a fresh lake, run all, return per-step figures (and the rerun's).
    `on_pass` gets the figures so far after each pass (the first pass's survive a stopped rerun)."""
    import fcntl

    from deplat.local.scale import source_sizes

    sizes = source_sizes(scale)
    env = {**os.environ, "DEPLAT_LAKE_URI": str(tmp / f"lake-sf{scale:g}")}
    started = time.monotonic()
    _deplat("local", "seed", "--scale", str(scale), env=env)
    seed_s = time.monotonic() - started
    started = time.monotonic()
    changes = json.loads(_deplat("-o", "json", "local", "dms-capture", "--sample-changes",
                                 str(sizes.dms_change_burst), env=env).stdout)
    capture_s = time.monotonic() - started
    _deplat("deploy", "--no-deps-archive", env=env)
    passes = []
    for _ in range(2 if rerun else 1):
        sampler = RssSampler()
        with open(LOCK, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            sampler.start()
            started = time.monotonic()
            doc = json.loads(_deplat("-o", "json", "run", "all", "--wait", env=env).stdout)
            wall = time.monotonic() - started
            sampler.stop()
        windows = _run_windows(runs_dir, [s["run_id"] for s in doc["steps"]])
        metrics = {m["step"]: m for m in doc["metrics"]}
        steps = {}
        for s in doc["steps"]:
            m = metrics.get(s["step"], {})
            window = windows.get(s["run_id"])
            steps[s["step"]] = {
                "seconds": float(s["duration_s"] or 0), "state": s["state"],
                "read": int(m.get("read", 0)), "written": int(m.get("written", 0)),
                "rejected": int(m.get("rejected", 0)), "skipped": int(m.get("skipped", 0)),
                "derived": int(m.get("derived", 0)), "converted": m.get("converted_orders"),
                **(sampler.peak(*window) if window else {"peak_driver_rss_mb": None})}
        passes.append({"wall_s": wall, "steps": steps, "table_rows": _table_rows(env["DEPLAT_LAKE_URI"])})
        on_pass(_record(scale, sizes, seed_s, capture_s, changes, passes))
    return _record(scale, sizes, seed_s, capture_s, changes, passes)


def _record(scale: float, sizes, seed_s: float, capture_s: float, changes: dict, passes: list) -> dict:
    dms_changes = sum(n for kinds in changes.get("changes", {}).values() for n in kinds.values())
    return {"scale": scale, "sizes": sizes.to_dict(), "seed_s": seed_s, "capture_s": capture_s,
            "dms_changes": dms_changes, "passes": list(passes)}


def _balanced(step: str, m: dict) -> bool:
    """read = written - derived + rejected + skipped (gold: read = converted + rejected); dq_check
    writes results about rows, not rows: nothing to balance (tests/e2e/deplat/test_runbook_run_all.py's rule)."""
    if step == "dq_check":
        return True
    if step == "gold_aggregates":
        return m["read"] == (m["converted"] or 0) + m["rejected"]
    return m["read"] == m["written"] - m["derived"] + m["rejected"] + m["skipped"]


def report(results: list[dict]) -> None:
    scales = [r["scale"] for r in results]
    steps = list(results[0]["passes"][0]["steps"])
    print("\nper step: seconds / rows read / rows written / peak RSS MB of one driver JVM / driver JVMs alive "
          "(first load)")
    print(f"{'step':28}" + "".join(f"{'sf ' + format(s, 'g'):>34}" for s in scales))
    for step in steps:
        cells = []
        for r in results:
            m = r["passes"][0]["steps"].get(step, {})
            cells.append(f"{m.get('seconds', 0):>7.0f}s {m.get('read', 0):>9} {m.get('written', 0):>9} "
                         f"{m.get('peak_driver_rss_mb') or 0:>5} {m.get('driver_jvms', '?'):>3}")
        print(f"{step:28}" + "".join(f"{c:>34}" for c in cells))
    for r in results:
        first = r["passes"][0]
        unbalanced = [s for s, m in first["steps"].items() if not _balanced(s, m)]
        print(f"sf {r['scale']:g}: seed {r['seed_s']:.0f} s, DMS burst {r['dms_changes']} changes in "
              f"{r['capture_s']:.0f} s, run all {first['wall_s']:.0f} s; balance "
              f"{'holds for every step' if not unbalanced else 'FAILS for ' + ', '.join(unbalanced)}")
        if len(r["passes"]) > 1 and "table_rows" in r["passes"][0]:
            # Overwriting steps (fx, the silver rebuilds) write their rows again: what must not change is
            # each table's row count. gold.quality_results is the DQ gate's append-only history.
            before, after = r["passes"][0]["table_rows"], r["passes"][1]["table_rows"]
            changed = {t: (before.get(t), n) for t, n in after.items()
                       if before.get(t) != n and t != "gold.quality_results"}
            print(f"sf {r['scale']:g}: second run all {r['passes'][1]['wall_s']:.0f} s; "
                  + (f"no row count changed in {len(after)} tables" if not changed
                     else "row counts changed (before, after): " + json.dumps(changed)))
    print("\ngrowth of each step's time per 10x of data (linear = 10, bound 12)")
    for a, b in zip(results, results[1:], strict=False):
        factor = b["scale"] / a["scale"]
        for step in steps:
            ta = a["passes"][0]["steps"].get(step, {}).get("seconds") or 0
            tb = b["passes"][0]["steps"].get(step, {}).get("seconds") or 0
            ratio = (tb / ta) * (10 / factor) if ta else float("nan")
            flag = "  OVER 12" if ratio > 12 else ""
            print(f"  sf {a['scale']:g} -> {b['scale']:g}  {step:28} {ratio:6.1f}x per 10x{flag}")

    big, small = results[-1], results[0]
    k = SF_TARGET / big["scale"]
    print(f"\nextrapolated to EMR Serverless at sf {SF_TARGET} from the measured per-row cost "
          f"(workers of {WORKER_VCPU} vCPU / {WORKER_GB} GB, us-east-1 prices)")
    print("  seconds at sf 100 = seconds at the largest scale + marginal s/row x the added rows, the marginal cost")
    print("  measured between the smallest and largest scale (a step's fixed start-up is not multiplied);")
    print("  a step whose rows do not grow with SF (fx: the ECB history) keeps its rows and time")
    print(f"{'step':28} {'local s':>8} {'s/Mrow':>7} {'rows at sf100':>14} {'vCPU-h':>8} {'GB-h':>8} "
          f"{'workers':>8} {'min':>6} {'USD':>7}")
    total_usd = 0.0
    for step, m in big["passes"][0]["steps"].items():
        first = small["passes"][0]["steps"].get(step, m)
        grows = m["read"] > first["read"]
        marginal = (max(0.0, (m["seconds"] - first["seconds"]) / (m["read"] - first["read"]))
                    if grows and big is not small else m["seconds"] / max(1, m["read"]))
        rows = m["read"] * k if grows or big is small else m["read"]
        seconds = m["seconds"] + marginal * (rows - m["read"])
        vcpu_h = seconds * LOCAL_VCPU / 3600  # the work in vCPU-hours (2 local cores)
        workers = max(1, min(50, round(vcpu_h * 3600 / 600 / WORKER_VCPU)))  # aim at ~10 minutes
        minutes = max(1.0, vcpu_h * 60 / (workers * WORKER_VCPU))
        billed_vcpu_h = workers * WORKER_VCPU * minutes / 60
        gb_h = workers * WORKER_GB * minutes / 60
        usd = billed_vcpu_h * PRICE_VCPU_H + gb_h * PRICE_GB_H
        total_usd += usd
        print(f"{step:28} {m['seconds']:>8.0f} {marginal * 1e6:>7.0f} {rows:>14.0f} {billed_vcpu_h:>8.2f} "
              f"{gb_h:>8.2f} {workers:>8} {minutes:>6.1f} {usd:>7.2f}")
    print(f"{'total per run all':28} {'':>8} {'':>7} {'':>14} {'':>8} {'':>8} {'':>8} {'':>6} {total_usd:>7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", nargs="+", type=float, default=[0.01, 0.1, 1.0])
    parser.add_argument("--quick", action="store_true", help="sf 0.01 and 0.1 only (the issue's --quick: sf 0.1 "
                        "against the sample)")
    parser.add_argument("--restore", action="store_true", help="reseed the sources at sf 0.01 at the end")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--report", type=Path, help="print the tables of figures a --json run saved; run nothing")
    opts = parser.parse_args()
    if opts.report:
        report(json.loads(opts.report.read_text()))
        return
    scales = [0.01, 0.1] if opts.quick else sorted(opts.scales)

    from deplat.core.context import Context
    from deplat.local.standins.emr_serverless import record

    ctx = Context()
    found = record(ctx.env.endpoint_url or "")
    if not found:
        sys.exit(f"no EMR Serverless stand-in serves {ctx.env.endpoint_url}: `deplat local up`, `deplat infra apply`")
    runs_dir = Path(found["root"]) / "applications" / ctx.output("emr_application_id") / "runs"
    results = []
    with tempfile.TemporaryDirectory(prefix="deplat-scale-") as tmp:
        for scale in scales:
            print(f"sf {scale:g}: seeding and running...", flush=True)
            def save(partial: dict) -> None:  # after each pass: a stopped later pass keeps the earlier figures
                if opts.json:
                    opts.json.write_text(json.dumps([*results, partial], indent=2, default=str))

            results.append(measure(scale, Path(tmp), runs_dir, rerun=scale == scales[-1], on_pass=save))
            print(f"sf {scale:g}: run all {results[-1]['passes'][0]['wall_s']:.0f} s", flush=True)
            if opts.json:  # after each scale: a later, larger scale that fails keeps the earlier figures
                opts.json.write_text(json.dumps(results, indent=2, default=str))
        if opts.restore:
            restore = {**os.environ, "DEPLAT_LAKE_URI": str(Path(tmp) / "restore")}
            _deplat("local", "seed", "--scale", "0.01", env=restore)
    report(results)


if __name__ == "__main__":
    main()
