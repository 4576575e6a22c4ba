"""`deplat backfill <pipeline> --from D1 --to D2`: one partition run per date, at most N at once.

Each date is `deplat run <pipeline> --partition-date <date>` (RunService.run): idempotent, since every
step replaces exactly that date (replaceWhere / a date-scoped MERGE), and a retried date attaches to
its live run (same idempotency key: pipeline, step, date, deployed manifest). Progress goes through
the reporter (stderr); a state file `.deplat/<env>/backfills/<pipeline>_<from>_<to>.json` records each
date's outcome as it happens, so `--resume` skips the dates already done with the same manifest.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deplat_job.errors import ConfigError, DeplatError, ExitCode, JobFailedError

if TYPE_CHECKING:
    from deplat.core.context import Context

STATE_DIR = "backfills"
MAX_DATES = 3660  # ten years of days: a longer range is almost surely a typo
MAX_CONCURRENCY = 50  # EMR Serverless queues runs beyond the application's capacity anyway
DONE, FAILED, RUNNING, PENDING, SKIPPED, INTERRUPTED, NOT_STARTED = (
    "SUCCESS", "FAILED", "RUNNING", "PENDING", "SKIPPED", "INTERRUPTED", "NOT_STARTED")


@dataclass
class DateRun:
    """One date of a backfill: its state, the run's batch and job run ids, figures from the jobs."""

    date: str
    state: str = PENDING
    batch_id: str | None = None
    run_ids: list[str] = field(default_factory=list)
    duration_s: float | None = None
    error: str | None = None
    exit_code: int | None = None
    manifest_hash: str | None = None
    metrics: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class BackfillResult:
    pipeline: str
    env: str
    date_from: str
    date_to: str
    concurrency: int
    manifest_hash: str
    state_file: str
    dates: list[DateRun]
    elapsed_s: float = 0.0
    interrupted: bool = False

    def count(self, state: str) -> int:
        return sum(1 for d in self.dates if d.state == state)

    @property
    def failed(self) -> list[DateRun]:
        return [d for d in self.dates if d.state == FAILED]

    def to_dict(self) -> dict[str, Any]:
        counts = {s.lower(): self.count(s) for s in (DONE, SKIPPED, FAILED, INTERRUPTED, NOT_STARTED)}
        return {**asdict(self), "counts": counts}


def date_range(date_from: str, date_to: str) -> list[str]:
    """Every date from `date_from` to `date_to`, both included, as YYYY-MM-DD; ConfigError (exit 2)
    for a bad date, an empty range or one longer than MAX_DATES days."""
    try:
        first, last = date.fromisoformat(date_from), date.fromisoformat(date_to)
    except ValueError:
        raise ConfigError(f"--from {date_from!r} / --to {date_to!r}: not dates", "use YYYY-MM-DD") from None
    if last < first:
        raise ConfigError(f"--to {last} is before --from {first}", "give the earlier date as --from")
    days = (last - first).days + 1
    if days > MAX_DATES:
        raise ConfigError(f"{days} dates from {first} to {last}: more than {MAX_DATES}",
                          "backfill in smaller ranges")
    return [(first + timedelta(days=i)).isoformat() for i in range(days)]


def state_path(state_dir: Path, pipeline: str, date_from: str, date_to: str) -> Path:
    """Where the backfill of `pipeline` over [date_from, date_to] records its dates."""
    return state_dir / STATE_DIR / f"{pipeline}_{date_from}_{date_to}.json"


def _utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class _DateReporter:
    """A worker's reporter: keeps its messages, passes warnings on prefixed with the date, no spinner
    (one live line belongs to the backfill, not to each date)."""

    def __init__(self, parent: Any, label: str):
        self._parent, self._label = parent, label
        self.messages: list[str] = []

    def info(self, message: str) -> None:
        self.messages.append(message)

    def warn(self, message: str) -> None:
        self.messages.append(f"warning: {message}")
        self._parent.warn(f"{self._label}: {message}")

    def status(self, message: str):
        from deplat.core.console import NullReporter

        return NullReporter().status(message)


class _LockedAws:
    """ctx.aws for worker threads: boto3 sessions are not thread-safe, so clients are made under a
    lock (the clients themselves are)."""

    def __init__(self, aws: Any, lock: threading.Lock):
        self._aws, self._lock = aws, lock

    def client(self, service: str) -> Any:
        with self._lock:
            return self._aws.client(service)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._aws, name)


