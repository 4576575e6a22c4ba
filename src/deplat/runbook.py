"""The whole runbook as one resumable command (`deplat runbook`).

Each step calls a service function (never the CLI): local stack, Terraform apply, local sources and
their DMS capture, deploy, every pipeline (each gated by its own DQ checks where the pipeline has
them), Glue catalog registration, Lake Formation seeding, Delta maintenance and a sample query.

State lives in `.deplat/<env>/runbook.json`, rewritten on every state change, so `--resume`
continues from the step that failed (or was interrupted, or was not built) with the same selection
of steps. Each step keeps every attempt (the failed one and the retry after `--resume`), so the
report of a resumed runbook still shows what failed. Every finished runbook is also appended to
`.deplat/<env>/runbooks.jsonl` for `deplat report`. A step whose job is not in the project's jobs/
folder (NotBuiltError from deplat.runs) is recorded as `not built` (never as a success), the later
steps still run, and the runbook ends incomplete (exit 2).
"""

from __future__ import annotations

import json
import os
import secrets
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deplat_job.errors import ConfigError, DeplatError, ExitCode, NotBuiltError, SafetyError

if TYPE_CHECKING:
    from deplat.core.context import Context

STATE_FILE = "runbook.json"
LOCK_FILE = "runbook.lock"
HISTORY_FILE = "runbooks.jsonl"

# Step states. `earlier`: done by the runbook being resumed, not rerun now.
PENDING, RUNNING, OK, FAILED, NOT_BUILT, SKIPPED, EARLIER = (
    "pending", "running", "ok", "failed", "not built", "skipped", "ok (earlier)")
DONE_STATES = (OK, EARLIER)
# An attempt still `running` in the state file when the runbook is resumed: its process died
# (killed, machine lost) before it could record an end.
INTERRUPTED = "interrupted"
EXCERPT_CHARS = 4000  # the tail of a failed attempt's error detail kept in the state file

SAMPLE_CHANGES = 10  # the demo's burst of inserts/updates/deletes, applied once per fresh source
KAFKA_EVENTS, KAFKA_BAD_RATIO, KAFKA_SEED = 500, 0.05, 14  # sample order events, once per empty topic
SAMPLE_QUERY = "top_customers_30_days"  # one of the runbook's Athena examples (deplat.query)


@dataclass
class StepOutcome:
    """What a step returns: counted rows written, its DQ verdict, and the figures worth showing."""

    rows_written: int | None = None
    dq: str | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    run_ids: list[str] = field(default_factory=list)
    note: str = ""


@dataclass(frozen=True)
class RunbookStep:
    """One step: `action(ctx, runbook)` runs it (importing the services it calls when it runs)."""

    name: str
    title: str
    action: Callable[[Context, Runbook], StepOutcome]
    local_only: bool = False


@dataclass
class Attempt:
    """One try of a step within a runbook: attempt `n` (from 1), its own status, start/end (ISO 8601
    UTC), duration in seconds, exit code, error and the tail of its error detail (a driver log
    excerpt or a traceback, at most EXCERPT_CHARS), the job run ids it submitted, rows written."""

    n: int
    status: str
    started_at: str
    ended_at: str | None = None
    duration_s: float | None = None
    exit_code: int | None = None
    error: str | None = None
    error_excerpt: str | None = None
    run_ids: list[str] = field(default_factory=list)
    rows_written: int | None = None


@dataclass
class StepRecord:
    name: str
    title: str
    status: str = PENDING
    started_at: str | None = None
    ended_at: str | None = None
    duration_s: float | None = None
    rows_written: int | None = None
    dq: str | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    run_ids: list[str] = field(default_factory=list)
    note: str = ""
    error: str | None = None
    error_detail: str | None = None
    exit_code: int | None = None
    attempts: list[Attempt] = field(default_factory=list)  # every try, oldest first (kept across --resume)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepRecord:
        known, attempt_fields = set(cls.__dataclass_fields__), set(Attempt.__dataclass_fields__)
        rec = cls(**{k: v for k, v in data.items() if k in known and k != "attempts"})
        rec.attempts = [Attempt(**{k: v for k, v in a.items() if k in attempt_fields})
                        for a in data.get("attempts") or []]
        return rec


