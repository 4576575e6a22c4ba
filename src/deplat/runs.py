"""The run service behind `deplat run`, `deplat logs` and `deplat status`.

A pipeline resolves to ordered steps; each step runs the deployed `jobs/<step>.py` (from the current
manifest) on the environment's engine, under an idempotency key of (pipeline, step, partition,
deployed manifest hash). Runs are recorded in `.deplat/<env>/runs.jsonl` (append-only; the last
record of a run id wins) for `status` and `logs`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from deplat.engines.base import TERMINAL_STATES, JobEngine, JobSpec, PollPolicy, RunRef, RunState
from deplat_job.errors import (
    ApplicationNotFoundError,
    ConfigError,
    DeplatError,
    EndpointUnreachableError,
    JobFailedError,
    NotBuiltError,
)

if TYPE_CHECKING:
    from deplat.core.context import Context

HISTORY_FILE = "runs.jsonl"
# An EMR Serverless jobRunId is 1-64 of [0-9a-z] (the service's API model; the local stand-in's are
# moto's 16). Never a path: no '/', '.' or whitespace.
RUN_ID = re.compile(r"[0-9a-z]{1,64}")


def check_run_id(run_id: str) -> str:
    """`run_id` if it has a run id's format (RUN_ID), else ConfigError (exit 2). Run ids become parts of
    API paths, S3 log keys and CloudWatch stream names, so nothing else may pass."""
    if not RUN_ID.fullmatch(run_id):
        raise ConfigError(f"{run_id!r} is not a run id",
                          "a run id is an EMR Serverless job run id (1-64 of [0-9a-z]); "
                          "`deplat status` lists them")
    return run_id


def idempotency_key(pipeline: str, step: str, partition: str | None, manifest_hash: str) -> str:
    """Same pipeline, step, partition and deployed code -> same key -> never two live runs."""
    raw = "\0".join((pipeline, step, partition or "", manifest_hash))
    return hashlib.sha256(raw.encode()).hexdigest()


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class StepRun:
    pipeline: str
    step: str
    run_id: str
    state: str
    details: str = ""
    attached: bool = False
    duration_s: float | None = None
    metrics: list[dict[str, Any]] = field(default_factory=list)
    dashboard_url: str | None = None
    # billed vCPU-hours, memory GB-hours, storage GB-hours and price_usd (deplat.core.cost.run_cost)
    cost: dict[str, Any] | None = None


@dataclass
class RunResult:
    pipeline: str
    env: str
    batch_id: str
    manifest_hash: str
    waited: bool
    steps: list[StepRun]

    @property
    def metrics(self) -> list[dict[str, Any]]:
        return [m for s in self.steps for m in s.metrics]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "metrics": self.metrics}


@dataclass
class StatusResult:
    env: str
    application: dict[str, Any]
    runs: list[dict[str, Any]]
    alarms: list[dict[str, Any]] = field(default_factory=list)
    # The deployed manifest and where it came from (deplat.artifacts.provenance); None: nothing deployed.
    deployed: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LogView:
    """A run's log as `deplat logs` shows it: the run's state when asked, and the text (followed
    live while the run is not finished)."""

    run_id: str
    stream: str
    state: RunState
    following: bool
    chunks: Iterator[str]


class RunHistory:
    """`.deplat/<env>/runs.jsonl`: one JSON record per line, appended on every state we observe."""

    def __init__(self, path: Path):
        self.path = path

    def append(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as fh:
            fh.write(json.dumps(record, default=str, sort_keys=True) + "\n")

    def records(self) -> list[dict[str, Any]]:
        """The latest record of each run, newest submission first."""
        latest: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            for line in self.path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue  # a torn last line from an interrupted write
                latest[rec["run_id"]] = {**latest.get(rec["run_id"], {}), **rec}
        return sorted(latest.values(), key=lambda r: r.get("submitted_at", ""), reverse=True)

    def find(self, run_id: str) -> dict[str, Any] | None:
        return next((r for r in self.records() if r["run_id"] == run_id), None)


# An application that can run jobs (EMR Serverless auto-starts a CREATED or STOPPED one on StartJobRun).
LIVE_APPLICATION_STATES = {"CREATED", "STARTING", "STARTED", "STOPPING", "STOPPED"}


def _with_local_services(ctx: Context, app: dict[str, Any]) -> dict[str, Any]:
    """Locally the application is the whole stack: an application that can run jobs (any of
    LIVE_APPLICATION_STATES) with a service down (PostgreSQL, Kafka, a stand-in) is DEGRADED,
    naming the services, so status never says it is ready while a pipeline's source cannot be
    reached."""
    from deplat.local.stack import LocalStack

    down = [s.name for s in LocalStack(ctx.stack_dir, ctx.settings.local_stack).status() if not s.healthy]
    if not down:
        return app
    return {**app, "state": "DEGRADED", "error": f"local services not answering: {', '.join(down)}",
            "hint": "run `deplat local up` (`deplat local status` shows each service)"}


class Gate(Protocol):
    """What RunService calls for a gate step (registry `Step.gate` names the tables it checks). The
    run service knows no DQ: deplat.dq.service.DqGate implements this, and deplat.services.run_service
    wires it in for `deplat run` and the runbook. backfill, dr, optimize and reconcile build a RunService
    without it: their pipelines have no gate step (tests/unit/deplat/test_runs.py checks that). `deplat dq
    check` runs the dq pipeline's gate step without the hook too: it passes that step's arguments itself
    (`step_args`) and judges the verdict itself (`gate_verdict=False`)."""

    def check(self, tables: tuple[str, ...]) -> None:
        """Before anything is submitted: ConfigError (exit 2) when a table has no valid suite."""

    def args(self, tables: tuple[str, ...]) -> list[str]:
        """The gate step's job arguments, resolved when the step is reached (the run's earlier steps
        write its tables)."""

    def verdict(self, metrics: list[dict[str, Any]], batch_id: str, run_id: str | None) -> None:
        """After the gate step: raise (DataQualityError, exit 5) to stop the later steps."""


class RunService:
    """Submits, waits, follows and records runs. Clock, sleep, the engine and the gate are injectable;
    a pipeline with a gate step needs `gate` (deplat.services.run_service gives the DQ gate)."""

    def __init__(
        self,
        ctx: Context,
        engine: JobEngine | None = None,
        *,
        confirm_cancel: Callable[[RunRef], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        gate: Gate | None = None,
    ):
        self.ctx = ctx
        self._engine = engine
        self._gate = gate
        self._confirm_cancel = confirm_cancel or (lambda ref: False)
        self._clock = clock
        self._sleep = sleep
        self.history = RunHistory(ctx.state_dir / HISTORY_FILE)

    @cached_property
    def engine(self) -> JobEngine:
        if self._engine is not None:
            return self._engine
        return engine_for(self.ctx)

    @property
    def gate(self) -> Gate:
        if self._gate is None:
            raise DeplatError("this run service has no gate hook, and the pipeline has a gate step",
                              "build it with deplat.services.run_service(ctx), which wires the DQ gate")
        return self._gate

    # --- run ---------------------------------------------------------------------------------

    def run(
        self,
        pipeline: str,
        step: str | None = None,
        partition_date: str | None = None,
        wait: bool = True,
        timeout: float | None = None,
        follow: bool = False,
        extra_args: tuple[str, ...] = (),
        skip_gates: bool = False,
        step_args: dict[str, list[str]] | None = None,
        gate_verdict: bool = True,
    ) -> RunResult:
        """Run a pipeline's steps in order; raise JobFailedError (exit 4) on the first failure.

        A gate step (registry `Step.gate`) goes through the Gate hook (deplat.services wires the DQ
        gate: the tables' dq/suites); a failed gate raises DataQualityError (exit 5) before the later
        steps run. `skip_gates` (`deplat run --skip-dq`) skips gates, loudly, and records it in the run history
        (`gate_skipped` on the skipped gate's record and on every step submitted after it).
        `step_args` adds arguments to one step by name (the gate's come from the hook when not given);
        `gate_verdict=False` leaves the verdict to the caller.

        `extra_args` go to every step after its static ones (e.g. `deplat optimize` options).
        Usage errors (exit 2) come before anything is submitted: an unknown pipeline or step, a
        step whose job is not built yet, a bad date or one the steps cannot honour, timeout <= 0.
        """
        steps = _resolve(pipeline, step)
        _require_built(self.ctx.root, steps)
        partition = _check_date(partition_date)
        if partition:
            _require_partition_support(pipeline, steps)
        if timeout is not None and not timeout > 0:
            raise ConfigError(f"--timeout {timeout:g} is not a positive number of seconds",
                              "give the pipeline's time budget in seconds, e.g. --timeout 1800")
        if not wait and len(steps) > 1:
            raise ConfigError(f"--no-wait submits one step, and '{pipeline}' has {len(steps)} in order",
                              "pass --step <name>, or use --wait so each step starts after the previous")
        step_args = dict(step_args or {})
        for _, st in steps:
            if st.gate and not skip_gates and st.name not in step_args:
                self.gate.check(st.gate)  # a missing or bad suite: exit 2 now
        manifest, bucket = self._manifest()
        uris = _step_uris(manifest, bucket, [s for _, s in steps])
        batch_id = f"{_utcnow():%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        deadline = self._clock() + timeout if timeout else None
        result = RunResult(pipeline, self.ctx.env.name, batch_id, manifest.manifest_hash, wait, [])
        from deplat.lineage import emitter_for

        lineage = emitter_for(self.ctx, batch_id, pipeline)
        for i, (pipe, st) in enumerate(steps, 1):
            if st.gate and skip_gates:
                self._skip_gate(pipe, st.name, st.gate, batch_id)
                continue
            if st.gate and st.name not in step_args:
                # Resolved when the gate is reached: the earlier steps of this run write its tables.
                step_args[st.name] = self.gate.args(st.gate)
            spec, key = step_spec(self.ctx, pipe, st, uris, batch_id, manifest.manifest_hash, partition,
                                  extra_args, tuple(step_args.get(st.name, ())), timeout)
            with self.ctx.reporter.status(f"{pipe}/{st.name}: submitting..."):
                ref = self.engine.submit(spec, key)
            submitted = _utcnow()
            self._record(ref, "SUBMITTED", submitted_at=submitted, batch_id=batch_id,
                         partition_date=partition, manifest_hash=manifest.manifest_hash,
                         invoked=pipeline if step is None else f"{pipeline} --step {step}",
                         **({"gate_skipped": True} if skip_gates else {}))
            if ref.attached:
                self.ctx.reporter.warn(f"{pipe}/{st.name}: attached to live run {ref.run_id} "
                                       "(same step, partition and deployed code)")
            else:
                self.ctx.reporter.info(f"{pipe}/{st.name}: submitted run {ref.run_id}")
            lineage.start(pipe, st.name, ref.run_id, spec.args)
            if not wait:
                result.steps.append(StepRun(pipe, st.name, ref.run_id, "SUBMITTED", attached=ref.attached))
                continue
            remaining = None if deadline is None else max(0.0, deadline - self._clock())
            try:
                state = self._wait(ref, remaining, follow, timeout, position=f"{i}/{len(steps)}")
            except DeplatError as exc:  # timed out or cancelled
                lineage.finish(pipe, st.name, ref.run_id, False, exc.message)
                raise
            lineage.finish(pipe, st.name, ref.run_id, state.succeeded, state.details or state.state)
            times = engine_times(state)
            duration = times.get("duration_s", (_utcnow() - submitted).total_seconds())
            cost = self._cost(state)
            self._record(ref, state.state, details=state.details,
                         **{"ended_at": _utcnow(), **times, "duration_s": duration},
                         **({"cost": cost} if cost else {}))
            step_run = StepRun(pipe, st.name, ref.run_id, state.state, state.details, ref.attached,
                               round(duration, 1), dashboard_url=state.dashboard_url, cost=cost)
            result.steps.append(step_run)
            if not state.succeeded:
                self._fail(ref, state)
            step_run.metrics = self._metrics(ref)
            if st.gate and gate_verdict:
                try:
                    self.gate.verdict(step_run.metrics, batch_id, ref.run_id)
                except DeplatError:
                    self._record(ref, state.state, gate="failed")  # `deplat promote` refuses this batch
                    raise
                self._record(ref, state.state, gate="passed")
        return result

    def _skip_gate(self, pipeline: str, step: str, tables: tuple[str, ...], batch_id: str) -> None:
        """skip_gates: say so loudly and record a SKIPPED gate run in the history."""
        self.ctx.reporter.warn(f"the gate {pipeline}/{step} on {', '.join(tables)} is SKIPPED; "
                               "the next steps run on unchecked data (recorded in the run history)")
        now = _utcnow()
        self.history.append({"run_id": f"skipped-gate-{batch_id}", "pipeline": pipeline, "step": step,
                             "engine": "-", "state": "SKIPPED", "details": "gate skipped", "gate_skipped": True,
                             "batch_id": batch_id, "submitted_at": now.isoformat(timespec="seconds"),
                             "recorded_at": now.isoformat(timespec="seconds")})

    def _manifest(self):
        from deplat.artifacts import load_manifest, s3_errors

        bucket = self.ctx.output("artifacts_bucket")
        with s3_errors(self.ctx, bucket):
            manifest = load_manifest(self.ctx.aws.client("s3"), bucket)
        if manifest is None:
            raise ConfigError(f"nothing is deployed to s3://{bucket} ({self.ctx.env.name})",
                              f"run `deplat{self._env_flag()} deploy` first")
        return manifest, bucket

    def _wait(self, ref: RunRef, timeout: float | None, follow: bool, budget: float | None = None,
              position: str = ""
              ) -> RunState:
        from deplat.engines.poll import Poller, WaitTimeoutError

        label = f"{ref.pipeline}/{ref.step}"
        shown = f"[{position}] {label}" if position else label  # step i/n of the pipeline
        reporter = self.ctx.reporter
        waited = [0.0]
        tail = self.engine.tail(ref, "stdout") if follow else None
        policy = self.engine.poll_policy
        if follow:
            policy = PollPolicy(policy.initial, policy.factor, min(policy.maximum, 5.0))

        def on_update(state: RunState, elapsed: float, changed: bool) -> None:
            if tail is not None:
                _emit_lines(reporter, tail.read_new())
            if changed and not state.terminal:
                reporter.info(f"{shown}: {state.state} ({elapsed:.0f}s)")
            ui = f" · Spark UI {state.dashboard_url}" if state.dashboard_url else ""
            waited[0] = elapsed
            live.update(f"{shown} {state.state} · run {ref.run_id}{ui}")

        poller = Poller(lambda: self.engine.get(ref), policy=policy, timeout=timeout, on_update=on_update,
                        clock=self._clock, sleep=self._sleep)
        try:
            with reporter.status(f"{shown}: waiting for run {ref.run_id}") as live:
                state = poller.wait()
        except KeyboardInterrupt:
            return self._interrupted(ref)
        except WaitTimeoutError as exc:
            self.engine.cancel(ref)
            self._record(ref, "CANCELLED", details=f"timed out after {exc.elapsed:.0f}s", ended_at=_utcnow())
            raise JobFailedError(f"{label} did not finish within --timeout {budget or timeout:.0f}s "
                                 f"(still {exc.state.state}); "
                                 f"run {ref.run_id} was cancelled", "raise --timeout") from None
        if tail is not None:
            _emit_lines(reporter, tail.read_new())
        reporter.info(f"{shown}: {state.state} after {waited[0]:.0f}s"
                      + (f" ({state.details})" if state.details else ""))
        return state

    def _interrupted(self, ref: RunRef) -> RunState:
        from deplat.engines.poll import Poller

        label = f"{ref.pipeline}/{ref.step}"
        if not self._confirm_cancel(ref):
            self.ctx.reporter.warn(f"run {ref.run_id} keeps running: `deplat{self._env_flag()} logs "
                                   f"{ref.run_id} --follow`, `deplat{self._env_flag()} status`")
            raise KeyboardInterrupt
        self.engine.cancel(ref)
        with self.ctx.reporter.status(f"{label}: cancelling run {ref.run_id}..."):
            state = Poller(lambda: self.engine.get(ref), policy=self.engine.poll_policy, timeout=300,
                           clock=self._clock, sleep=self._sleep).wait()
        self._record(ref, state.state, details="cancelled by the operator", ended_at=_utcnow())
        raise JobFailedError(f"{label} cancelled by the operator (run {ref.run_id}: {state.state})")

    def _fail(self, ref: RunRef, state: RunState) -> None:
        from deplat.core.logs import LogsNotFoundError, driver_error

        logs: dict[str, str] = {}
        missing = ""
        for stream in ("stderr", "stdout"):
            try:
                # If stderr never appeared, stdout will not either: do not wait twice.
                logs[stream] = self.engine.read_log(ref, stream, wait=not missing)
            except LogsNotFoundError as exc:
                logs[stream] = ""
                missing = str(exc)
        excerpt, stream = driver_error(logs["stdout"], logs["stderr"])
        if not excerpt.strip() and not any(logs.values()):
            excerpt = missing
        details = f": {state.details}" if state.details else ""
        flag = " --stderr" if stream == "stderr" else ""
        raise JobFailedError(
            f"{ref.pipeline}/{ref.step} {state.state} (run {ref.run_id}){details}",
            f"full driver log: `deplat{self._env_flag()} logs {ref.run_id}{flag}`",
            detail=excerpt or None,
        )

    def _metrics(self, ref: RunRef) -> list[dict[str, Any]]:
        from deplat.core.logs import LogsNotFoundError
        from deplat_job.pipelines.common import parse_metrics

        try:
            return parse_metrics(self.engine.read_log(ref, "stdout"))
        except LogsNotFoundError as exc:
            self.ctx.reporter.warn(f"no metrics for run {ref.run_id}: {exc.message}")
            return []

    def _record(self, ref: RunRef, state: str, **fields: Any) -> None:
        self.history.append({"run_id": ref.run_id, "pipeline": ref.pipeline, "step": ref.step,
                             "engine": ref.engine, "state": state, "ref": ref.to_dict(),
                             "recorded_at": _utcnow().isoformat(timespec="seconds"),
                             **{k: (v.isoformat(timespec="seconds") if isinstance(v, datetime) else v)
                                for k, v in fields.items()}})

    def _cost(self, state: RunState) -> dict[str, Any] | None:
        """The run's billed utilization and its price in this env's region (deplat.core.cost), once the
        engine reports `billedResourceUtilization` (EMR Serverless and its local stand-in, at the end)."""
        from deplat.core.cost import prices_for, run_cost

        billed = state.extra.get("billedResourceUtilization")
        if not billed:
            return None
        return run_cost(billed, prices_for(self.ctx.settings, getattr(self.ctx.env, "region", "")))

    def _env_flag(self) -> str:
        name = self.ctx.env.name
        return "" if name == self.ctx.settings.default_env else f" -e {name}"

    # --- status, logs ------------------------------------------------------------------------

    def status(self, limit: int = 20) -> StatusResult:
        """The application's state, the recent runs (live ones refreshed from the engine) and the
        platform's CloudWatch alarms. States and figures are the engine's; an environment never
        applied or an endpoint that does not answer is said so, with the fix (never "UNKNOWN");
        safety refusals (exit 7) and other errors propagate like in every other command."""
        records = self.history.records()[:limit]
        if not self.ctx.outputs(required=False):
            app = {"id": None, "state": "NOT_APPLIED",
                   "error": f"environment '{self.ctx.env.name}' has no infrastructure yet",
                   "hint": f"run `deplat -e {self.ctx.env.name} infra apply`"}
            return StatusResult(self.ctx.env.name, app, records)
        try:
            app = self.engine.application_state()
        except EndpointUnreachableError as exc:
            app = {"id": None, "state": "UNREACHABLE", "error": exc.message, "hint": exc.hint}
        except ApplicationNotFoundError as exc:
            app = {"id": None, "state": "NOT_DEPLOYED", "error": exc.message, "hint": exc.hint}
        if self._engine is None and self.ctx.env.is_local:  # the env's own engine: the stack is its platform
            if app.get("state") in LIVE_APPLICATION_STATES:
                app = _with_local_services(self.ctx, app)
        runs = [self._refresh(rec) if rec.get("state") not in TERMINAL_STATES and rec.get("ref") else rec
                for rec in records]
        try:
            alarms = [] if app["state"] == "UNREACHABLE" else self._alarms()
        except EndpointUnreachableError:  # e.g. the local stack is down: the application says STOPPED
            alarms = []
        from deplat.artifacts import provenance

        deployed = None if app["state"] == "UNREACHABLE" else provenance(self.ctx)
        return StatusResult(self.ctx.env.name, app, runs, alarms, deployed)

    def _alarms(self) -> list[dict[str, Any]]:
        """The CloudWatch alarms that notify the platform's alerts topic: name, state, since, reason."""
        topic = self.ctx.outputs().get("alerts_topic_arn")
        if not topic:
            return []
        client = self.ctx.aws.client("cloudwatch")
        alarms = []
        for page in client.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm"]):
            for alarm in page.get("MetricAlarms", []):
                if topic in (alarm.get("AlarmActions") or []):
                    updated = alarm.get("StateUpdatedTimestamp")
                    alarms.append({"name": alarm["AlarmName"], "state": alarm["StateValue"],
                                   "since": updated.isoformat(timespec="seconds") if updated else None,
                                   "reason": alarm.get("StateReason", "")})
        return sorted(alarms, key=lambda a: a["name"])

    def _refresh(self, rec: dict[str, Any]) -> dict[str, Any]:
        ref = RunRef.from_dict(rec["ref"])
        try:
            state = self.engine.get(ref)
        except EndpointUnreachableError:
            return {**rec, "note": "state not refreshed: the engine's endpoint is unreachable"}
        if state.state == rec.get("state"):
            return rec
        cost = self._cost(state)
        self._record(ref, state.state, details=state.details, **engine_times(state),
                     **({"cost": cost} if cost else {}))
        if state.terminal and rec.get("batch_id"):  # a --no-wait run's end, seen here first
            from deplat.lineage import emitter_for

            emitter_for(self.ctx, rec["batch_id"], ref.pipeline).finish(
                ref.pipeline, ref.step, ref.run_id, state.succeeded, state.details or state.state)
        return self.history.find(ref.run_id) or rec

    def ref(self, run_id: str) -> RunRef:
        """The run's reference (from the history, else the engine); ConfigError for a malformed id."""
        rec = self.history.find(check_run_id(run_id))
        return RunRef.from_dict(rec["ref"]) if rec and rec.get("ref") else self.engine.ref(run_id)

    def logs(self, run_id: str, stream: str = "stdout", follow: bool | None = None) -> LogView:
        """The run's state now and its driver log: followed live until the run ends when `follow`
        is True, or when it is None (the default) and the run is still going; whole otherwise."""
        ref = self.ref(run_id)
        state = self.engine.get(ref)
        following = (not state.terminal) if follow is None else follow
        return LogView(run_id, stream, state, following, self.engine.logs(ref, stream, following))

    def state(self, run_id: str) -> RunState:
        """The run's current state, from the engine."""
        return self.engine.get(self.ref(run_id))

    def cancel(self, run_id: str) -> RunState:
        """Cancel a run (any engine); a finished run is left as it is. Returns the state after."""
        from deplat.engines.poll import Poller

        ref = self.ref(run_id)
        state = self.engine.get(ref)
        if state.terminal:
            return state
        self.engine.cancel(ref)
        with self.ctx.reporter.status(f"cancelling run {run_id}..."):
            state = Poller(lambda: self.engine.get(ref), policy=self.engine.poll_policy, timeout=300,
                           clock=self._clock, sleep=self._sleep).wait()
        self._record(ref, state.state, details="cancelled by the operator (deplat cancel)",
                     **engine_times(state))
        return state

    def live_runs(self) -> list[dict[str, Any]]:
        """Recorded runs the engine still reports as active (for `local down`'s warning)."""
        live = []
        for rec in self.history.records():
            if rec.get("state") in TERMINAL_STATES or not rec.get("ref"):
                continue
            rec = self._refresh(rec)
            if rec.get("state") not in TERMINAL_STATES:
                live.append(rec)
        return live


def step_spec(ctx: Context, pipe: str, st: Any, uris: dict[str, Any], batch_id: str, manifest_hash: str,
              partition: str | None = None, extra_args: tuple[str, ...] = (), step_args: tuple[str, ...] = (),
              timeout: float | None = None) -> tuple[JobSpec, str]:
    """The JobSpec of one registry step and its idempotency key: what `deplat run` submits, and what
    the Airflow DAG (deplat.airflow_dag) renders, so a scheduled run and `deplat run` are one job.
    `uris` come from _step_uris; `step_args` are the step's own (a gate's suites)."""
    from deplat.registry import config_args

    args = ["--lake", ctx.lake_uri, "--batch-id", batch_id, "--env", ctx.env.name]
    if partition:
        args += ["--partition-date", partition]
    own = (*step_args, *config_args(ctx.settings, st))
    spec = JobSpec(pipe, st.name, uris[st.name], (*args, *st.args, *extra_args, *own), uris["wheel"],
                   uris["deps"], math.ceil(timeout / 60) if timeout else None,
                   streaming=st.streaming, secret=st.secret)
    # Different options are a different run: never attach to a live run started with others.
    scope = "\0".join((partition or "", *extra_args, *own)) if extra_args or own else partition
    return spec, idempotency_key(pipe, st.name, scope, manifest_hash)


def engine_times(state: RunState) -> dict[str, Any]:
    """started_at / ended_at / duration_s as the engine reports them (EMR: createdAt, updatedAt
    once terminal, totalExecutionDurationSeconds; local: the supervisor's start and end), never the
    time deplat happened to look."""
    extra = state.extra
    out: dict[str, Any] = {}
    started = _as_datetime(extra.get("started_at") or extra.get("createdAt"))
    ended = _as_datetime(extra.get("ended_at") or (extra.get("updatedAt") if state.terminal else None))
    if started:
        out["started_at"] = started
    if ended:
        out["ended_at"] = ended
    if extra.get("totalExecutionDurationSeconds") is not None:
        out["duration_s"] = float(extra["totalExecutionDurationSeconds"])
    elif started and ended:
        out["duration_s"] = round((ended - started).total_seconds(), 1)
    return out


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _emit_lines(reporter: Any, chunk: str) -> None:
    for line in chunk.splitlines():
        reporter.info(line)


def _resolve(pipeline: str, step: str | None):
    from deplat.registry import pipeline_names, resolve

    try:
        steps = resolve(pipeline)
    except KeyError:
        known = ", ".join(pipeline_names())
        raise ConfigError(f"unknown pipeline '{pipeline}'", f"choose one of: {known}") from None
    if step is None:
        return steps
    chosen = [(p, s) for p, s in steps if s.name == step]
    if not chosen:
        names = ", ".join(s.name for _, s in steps)
        raise ConfigError(f"pipeline '{pipeline}' has no step '{step}'", f"its steps: {names}")
    # A step behind a gate never runs without it (skip_gates skips it explicitly).
    gates = [(p, s) for p, s in steps[:steps.index(chosen[0])] if s.gate and p == chosen[0][0]]
    return chosen if chosen[0][1].gate else [*gates, *chosen]


JOBS_DIR = "jobs"
PARTITION_FLAG = "--partition-date"


def unbuilt_steps(root: Path, steps: list[tuple[str, Any]]) -> list[str]:
    """Steps whose job script is not in the project's jobs/ folder yet (so it can never be deployed)."""
    return [st.name for _, st in steps if not (root / JOBS_DIR / f"{st.name}.py").is_file()]


def _require_built(root: Path, steps: list[tuple[str, Any]]) -> None:
    missing = unbuilt_steps(root, steps)
    if missing:
        pipelines = ", ".join(dict.fromkeys(p for p, st in steps if st.name in missing))
        raise NotBuiltError(
            f"`deplat run {pipelines}` is not built yet: no {', '.join(f'jobs/{m}.py' for m in missing)}",
            "it lands in a later release; see the README command map")


def _require_partition_support(pipeline: str, steps: list[tuple[str, Any]]) -> None:
    """Every job parser accepts --partition-date (pipelines.common.job_parser), but only a step declared
    `partitioned` (registry.Step) honours it; a date a step would ignore reports SUCCESS for work
    never done, so refuse it (exit 2)."""
    ignoring = [st.name for _, st in steps if not st.partitioned]
    if ignoring:
        raise ConfigError(f"{PARTITION_FLAG} is not supported by {', '.join(ignoring)} ('{pipeline}')",
                          "run without a date (these steps process everything new), or pick a step "
                          "that takes one with --step")


def _check_date(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise ConfigError(f"--partition-date {value!r} is not a date", "use YYYY-MM-DD") from None


def _step_uris(manifest: Any, bucket: str, steps: list[Any]) -> dict[str, Any]:
    uris: dict[str, Any] = {}
    for st in steps:
        name = f"jobs/{st.name}.py"
        if name not in manifest.files:
            raise ConfigError(f"{name} is not in the deployed manifest {manifest.manifest_hash[:12]}",
                              "add the job script and run `deplat deploy`")
        uris[st.name] = manifest.uri(bucket, name)
    code = manifest.job_package or manifest.wheel  # older manifests shipped only the wheel
    if not code:
        raise ConfigError("the deployed manifest has no job package", "run `deplat deploy`")
    uris["wheel"] = (manifest.uri(bucket, code),)
    uris["deps"] = (manifest.uri(bucket, manifest.deps_archive),) if manifest.deps_archive else ()
    return uris


def engine_for(ctx: Context) -> JobEngine:
    """The engine of ctx's environment (`Environment.job_engine`): EMR Serverless (in a local env
    against moto's EMR Serverless stand-in: EndpointUnreachableError when moto is down, ConfigError
    when it runs without the stand-in, whose plain EMR Serverless would report every run SUCCESS
    without running it)."""
    from deplat.engines.emr_serverless import EmrServerlessEngine

    if not ctx.env.is_local:
        return EmrServerlessEngine.from_context(ctx)
    from deplat.engines.base import PollPolicy
    from deplat.local.standins.emr_serverless import serving
    from deplat_job.errors import ConfigError, EndpointUnreachableError

    if not serving(ctx.env.endpoint_url or ""):
        from urllib.parse import urlparse

        from deplat.local.services import port_open

        if not port_open(urlparse(ctx.env.endpoint_url or "").port or 0):
            raise EndpointUnreachableError(f"the local moto server at {ctx.env.endpoint_url} is not answering",
                                           "run `deplat local up`")
        raise ConfigError(
            f"environment '{ctx.env.name}' runs jobs on EMR Serverless, but the moto server at "
            f"{ctx.env.endpoint_url} runs without the EMR Serverless stand-in",
            "restart moto with it: `deplat local down moto && deplat local up` (moto's state is "
            "in memory: then `deplat infra apply` and `deplat deploy`)")
    engine = EmrServerlessEngine.from_context(ctx)
    # A local run's states change fast and GetJobRun on loopback is cheap: at most 1 s behind its end.
    engine.poll_policy = PollPolicy(initial=0.5, factor=1.5, maximum=1.0)
    engine.late_log_seconds = 0.0  # the stand-in has delivered every log line once the end state shows
    return engine