class BackfillService:
    """Runs a backfill. `run_service` builds the RunService of one date (tests inject engines)."""

    def __init__(self, ctx: Context, run_service: Callable[..., Any] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.ctx = ctx
        self._run_service = run_service
        self._clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()  # start no more dates (--fail-fast, Ctrl-C)
        self._cancel = threading.Event()  # Ctrl-C: workers stop waiting, their runs keep going

    def run(self, pipeline: str, date_from: str, date_to: str, concurrency: int = 1,
            resume: bool = False, fail_fast: bool = False) -> BackfillResult:
        """Run `pipeline` once per date of [date_from, date_to] (both included), at most `concurrency`
        dates at once, oldest first.

        Usage errors (exit 2) come before anything runs: an unknown pipeline, a step that ignores
        --partition-date, bad dates, concurrency outside 1..MAX_CONCURRENCY. A failed date does not
        stop the others unless `fail_fast` (then dates not yet started are NOT_STARTED; the running
        ones finish). With `resume`, dates the state file records as SUCCESS under the deployed
        manifest are SKIPPED; dates done under another manifest run again. Ctrl-C stops starting
        dates, leaves the started runs running (a resume attaches to them) and raises JobFailedError
        (exit 4) naming the resume command. Returns the result; the caller decides the exit code
        (`raise_for_failures`).
        """
        from deplat.runs import _check_date, _require_built, _require_partition_support, _resolve

        dates = date_range(_check_date(date_from) or "", _check_date(date_to) or "")
        if not 1 <= concurrency <= MAX_CONCURRENCY:
            raise ConfigError(f"--concurrency {concurrency} is outside 1..{MAX_CONCURRENCY}",
                              "EMR Serverless queues runs beyond the application's capacity; pick a few")
        steps = _resolve(pipeline, None)
        _require_built(self.ctx.root, steps)
        _require_partition_support(pipeline, steps)
        factory = self._run_service or _default_run_service
        manifest, _ = factory(self.ctx, time.sleep)._manifest()  # nothing deployed: exit 2 before any date

        path = state_path(self.ctx.state_dir, pipeline, dates[0], dates[-1])
        previous = self._load(path) if resume else {}
        if resume and not previous:
            self.ctx.reporter.warn(f"no earlier backfill of {pipeline} {dates[0]}..{dates[-1]} in this "
                                   "environment: running every date")
        runs = [DateRun(d) for d in dates]
        rerun_other_code = 0
        for run in runs:
            old = previous.get(run.date)
            if old and old.get("state") in (DONE, SKIPPED):
                if old.get("manifest_hash") == manifest.manifest_hash:
                    run.state, run.batch_id, run.run_ids = SKIPPED, old.get("batch_id"), old.get("run_ids", [])
                    run.manifest_hash, run.metrics = old.get("manifest_hash"), old.get("metrics", [])
                else:
                    rerun_other_code += 1
        if rerun_other_code:
            self.ctx.reporter.warn(f"{rerun_other_code} date(s) were done with another deployed manifest: "
                                   f"running them again with {manifest.manifest_hash[:12]}")
        result = BackfillResult(pipeline, self.ctx.env.name, dates[0], dates[-1], concurrency,
                                manifest.manifest_hash, str(path), runs)
        self._save(path, result)
        todo = [r for r in runs if r.state == PENDING]
        start = self._clock()
        aws = _LockedAws(self.ctx.aws, threading.Lock())
        label = f"backfill {pipeline} {dates[0]}..{dates[-1]}"
        self.ctx.reporter.info(f"{label}: {len(dates)} dates, {len(todo)} to run, "
                               f"{len(dates) - len(todo)} done before, at most {concurrency} at once")
        pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="backfill")
        futures: dict[Future, DateRun] = {}
        queue = list(todo)
        try:
            with self.ctx.reporter.status(label) as live:
                while queue or futures:
                    while queue and len(futures) < concurrency and not self._stop.is_set():
                        run = queue.pop(0)
                        run.state = RUNNING
                        futures[pool.submit(self._one, pipeline, run, manifest.manifest_hash, aws)] = run
                        self._save(path, result)
                    if not futures:
                        break
                    finished, _ = wait(list(futures), timeout=1.0, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        run = futures.pop(fut)
                        self._save(path, result)
                        self._report(run)
                        if run.state == FAILED and fail_fast:
                            self._stop.set()
                    live.update(progress_line(label, result, self._clock() - start))
        except KeyboardInterrupt:
            self._stop.set()
            self._cancel.set()
            result.interrupted = True
            for fut in list(futures):
                fut.result()  # each worker leaves at its next poll (its run keeps going)
        finally:
            pool.shutdown(wait=True)
            for run in queue:
                run.state = NOT_STARTED
            result.elapsed_s = round(self._clock() - start, 1)
            self._save(path, result)
        if result.interrupted:
            left = [r for r in runs if r.state == INTERRUPTED]
            ids = ", ".join(i for r in left for i in r.run_ids[-1:])
            raise JobFailedError(
                f"{label} interrupted: {result.count(DONE) + result.count(SKIPPED)} of {len(dates)} dates "
                f"done" + (f"; {len(left)} run(s) left running ({ids})" if left else ""),
                f"resume with `deplat{self._env_flag()} backfill {pipeline} --from {dates[0]} --to {dates[-1]} "
                "--resume` (it skips the done dates and attaches to the running runs)")
        return result

    def _one(self, pipeline: str, run: DateRun, manifest_hash: str, aws: Any) -> None:
        reporter = _DateReporter(self.ctx.reporter, f"{pipeline} {run.date}")
        ctx = self.ctx.scoped(reporter, aws)  # the date's own reporter, thread-safe AWS clients

        def sleep(seconds: float) -> None:
            if self._cancel.wait(seconds):
                raise KeyboardInterrupt  # RunService leaves the run running (no cancel confirmed)

        service = (self._run_service or _default_run_service)(ctx, sleep)  # one per date: not shared
        began = self._clock()
        try:
            out = service.run(pipeline, partition_date=run.date)
        except KeyboardInterrupt:
            run.state = INTERRUPTED
            run.run_ids = _run_ids(reporter.messages)
        except DeplatError as exc:
            run.state, run.exit_code = FAILED, exc.exit_code
            run.error = exc.message + (f": {_cause(exc.detail)}" if exc.detail else "")
            run.run_ids = _run_ids(reporter.messages)
        except Exception as exc:  # noqa: BLE001 - one date's unexpected error must not stop the others
            run.state, run.exit_code = FAILED, ExitCode.UNEXPECTED
            run.error = f"{type(exc).__name__}: {exc}"
        else:
            run.state, run.batch_id = DONE, out.batch_id
            run.run_ids = [s.run_id for s in out.steps]
            run.metrics = out.metrics
        finally:
            run.manifest_hash = manifest_hash
            run.duration_s = round(self._clock() - began, 1)

    def _report(self, run: DateRun) -> None:
        if run.state == DONE:
            written = sum(int(m.get("written") or 0) for m in run.metrics)
            self.ctx.reporter.info(f"{run.date}: SUCCESS in {run.duration_s:.0f}s ({written} rows written)")
        elif run.state == FAILED:
            self.ctx.reporter.warn(f"{run.date}: FAILED after {run.duration_s:.0f}s: {run.error}")

    def _save(self, path: Path, result: BackfillResult) -> None:
        with self._lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            doc = {"pipeline": result.pipeline, "env": result.env, "from": result.date_from,
                   "to": result.date_to, "manifest_hash": result.manifest_hash, "updated_at": _utcnow(),
                   "dates": {r.date: asdict(r) for r in result.dates}}
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(doc, indent=1, default=str))
            os.replace(tmp, path)

    @staticmethod
    def _load(path: Path) -> dict[str, dict[str, Any]]:
        try:
            return json.loads(path.read_text()).get("dates", {})
        except (OSError, ValueError):
            return {}

    def _env_flag(self) -> str:
        name = self.ctx.env.name
        return "" if name == self.ctx.settings.default_env else f" -e {name}"