@dataclass
class RunbookResult:
    """The runbook's summary; `error` is the failing step's own error (its exit code is the runbook's)."""

    runbook_id: str
    env: str
    status: str  # running | ok | failed | incomplete | dry-run
    started_at: str
    ended_at: str | None
    duration_s: float | None
    selection: list[str]
    resumed_from: str | None
    steps: list[StepRecord]
    error: DeplatError | BaseException | None = None

    @property
    def exit_code(self) -> int:
        if self.status == "failed":
            step = self.failed_step
            if step is not None and step.exit_code is not None:
                return step.exit_code
            return int(getattr(self.error, "exit_code", ExitCode.UNEXPECTED))
        if self.status == "incomplete":
            return ExitCode.USAGE
        return ExitCode.OK

    @property
    def failed_step(self) -> StepRecord | None:
        return next((s for s in self.steps if s.status == FAILED), None)

    def to_dict(self) -> dict[str, Any]:
        return {"runbook_id": self.runbook_id, "env": self.env, "status": self.status,
                "exit_code": self.exit_code, "started_at": self.started_at, "ended_at": self.ended_at,
                "duration_s": self.duration_s, "selection": self.selection, "resumed_from": self.resumed_from,
                "steps": [s.to_dict() for s in self.steps]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunbookResult:
        steps = [StepRecord.from_dict(s) for s in data.get("steps", [])]
        return cls(data["runbook_id"], data["env"], data["status"], data["started_at"], data.get("ended_at"),
                   data.get("duration_s"), list(data.get("selection", [])), data.get("resumed_from"), steps)


EventFn = Callable[[str, StepRecord, int, int], None]  # (event, record, index from 1, total)


def _utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class Runbook:
    """Runs the runbook's steps in order, persisting state; see the module docstring.

    `steps` (default: RUNBOOK_STEPS), `clock` and `on_event` are injectable so the state machine
    is testable without a JVM. `on_event(event, record, i, n)` is called with "start" and "end" of
    each step (i of n selected); services' own progress goes through `ctx.reporter`. Never prints.
    """

    def __init__(self, ctx: Context, steps: Sequence[RunbookStep] | None = None, *,
                 on_event: EventFn | None = None, clock: Callable[[], float] = time.monotonic,
                 yes: bool = False):
        self.ctx = ctx
        self.steps = list(RUNBOOK_STEPS if steps is None else steps)
        self.on_event = on_event or (lambda *a: None)
        self.clock = clock
        self.yes = yes
        self.outcomes: dict[str, StepOutcome] = {}
        self.result: RunbookResult | None = None

    # --- paths ----------------------------------------------------------------------------

    @property
    def state_file(self) -> Path:
        return self.ctx.state_dir / STATE_FILE

    @property
    def history_file(self) -> Path:
        return self.ctx.state_dir / HISTORY_FILE

    def load_state(self) -> RunbookResult | None:
        """The last runbook of this environment (finished or not), or None."""
        if not self.state_file.is_file():
            return None
        try:
            return RunbookResult.from_dict(json.loads(self.state_file.read_text()))
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{self.state_file} is not a runbook state file ({exc})",
                              "delete it and run `deplat runbook` without --resume") from None

    def _save(self, result: RunbookResult) -> None:
        tmp = self.state_file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(result.to_dict(), indent=2, default=str))
        tmp.replace(self.state_file)  # atomic: a crash never leaves half a state file

    # --- planning -------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.steps]

    def _check_names(self, names: Sequence[str], flag: str) -> None:
        unknown = [n for n in names if n not in self.names]
        if unknown:
            raise ConfigError(f"{flag}: unknown step {', '.join(map(repr, unknown))}",
                              f"steps, in order: {' '.join(self.names)}")

    def select(self, from_step: str | None = None, only: Sequence[str] | None = None) -> list[str]:
        """The step names to run, in runbook order: all, from `from_step` on, or exactly `only`."""
        if from_step and only:
            raise ConfigError("--from and --only do not combine", "pass one of them")
        if from_step:
            self._check_names([from_step], "--from")
            return self.names[self.names.index(from_step):]
        if only:
            self._check_names(only, "--only")
            return [n for n in self.names if n in set(only)]
        return list(self.names)

    def _skip_reason(self, step: RunbookStep) -> str | None:
        if step.local_only and not self.ctx.env.is_local:
            return "local env only"
        return None

    # --- running --------------------------------------------------------------------------

    def run(self, from_step: str | None = None, only: Sequence[str] | None = None, resume: bool = False,
            dry_run: bool = False) -> RunbookResult:
        """Run the selected steps; stop at the first failure (the result's `error` is its error).

        Returns the result in every case (status ok, failed, incomplete or dry-run); the caller
        renders it and exits with `result.exit_code`. ConfigError for bad selections or when there
        is nothing to resume; SafetyError (exit 7) while another runbook runs in the environment.
        """
        if dry_run:
            return self._run(from_step, only, resume, dry_run)
        with self._exclusive():
            return self._run(from_step, only, resume, dry_run)

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One runbook per environment at a time: two would overwrite each other's state file."""
        import fcntl

        with (self.ctx.state_dir / LOCK_FILE).open("a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                holder = fh.read().strip() or "unknown pid"
                raise SafetyError(f"another runbook is running in environment '{self.ctx.env.name}' ({holder})",
                                  "wait for it to finish, or stop it and continue with --resume") from None
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()}")
            fh.flush()
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _run(self, from_step: str | None, only: Sequence[str] | None, resume: bool,
             dry_run: bool) -> RunbookResult:
        previous = self.load_state() if resume else None
        if resume:
            if from_step or only:
                raise ConfigError("--resume continues the last runbook's own selection",
                                  "drop --from/--only, or run without --resume")
            if previous is None:
                raise ConfigError(f"no runbook to resume in environment '{self.ctx.env.name}'",
                                  "run `deplat runbook` first")
            if previous.status == "ok":
                raise ConfigError(f"the last runbook ({previous.runbook_id}) completed: nothing to resume",
                                  "run `deplat runbook` to start a new one")
            selection = [n for n in previous.selection if n in self.names]
        else:
            selection = self.select(from_step, only)

        if previous is not None:
            result = previous
            result.steps = [self._merge(s, previous) for s in self.steps]
            first = next((r.name for r in result.steps if r.name in selection and r.status not in DONE_STATES),
                         None)
            for r in result.steps:
                if r.status == OK:
                    r.status = EARLIER
            result.resumed_from = first
            result.status, result.ended_at, result.duration_s = "running", None, None
        else:
            result = RunbookResult(f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}",
                                   self.ctx.env.name, "running", _utcnow(), None, None, selection, None,
                                   [StepRecord(s.name, s.title) for s in self.steps])
        self.result = result
        if dry_run:
            return self._dry_run(result, selection)

        started = self.clock()
        self._save(result)
        todo = [(s, r) for s, r in zip(self.steps, result.steps, strict=True)
                if s.name in selection and r.status not in DONE_STATES]
        for s, r in zip(self.steps, result.steps, strict=True):
            if s.name not in selection and r.status not in DONE_STATES:
                r.status, r.note = SKIPPED, "not selected"
        total = len(todo)
        for i, (step, record) in enumerate(todo, 1):
            reason = self._skip_reason(step)
            if reason:
                record.status, record.note = SKIPPED, reason
                self.on_event("end", record, i, total)
                continue
            if not self._run_step(step, record, i, total, result):
                break
        result.ended_at = _utcnow()
        result.duration_s = round(self.clock() - started, 3)
        if result.status == "running":
            result.status = "incomplete" if any(r.status == NOT_BUILT for r in result.steps) else "ok"
        self._save(result)
        with self.history_file.open("a") as fh:
            fh.write(json.dumps(result.to_dict(), default=str, sort_keys=True) + "\n")
        return result

    def _merge(self, step: RunbookStep, previous: RunbookResult) -> StepRecord:
        old = next((r for r in previous.steps if r.name == step.name), None)
        if old is None:
            return StepRecord(step.name, step.title)
        if old.status in DONE_STATES:
            return old
        # failed / not built / interrupted: rerun from scratch, keeping the earlier attempts
        for a in old.attempts:
            if a.status == RUNNING:
                a.status, a.error = INTERRUPTED, "the runbook process ended during this attempt"
        return StepRecord(step.name, step.title, attempts=old.attempts)

    def _run_step(self, step: RunbookStep, record: StepRecord, i: int, total: int,
                  result: RunbookResult) -> bool:
        record.status, record.started_at, record.error, record.exit_code = RUNNING, _utcnow(), None, None
        record.error_detail, record.ended_at, record.duration_s = None, None, None
        attempt = Attempt(len(record.attempts) + 1, RUNNING, record.started_at)
        record.attempts.append(attempt)
        self._save(result)
        self.on_event("start", record, i, total)
        t0 = self.clock()
        ok = True
        try:
            outcome = step.action(self.ctx, self)
        except NotBuiltError as exc:
            record.status, record.note = NOT_BUILT, exc.message
        except DeplatError as exc:
            record.status, record.error, record.error_detail = FAILED, str(exc), exc.detail
            record.run_ids = list(getattr(exc, "run_ids", []))
            if exc.exit_code in (ExitCode.DQ_FAILED, ExitCode.DQ_WARN):
                record.dq = "fail" if exc.exit_code == ExitCode.DQ_FAILED else "warn"
            record.exit_code = exc.exit_code
            result.status, result.error, ok = "failed", exc, False
        except BaseException as exc:  # noqa: BLE001 - recorded, then the runbook stops with it
            interrupted = isinstance(exc, KeyboardInterrupt)
            record.status = FAILED
            record.error = "interrupted" if interrupted else f"{type(exc).__name__}: {exc}"
            record.error_detail = None if interrupted else traceback.format_exc(limit=6)
            record.exit_code = 130 if interrupted else ExitCode.UNEXPECTED
            result.status, result.error, ok = "failed", exc, False
        else:
            self.outcomes[step.name] = outcome
            record.status = OK
            record.rows_written, record.dq = outcome.rows_written, outcome.dq
            record.figures, record.run_ids, record.note = outcome.figures, outcome.run_ids, outcome.note
        record.ended_at = _utcnow()
        record.duration_s = round(self.clock() - t0, 3)
        attempt.status, attempt.ended_at, attempt.duration_s = record.status, record.ended_at, record.duration_s
        attempt.exit_code, attempt.error, attempt.run_ids = record.exit_code, record.error, list(record.run_ids)
        attempt.error_excerpt = record.error_detail[-EXCERPT_CHARS:] if record.error_detail else None
        attempt.rows_written = record.rows_written
        self._save(result)
        self.on_event("end", record, i, total)
        return ok

    def _dry_run(self, result: RunbookResult, selection: list[str]) -> RunbookResult:
        for step, record in zip(self.steps, result.steps, strict=True):
            if record.status in DONE_STATES:
                continue
            reason = self._skip_reason(step)
            if step.name not in selection:
                record.status, record.note = SKIPPED, "not selected"
            elif reason:
                record.status, record.note = SKIPPED, reason
            else:
                record.status, record.note = PENDING, "would run"
        result.status = "dry-run"
        return result

    def outcome(self, name: str) -> StepOutcome | None:
        """A done step's outcome: from this process, else as recorded by the runbook being resumed."""
        if name in self.outcomes:
            return self.outcomes[name]
        steps = self.result.steps if self.result else []
        rec = next((r for r in steps if r.name == name), None)
        if rec is None or rec.status not in DONE_STATES:
            return None
        return StepOutcome(rec.rows_written, rec.dq, dict(rec.figures), list(rec.run_ids), rec.note)


