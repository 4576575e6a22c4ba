"""No-op `deplat deploy` (nothing changed) vs one listing of the artifacts bucket, side by side.

Target (DESIGN.md section 7): zero bytes uploaded, time close to one bucket listing. Runs against
the local moto server (`deplat local up`) with a fresh bucket and a temporary DEPLAT_HOME; the repo
tree itself is what gets deployed. Prints the ratio last.
Usage: python benchmarks/deploy_noop.py [--runs N] [--no-deps-archive] [--cli-runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _median_ms(fn, runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--cli-runs", type=int, default=3, help="also time the CLI as a subprocess (0: skip)")
    parser.add_argument("--no-deps-archive", action="store_true", help="leave the dependency archive out")
    args = parser.parse_args()
    deps = not args.no_deps_archive

    home = Path(tempfile.mkdtemp(prefix="deplat-bench-"))
    bucket = f"deplat-bench-{uuid.uuid4().hex[:8]}"
    os.environ["DEPLAT_HOME"] = str(home)
    os.environ["DEPLAT_CONFIG"] = str(ROOT / "config" / "deplat.yaml")
    os.environ.pop("DEPLAT_ENV", None)

    from deplat.artifacts import deploy
    from deplat.core.context import Context

    ctx = Context()
    s3 = ctx.aws.client("s3")
    s3.create_bucket(Bucket=bucket)
    ctx.state_dir.mkdir(parents=True, exist_ok=True)
    ctx.outputs_file.write_text(json.dumps({"artifacts_bucket": bucket}))

    first = deploy(ctx, deps_archive=deps)  # uploads everything (and fills the build caches)
    print(f"first deploy: {len(first.uploaded)} files, {first.uploaded_bytes / 1e6:.1f} MB uploaded")
    noop = deploy(ctx, deps_archive=deps)
    assert noop.uploaded_bytes == 0 and not noop.manifest_written, "the second deploy must be a no-op"
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    objects = sum(len(page.get("Contents", [])) for page in pages)

    deploy_ms = _median_ms(lambda: deploy(ctx, deps_archive=deps), args.runs)
    listing_ms = _median_ms(lambda: s3.list_objects_v2(Bucket=bucket), args.runs)
    print(f"no-op deploy (service call):    {deploy_ms:8.1f} ms  median of {args.runs}; "
          f"0 bytes uploaded, {len(noop.skipped)} files ({noop.skipped_bytes / 1e6:.1f} MB) skipped")
    if args.cli_runs:
        cmd = [sys.executable, "-c", "from deplat.cli import main; main()", "deploy"]
        cmd += [] if deps else ["--no-deps-archive"]
        cli_ms = _median_ms(lambda: subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL,
                                                   stderr=subprocess.DEVNULL), args.cli_runs)
        print(f"no-op deploy (CLI subprocess):  {cli_ms:8.1f} ms  median of {args.cli_runs} "
              "(includes interpreter start and imports)")
    print(f"one list_objects_v2 listing:    {listing_ms:8.1f} ms  median of {args.runs}; {objects} objects")
    print(f"ratio no-op deploy / listing: {deploy_ms / listing_ms:.2f}x")


if __name__ == "__main__":
    main()
