"""`deplat query "SELECT count(*) FROM silver.fx_rates"` vs DuckDB's own bare `delta_scan`.

Both run as fresh processes (interpreter start included on both sides), interleaved, median of N.
The table is the local lake's silver.fx_rates when it exists (`deplat run fx`), else a synthetic
one written with delta-rs in a temp lake (--days daily partitions x 30 currencies).
Target: ratio <= 1.5 (issue 9). Usage: python benchmarks/query_vs_duckdb.py [--runs N] [--lake DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SQL = "SELECT count(*) FROM silver.fx_rates"
BARE = """
import sys, duckdb
from deplat.local.seed_snowflake import duckdb_extension_dir
con = duckdb.connect()
con.execute(f"SET extension_directory = '{duckdb_extension_dir()}'")
con.execute("LOAD delta")
print(con.execute(f"SELECT count(*) FROM delta_scan('{sys.argv[1]}')").fetchall())
"""


def _synthetic(lake: Path, days: int) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    start = dt.date(2020, 1, 1)
    dates = [start + dt.timedelta(days=i) for i in range(days) for _ in range(30)]
    table = pa.table({"ccy": [f"C{i:02d}" for _ in range(days) for i in range(30)],
                      "rate_to_base": [1.0 + i / 1000 for i in range(len(dates))],
                      "as_of_date": dates})
    write_deltalake(str(lake / "silver" / "fx_rates"), table, partition_by=["as_of_date"])


def _time(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env, cwd=ROOT)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--lake", type=Path, default=ROOT / ".deplat" / "local" / "lake")
    parser.add_argument("--days", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        lake = args.lake
        if not (lake / "silver" / "fx_rates" / "_delta_log").is_dir():
            lake = Path(tmp) / "lake"
            _synthetic(lake, args.days)
            print(f"no silver.fx_rates in {args.lake}: synthetic table, {args.days} partitions")
        table = str((lake / "silver" / "fx_rates").resolve())
        env = {**os.environ, "DEPLAT_LAKE_URI": str(lake.resolve())}
        ours_cmd = [sys.executable, "-m", "deplat.cli", "query", SQL, "--format", "csv"]
        bare_cmd = [sys.executable, "-c", BARE, table]
        for cmd in (ours_cmd, bare_cmd):  # warm the page cache for both
            _time(cmd, env)
        ours, bare = [], []
        for _ in range(args.runs):
            bare.append(_time(bare_cmd, env))
            ours.append(_time(ours_cmd, env))
    b, o = statistics.median(bare), statistics.median(ours)
    print(f"table: {table}")
    print(f"bare duckdb delta_scan: {b * 1000:.0f} ms (median of {args.runs})")
    print(f"deplat query:           {o * 1000:.0f} ms (median of {args.runs})")
    print(f"ratio deplat/bare: {o / b:.2f}")


if __name__ == "__main__":
    main()