# --- the steps ------------------------------------------------------------------------------


def _local_up(ctx: Context, rb: Runbook) -> StepOutcome:
    from deplat.local.jars import cached_jars, ensure_jars
    from deplat.local.stack import LocalStack

    if cached_jars() is None:
        with ctx.reporter.status("Resolving Spark jars from Maven Central (once)..."):
            ensure_jars()
    with ctx.reporter.status("Starting local services..."):
        statuses = LocalStack(ctx.stack_dir, ctx.settings.local_stack).up()
    unhealthy = [s.name for s in statuses if not s.healthy]
    if unhealthy:
        from deplat_job.errors import LocalStackError

        raise LocalStackError(f"local services not healthy: {', '.join(unhealthy)}",
                              "see `deplat local status` and the log files under .deplat/stack/")
    started = [s.name for s in statuses if s.action and s.action != "already running"]
    return StepOutcome(figures={"services": len(statuses), "started": len(started)},
                       note=f"{len(statuses)} services healthy")


def _infra(ctx: Context, rb: Runbook) -> StepOutcome:
    from deplat.infra import Infra

    infra = Infra(ctx)
    planned = infra.plan()
    # The local platform is disposable: the runbook applies it unattended; elsewhere --yes decides.
    applied = infra.apply(planned, confirmed=rb.yes or ctx.env.is_local)
    n = planned.summary.counts
    return StepOutcome(figures={"add": n["add"], "change": n["change"], "destroy": n["destroy"],
                                "seconds": round(applied.seconds, 1)},
                       note="applied" if applied.applied else "no changes")


