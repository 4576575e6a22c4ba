"""`deplat backfill`'s scheduling: one run per date, at most N at once, the state file, --resume,
--fail-fast, exit codes. The runs here are scripted (the real engine path is in
tests/integration/deplat/test_backfill.py); the dates' order, bounds and bookkeeping are what is tested."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from deplat.backfill import BackfillService, date_range, progress_line, raise_for_failures
from deplat.core.console import NullReporter
from deplat_job.errors import ConfigError, DataQualityError, ExitCode, JobFailedError

ROOT = Path(__file__).resolve().parents[3]


class Runs:
    """Scripted RunService: `fail` dates raise, `barrier` makes the first dates wait for each other."""

    def __init__(self, manifest="m1", fail=(), barrier=None, dq=False):
        self.manifest, self.fail, self.barrier, self.dq = manifest, set(fail), barrier, dq
        self.lock = threading.Lock()
        self.active = self.peak = 0
        self.dates: list[str] = []

    def __call__(self, ctx, sleep):
        outer = self

        class Service:
            def _manifest(self):
                return SimpleNamespace(manifest_hash=outer.manifest), "bucket"

            def run(self, pipeline, partition_date=None):
                with outer.lock:
                    outer.active += 1
                    outer.peak = max(outer.peak, outer.active)
                    outer.dates.append(partition_date)
                    first = len(outer.dates) <= (outer.barrier.parties if outer.barrier else 0)
                try:
                    if first:
                        outer.barrier.wait(timeout=10)  # only passes if `parties` dates run at once
                    ctx.reporter.info(f"{pipeline}/step: submitted run lr-{partition_date}")
                    if partition_date in outer.fail:
                        cls = DataQualityError if outer.dq else JobFailedError
                        raise cls(f"{pipeline}/step FAILED (run lr-{partition_date})",
                                  detail="py4j.protocol.Py4JJavaError: x\n: java.lang.RuntimeException: boom")
                    return SimpleNamespace(batch_id=f"b-{partition_date}",
                                           steps=[SimpleNamespace(run_id=f"lr-{partition_date}")],
                                           metrics=[{"step": "s", "written": 3}])
                finally:
                    with outer.lock:
                        outer.active -= 1

        return Service()


@pytest.fixture
def ctx(deplat_env):
    """A real Context of the local env (state in tmp) whose AWS clients are never made."""
    from deplat.core.context import Context

    deplat_env()
    context = Context("local", reporter=NullReporter())
    context.__dict__["aws"] = SimpleNamespace(client=None)  # over the cached_property: no AWS here
    return context


def test_date_range_is_inclusive_and_checked():
    assert date_range("2024-02-27", "2024-03-01") == ["2024-02-27", "2024-02-28", "2024-02-29", "2024-03-01"]
    with pytest.raises(ConfigError, match="before"):
        date_range("2024-01-02", "2024-01-01")
    with pytest.raises(ConfigError):
        date_range("2024-01-02", "yesterday")


def test_runs_every_date_once_at_most_n_at_once(ctx):
    runs = Runs(barrier=threading.Barrier(3))
    result = BackfillService(ctx, runs).run("fx", "2024-01-01", "2024-01-10", concurrency=3)
    assert sorted(runs.dates) == date_range("2024-01-01", "2024-01-10")
    assert runs.peak == 3  # the barrier proved 3 at once; never more
    assert result.count("SUCCESS") == 10 and not result.failed
    doc = json.loads(Path(result.state_file).read_text())
    assert {d["state"] for d in doc["dates"].values()} == {"SUCCESS"}
    assert doc["dates"]["2024-01-05"]["run_ids"] == ["lr-2024-01-05"]
    raise_for_failures(result)  # nothing failed: no error


def test_a_failed_date_does_not_stop_the_others_and_exits_4(ctx):
    runs = Runs(fail={"2024-01-02"})
    result = BackfillService(ctx, runs).run("fx", "2024-01-01", "2024-01-05", concurrency=2)
    assert len(runs.dates) == 5 and result.count("SUCCESS") == 4
    (failed,) = result.failed
    assert failed.date == "2024-01-02" and failed.run_ids == ["lr-2024-01-02"]
    assert failed.error.endswith("java.lang.RuntimeException: boom")  # the cause, not py4j's wrapper
    with pytest.raises(JobFailedError, match=r"1 of 5 dates failed \(2024-01-02\)") as exc:
        raise_for_failures(result)
    assert exc.value.exit_code == ExitCode.JOB_FAILED and "--resume" in exc.value.hint


def test_only_dq_failures_exit_5(ctx):
    result = BackfillService(ctx, Runs(fail={"2024-01-01"}, dq=True)).run("fx", "2024-01-01", "2024-01-02")
    with pytest.raises(DataQualityError):
        raise_for_failures(result)


def test_fail_fast_starts_no_more_dates(ctx):
    runs = Runs(fail={"2024-01-01"})
    result = BackfillService(ctx, runs).run("fx", "2024-01-01", "2024-01-06", concurrency=1, fail_fast=True)
    assert runs.dates == ["2024-01-01"]
    assert result.count("NOT_STARTED") == 5


def test_resume_skips_dates_done_with_the_same_manifest_only(ctx):
    BackfillService(ctx, Runs(fail={"2024-01-03", "2024-01-04"})).run("fx", "2024-01-01", "2024-01-05")
    again = Runs()
    result = BackfillService(ctx, again).run("fx", "2024-01-01", "2024-01-05", resume=True)
    assert sorted(again.dates) == ["2024-01-03", "2024-01-04"]
    assert result.count("SKIPPED") == 3 and result.count("SUCCESS") == 2
    assert "(3 skipped)" in progress_line("bf", result, 10.0)

    redeployed = Runs(manifest="m2")
    BackfillService(ctx, redeployed).run("fx", "2024-01-01", "2024-01-05", resume=True)
    assert len(redeployed.dates) == 5  # done with other code: run again

    fresh = Runs(manifest="m2")
    BackfillService(ctx, fresh).run("fx", "2024-01-01", "2024-01-05")  # no --resume: every date
    assert len(fresh.dates) == 5


def test_usage_errors_before_any_run(ctx):
    runs = Runs()
    with pytest.raises(ConfigError, match="concurrency"):
        BackfillService(ctx, runs).run("fx", "2024-01-01", "2024-01-02", concurrency=0)
    with pytest.raises(ConfigError, match="partition-date"):
        BackfillService(ctx, runs).run("snowflake", "2024-01-01", "2024-01-02")  # its steps ignore the date
    with pytest.raises(ConfigError, match="unknown pipeline"):
        BackfillService(ctx, runs).run("nope", "2024-01-01", "2024-01-02")
    assert runs.dates == []


def test_progress_line_counts_and_eta(ctx):
    result = BackfillService(ctx, Runs()).run("fx", "2024-01-01", "2024-01-04")
    result.dates[2].state, result.dates[3].state = "RUNNING", "PENDING"
    line = progress_line("backfill fx", result, 20.0)
    # 2 finished in 20 s -> 10 s each; 2 left -> 20 s
    assert line.startswith("backfill fx: 2/4 done · 1 running · 0 failed · ETA 20s")