def progress_line(label: str, result: BackfillResult, elapsed: float) -> str:
    """`<label>: 4/10 done · 3 running · 1 failed · ETA 1m05s`: the ETA is the elapsed time per date
    finished in this invocation times the dates left (unknown until one finishes)."""
    done = result.count(DONE)
    running = result.count(RUNNING)
    failed = result.count(FAILED)
    left = result.count(PENDING) + running
    total = len(result.dates)
    finished = done + failed
    eta = "ETA --" if not finished else f"ETA {_duration(elapsed / finished * left)}"
    skipped = result.count(SKIPPED)
    before = f" ({skipped} skipped)" if skipped else ""
    return (f"{label}: {done + skipped}/{total} done{before} · {running} running · {failed} failed · "
            f"{eta} · {_duration(elapsed)} elapsed")


def raise_for_failures(result: BackfillResult) -> None:
    """JobFailedError (exit 4) naming the failed dates, or DataQualityError (exit 5) when every
    failure was a DQ gate; nothing when every date is done or skipped."""
    failed = result.failed
    if not failed:
        return
    from deplat_job.errors import DataQualityError

    listed = ", ".join(d.date for d in failed[:10]) + (" ..." if len(failed) > 10 else "")
    hint = (f"see each date's error above; `deplat backfill {result.pipeline} --from {result.date_from} "
            f"--to {result.date_to} --resume` reruns only the dates not done")
    cls = DataQualityError if all(d.exit_code == ExitCode.DQ_FAILED for d in failed) else JobFailedError
    raise cls(f"backfill {result.pipeline}: {len(failed)} of {len(result.dates)} dates failed ({listed})", hint)


def _default_run_service(ctx: Context, sleep: Callable[[float], None]) -> Any:
    from deplat.runs import RunService

    return RunService(ctx, sleep=sleep)


def _run_ids(messages: list[str]) -> list[str]:
    """Run ids a RunService reported (`submitted run <id>`, `attached to live run <id>`)."""
    import re

    return re.findall(r"(?:submitted run|attached to live run) (\S+)", "\n".join(messages))


def _cause(detail: str) -> str:
    """The driver excerpt's first named exception other than py4j's wrapper (its root cause), cut to
    300 characters; else its last line."""
    import re

    lines = [line.strip().lstrip(":").strip() for line in detail.splitlines() if line.strip()]
    named = [line for line in lines
             if re.match(r"[\w.$]+(Exception|Error)\b", line) and "Py4JJavaError" not in line]
    return (named[0] if named else lines[-1] if lines else "")[:300]


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else (f"{minutes}m{secs:02d}s" if minutes else f"{secs}s")