def _seed(ctx: Context, rb: Runbook) -> StepOutcome:
    from deplat.local.seed import seed_all

    res = seed_all(ctx)
    inserted = sum(res.rds["rows"].values())
    loaded = sum((res.dms.get("full_load_rows") or {}).values())
    return StepOutcome(rows_written=inserted + loaded,
                       figures={"rds_rows_inserted": inserted, "dms_full_load_rows": loaded,
                                "fresh": bool(inserted)},
                       # Seeding always (re)writes the stand-ins' secrets: say so, a secret put by
                       # hand for a local experiment is replaced here.
                       note=("sources seeded now" if inserted else "sources already seeded")
                       + "; stand-in secrets (re)written: snowflake, salesforce, rds")


def _dms_capture(ctx: Context, rb: Runbook) -> StepOutcome:
    from deplat.local.seed import capture

    # The demo's change burst only goes into a freshly seeded source: a second runbook must
    # find nothing new to capture and so change no row count anywhere.
    seed = rb.outcome("seed")
    fresh = bool(seed and seed.figures.get("fresh"))
    res = capture(ctx, sample_changes=SAMPLE_CHANGES if fresh else 0)
    changes = {t: sum(c.values()) for t, c in res.get("changes", {}).items()}
    return StepOutcome(rows_written=sum(changes.values()), figures={"changes": changes},
                       note="sample changes applied" if fresh else "no sample changes (source not fresh)")


def _deploy(ctx: Context, rb: Runbook) -> StepOutcome:
    from deplat.artifacts import deploy

    res = deploy(ctx)
    return StepOutcome(figures={"uploaded": len(res.uploaded), "manifest": res.manifest_hash[:12]},
                       note=f"{len(res.uploaded)} files uploaded")


def _local_fx_end() -> datetime:
    """The last day of the ECB history the local stack ships: sample orders dated after it would find no
    FX rate and be rejected by gold (the packaged copy is a snapshot, the cloud reads the live ECB file)."""
    from deplat_job.sources.fx import PACKAGED, fetch, parse

    last = max(parse(fetch(PACKAGED)).dates)
    return datetime.strptime(last, "%Y-%m-%d").replace(hour=23, minute=59, tzinfo=timezone.utc)


def _kafka_produce(ctx: Context, rb: Runbook) -> StepOutcome:
    from deplat.kafka import ensure_topic, produce

    with ctx.reporter.status("Checking the orders topic..."):
        info = ensure_topic(ctx)
    if info.messages:
        # Like the sample changes: only a fresh topic gets events, so a rerun adds no rows.
        return StepOutcome(rows_written=0, figures={"topic": info.topic, "messages": info.messages},
                           note=f"topic already has {info.messages} events: none produced")
    with ctx.reporter.status(f"Producing {KAFKA_EVENTS} sample order events..."):
        res = produce(ctx, KAFKA_EVENTS, bad_ratio=KAFKA_BAD_RATIO, seed=KAFKA_SEED, until=_local_fx_end())
    return StepOutcome(rows_written=res.produced, figures={"topic": res.topic, "bad": sum(res.bad.values())},
                       note=f"{res.produced} events ({sum(res.bad.values())} malformed, for the DLQ)")


def dq_summary(metrics: list[dict[str, Any]]) -> str | None:
    """pass / warn (n) / fail (n) from a DQ gate step's metrics (the dq_check job's `dq` record)."""
    suites = [suite for m in metrics if isinstance(m.get("dq"), list) for suite in m["dq"]]
    if not suites:
        return None
    failed = [r for s in suites for r in s.get("results", []) if not r.get("success")]
    errors = [r for r in failed if r.get("severity") in ("error", "critical")]
    if errors:
        return f"fail ({len(errors)})"
    if failed:
        return f"warn ({len(failed)})"
    return f"pass ({len(suites)} suites)"


def written_by_step(steps: Sequence[Any]) -> dict[str, int]:
    """Rows each job step wrote: the `written` of its DEPLAT_METRICS record(s), counted by the job
    (per-table records, `kind: table`, are inside the step's own total and not added again).

    A silver step rebuilds its table from the whole bronze table, so a no-op rerun still writes
    (rewrites) every silver row while its bronze step writes 0: the breakdown shows which is which.
    """
    out: dict[str, int] = {}
    for s in steps:
        counts = [m["written"] for m in s.metrics if isinstance(m.get("written"), int) and m.get("kind") != "table"]
        if counts:
            out[s.step] = out.get(s.step, 0) + sum(counts)
    return out


def _pipeline(name: str) -> Callable[[Context, Runbook], StepOutcome]:
    def action(ctx: Context, rb: Runbook) -> StepOutcome:
        from deplat.services import run_service

        svc = run_service(ctx)
        since = datetime.now(timezone.utc).isoformat(timespec="seconds")
        try:
            res = svc.run(name, wait=True)
        except DeplatError as exc:
            # Keep the failed step's job runs for the report's timeline and the benchmark.
            exc.run_ids = [r["run_id"] for r in reversed(svc.history.records())  # type: ignore[attr-defined]
                           if r.get("pipeline") == name and r.get("submitted_at", "") >= since]
            raise
        by_step = written_by_step(res.steps)
        gate = [m for s in res.steps if s.step == "dq_check" for m in s.metrics]
        spark = sum(s.duration_s or 0 for s in res.steps)
        return StepOutcome(rows_written=sum(by_step.values()) if by_step else None, dq=dq_summary(gate),
                           figures={"batch_id": res.batch_id, "job_steps": len(res.steps),
                                    "job_seconds": round(spark, 1), "written": by_step,
                                    # each job's run and its counted metrics, as `deplat run -o json` gives them
                                    "jobs": [{"step": s.step, "run_id": s.run_id, "state": s.state,
                                              "duration_s": s.duration_s} for s in res.steps],
                                    "metrics": res.metrics},
                           run_ids=[s.run_id for s in res.steps],
                           note="written: " + ", ".join(f"{k} {v:,}" for k, v in by_step.items()) if by_step else "")
    return action


def _catalog(ctx: Context, rb: Runbook) -> StepOutcome:
    from deplat.catalog import layers_for, reconcile

    res = reconcile(ctx, layers_for(None), None, apply=True)
    counts: dict[str, int] = {}
    for a in res.actions:
        counts[a.action] = counts.get(a.action, 0) + 1
    return StepOutcome(figures=counts, note=", ".join(f"{n} {k}" for k, n in sorted(counts.items())))


def _lf(ctx: Context, rb: Runbook) -> StepOutcome:
    from deplat.governance import LakeFormation

    res = LakeFormation(ctx).seed()
    counts = res.counts()
    note = ", ".join(f"{n} {k}" for k, n in counts.items())
    return StepOutcome(figures=counts, note=note + (f"; {len(res.warnings)} warnings" if res.warnings else ""))


def _optimize(ctx: Context, rb: Runbook) -> StepOutcome:
    from deplat.maintenance import optimize

    res = optimize(ctx)
    return StepOutcome(figures={"tables": len(res.tables), "batch_id": res.batch_id}, run_ids=[res.run_id],
                       note=f"{len(res.tables)} tables optimized/vacuumed")


def _query(ctx: Context, rb: Runbook) -> StepOutcome:
    from deplat.query import glue_databases, run_query, runbook_examples

    sql = runbook_examples(glue_databases(ctx).get("silver", "silver"))[SAMPLE_QUERY]
    res = run_query(ctx, sql)
    return StepOutcome(figures={"rows": len(res.rows), "engine": res.engine, "seconds": round(res.elapsed_s, 2)},
                       note=f"{SAMPLE_QUERY}: {len(res.rows)} rows ({res.engine})")


PIPELINE_STEPS = ("fx", "snowflake", "salesforce", "dms", "kafka", "gold")

RUNBOOK_STEPS: tuple[RunbookStep, ...] = (
    RunbookStep("local-up", "local stack (moto, PostgreSQL, fakesnow, Salesforce stand-in, Kafka)", _local_up,
                local_only=True),
    RunbookStep("infra", "Terraform apply", _infra),
    RunbookStep("seed", "seed the local sources", _seed, local_only=True),
    RunbookStep("dms-capture", "capture RDS changes as DMS files", _dms_capture, local_only=True),
    RunbookStep("kafka-produce", "sample order events into an empty topic", _kafka_produce,
                local_only=True),
    RunbookStep("deploy", "deploy artifacts", _deploy),
    *(RunbookStep(p, f"pipeline {p}" + (" (DQ gate before gold)" if p == "gold" else ""), _pipeline(p))
      for p in PIPELINE_STEPS),
    RunbookStep("catalog", "register Delta tables in Glue", _catalog),
    RunbookStep("lf", "seed Lake Formation tags and grants", _lf),
    RunbookStep("optimize", "OPTIMIZE / VACUUM (deplat run maintenance)", _optimize),
    RunbookStep("query", "sample query", _query),
)
