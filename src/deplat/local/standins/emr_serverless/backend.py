"""moto's EMR Serverless backend, extended to behave as the service documents and to run real Spark.

Runs inside the moto server process (see `install`). One scheduler thread moves applications and
job runs through their states; request threads only create, read and flag them, under one lock.

- Applications: CREATED -> STARTING -> STARTED -> STOPPING -> STOPPED. StartJobRun auto-starts a
  CREATED/STOPPED application (autoStartConfiguration); an application with no live run stops
  after autoStopConfiguration.idleTimeoutMinutes. StopApplication with live runs is refused.
- Job runs: SUBMITTED -> PENDING -> [QUEUED while maximumCapacity is full] -> SCHEDULED -> RUNNING
  -> SUCCESS | FAILED | CANCELLING -> CANCELLED. RUNNING and the end state come from the real
  process (supervisor.py's detached supervisor, started by runner.py); FAILED carries the driver's error in
  stateDetails; executionTimeoutMinutes exceeded cancels the run (the user guide: "CANCELLING ...
  or the job run has timed out"); CancelJobRun signals the run's process group and kills it after
  shutdownGracePeriodInSeconds.
- clientToken: 1-64 of [A-Za-z0-9._-]; the same token on the same application within 8 hours
  returns the earlier run and starts nothing.
- mode: BATCH (the default) or STREAMING, which needs release emr-7.1.0 or later (the user guide's
  "Streaming jobs"); kept with the run and its retryPolicy, returned by GetJobRun and ListJobRuns, and
  ListJobRuns filters on it (moto's handlers drop all three: see _patch_responses).
- Driver logs go to `<logUri>applications/<app>/jobs/<run>/SPARK_DRIVER/{stdout,stderr}.gz` while
  the run goes (every LOG_INTERVAL seconds) and completely before the end state shows; with
  cloudWatchLoggingConfiguration, also line by line to CloudWatch Logs (the same moto server).
- totalExecutionDurationSeconds, totalResourceUtilization and billedResourceUtilization from the
  run's RUNNING time and its driver worker (runner.utilization).

A "minute" of the idle and execution timeouts lasts `minute_seconds` (60; tests shorten it).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import threading
import time
import weakref
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from moto.emrserverless import models as moto_models
from moto.emrserverless.exceptions import ResourceNotFoundException, ValidationException

from deplat.local.standins.emr_serverless import runner
from deplat.local.standins.emr_serverless import supervisor as ls

LIVE = ("SUBMITTED", "PENDING", "QUEUED", "SCHEDULED", "RUNNING", "CANCELLING")
TERMINAL = ("SUCCESS", "FAILED", "CANCELLED")
HOLDS_CAPACITY = ("SCHEDULED", "RUNNING", "CANCELLING")
TOKEN_WINDOW = timedelta(hours=8)  # StartJobRun's clientToken is honoured for 8 hours
STARTING_SECONDS = 1.0
TICK_SECONDS = 0.25
LOG_INTERVAL = 5.0  # S3 log objects are rewritten whole: not too often
CLOUDWATCH_INTERVAL = 1.0  # CloudWatch gets only the new lines
DEFAULT_LOG_GROUP = "/aws/emr-serverless"
DEFAULT_GRACE_SECONDS = 120  # CancelJobRun's documented default for batch runs
DEFAULT_TIMEOUT_MINUTES = 720
MODES = ("BATCH", "STREAMING")  # StartJobRun's JobRunMode (API reference)
STREAMING_SINCE = (7, 1)  # "Starting with Amazon EMR 7.1 ... a new job mode ... Streaming"
EXIT_GRACE_SECONDS = 10.0
DETAILS_MAX = 256
NAME = re.compile(r".*\S.*")
_LOG_LINE = re.compile(r"^\d\d/\d\d/\d\d \d\d:\d\d:\d\d ")  # log4j's default layout

_LOCK = threading.RLock()
_BACKENDS: weakref.WeakSet = weakref.WeakSet()
_RUNTIME: runner.Runtime | None = None
_MINUTE = 60.0


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _details(text: str) -> str | None:
    text = " ".join(text.split())
    return (text[: DETAILS_MAX - 3] + "...") if len(text) > DETAILS_MAX else (text or None)


class Application(moto_models.Application):
    """moto's application plus the stand-in's clock: when it became idle, when it is ready."""

    # moto annotates these as str; they hold the request's JSON objects (or None when not given)
    initial_capacity: dict[str, Any] | None  # type: ignore[assignment]
    maximum_capacity: dict[str, Any] | None  # type: ignore[assignment]
    auto_start_configuration: dict[str, Any] | None  # type: ignore[assignment]
    auto_stop_configuration: dict[str, Any] | None  # type: ignore[assignment]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.state = "CREATED"
        self.created_at = self.updated_at = _utcnow()
        self.idle_since = time.monotonic()
        self.ready_at = 0.0

    def set_state(self, state: str, details: str = "") -> None:
        self.state, self.state_details, self.updated_at = state, details, _utcnow()

    def idle_timeout_seconds(self) -> float | None:
        config = self.auto_stop_configuration or {}
        if not config.get("enabled", True):
            return None
        return float(config.get("idleTimeoutMinutes", 15)) * _MINUTE

    def auto_starts(self) -> bool:
        return bool((self.auto_start_configuration or {}).get("enabled", True))

    def warm_idle_seconds(self) -> float:
        """Pre-initialized driver capacity is served by warm drivers that live as long as the
        application stays up; without it every run is its own spark-submit."""
        capacity = self.initial_capacity or {}
        if not any(k.upper() == "DRIVER" for k in capacity):
            return 0.0
        return self.idle_timeout_seconds() or 24 * 3600.0

    def warm_drivers(self) -> int:
        """How many warm drivers may serve this application's runs at once: the pre-initialized
        DRIVER workerCount (initialCapacity; at least 1 when warm drivers are on at all)."""
        for kind, config in (self.initial_capacity or {}).items():
            if kind.upper() == "DRIVER":
                return max(1, int((config or {}).get("workerCount", 1)))
        return 1

    def limit(self) -> runner.Worker | None:
        cap = self.maximum_capacity
        if not cap:
            return None
        return runner.Worker(runner.size(cap.get("cpu"), "vCPU"), runner.size(cap.get("memory"), "GB"),
                             runner.size(cap.get("disk"), "GB"))


class JobRun(moto_models.JobRun):
    """moto's job run plus the real run behind it (its folder, supervisor and clock)."""

    # moto's annotations are narrower than what the stand-in holds: the request's JSON objects, and
    # None for the totals until the run ends
    job_driver: dict[str, Any] | None
    configuration_overrides: dict[str, Any] | None
    total_execution_duration_seconds: int | None  # type: ignore[assignment]
    billed_resource_utilization: dict[str, float] | None  # type: ignore[assignment]

    def __init__(self, *args: Any, timeout_minutes: int | None, mode: str = "BATCH",
                 retry_policy: dict[str, Any] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.execution_timeout_minutes = DEFAULT_TIMEOUT_MINUTES if timeout_minutes is None else timeout_minutes
        self.mode, self.retry_policy = mode, retry_policy
        self.created_at = self.updated_at = _utcnow()
        self.state = "SUBMITTED"
        self.state_details = None
        self.started_at: datetime | None = None
        self.ended_at: datetime | None = None
        self.total_execution_duration_seconds = None
        self.billed_resource_utilization = None
        self.total_resource_utilization: dict[str, float] | None = None
        self.attempt = 1
        conf = runner.parse_submit_parameters(
            ((self.job_driver or {}).get("sparkSubmit") or {}).get("sparkSubmitParameters")).conf_dict
        self.worker = runner.driver_worker(conf)
        self.run_dir: Path | None = None
        self.proc: Any = None
        self.launch_error: str | None = None
        self.running_since: float | None = None
        self.cancel_requested = False
        self.timed_out = False
        self.kill_at: float | None = None
        self.exiting_since: float | None = None
        self.logs_sent: dict[str, int] = {}
        self.logs_at = 0.0
        self.cloudwatch_sent: dict[str, int] = {}  # stream -> bytes of the file already sent
        self.cloudwatch_at = 0.0

    def set_state(self, state: str, details: str | None = None) -> None:
        self.state, self.updated_at = state, _utcnow()
        if details is not None:
            self.state_details = _details(details)

    @property
    def job_run_id(self) -> str:
        return self.id

    def log_uri(self) -> str:
        monitoring = (self.configuration_overrides or {}).get("monitoringConfiguration") or {}
        return ((monitoring.get("s3MonitoringConfiguration") or {}).get("logUri")) or ""

    def cloudwatch(self) -> dict[str, Any] | None:
        """cloudWatchLoggingConfiguration when enabled (group, prefix, which driver streams)."""
        monitoring = (self.configuration_overrides or {}).get("monitoringConfiguration") or {}
        config = monitoring.get("cloudWatchLoggingConfiguration") or {}
        return config if config.get("enabled") else None


class StandinBackend(moto_models.EMRServerlessBackend):
    """EMRServerlessBackend whose applications and runs follow the service's state machines."""

    # moto's containers and getters, typed as what they hold here: create_application builds the
    # stand-in's Application, start_job_run its JobRun
    applications: dict[str, Application]  # type: ignore[assignment]
    job_runs: dict[str, list[JobRun]]  # type: ignore[assignment]
    if TYPE_CHECKING:
        def get_application(self, application_id: str) -> Application: ...
        def get_job_run(self, application_id: str, job_run_id: str) -> JobRun: ...

    def __init__(self, region_name: str, account_id: str):
        super().__init__(region_name, account_id)
        _BACKENDS.add(self)

    @property
    def _url_module(self) -> Any:  # moto finds a backend's routes next to its module
        from moto.emrserverless import urls

        return urls

    # --- applications ----------------------------------------------------------------------

    # create_application, update_application and list_job_runs take moto's keyword arguments (moto's
    # handlers pass them so) and hand them on: a signature mypy cannot match with moto's
    def create_application(self, **kwargs: Any) -> Application:  # type: ignore[override]
        with _LOCK:
            original = moto_models.Application
            # moto's create_application builds this name (mypy does not allow assigning a class)
            moto_models.Application = Application  # type: ignore[misc]
            try:
                return cast(Application, super().create_application(**kwargs))
            finally:
                moto_models.Application = original  # type: ignore[misc]

    def start_application(self, application_id: str) -> None:
        with _LOCK:
            app = self.get_application(application_id)
            if app.state == "TERMINATED":
                raise ValidationException(f"Application {application_id} is terminated")
            if app.state == "STOPPING":
                raise ValidationException(f"Application {application_id} is stopping; start it once STOPPED")
            if app.state in ("CREATED", "STOPPED"):
                self._start(app)

    def stop_application(self, application_id: str) -> None:
        with _LOCK:
            app = self.get_application(application_id)
            live = [j.id for j in self.job_runs.get(application_id, []) if j.state in LIVE]
            if live:
                raise ValidationException(
                    f"Application {application_id} has job runs that are not complete ({', '.join(live)}): "
                    "all scheduled and running jobs must be completed or cancelled before stopping")
            if app.state in ("STARTING", "STARTED"):
                app.set_state("STOPPING")

    def update_application(self, application_id: str, **kwargs: Any) -> Application:  # type: ignore[override]
        with _LOCK:
            return cast(Application, super().update_application(application_id, **kwargs))

    def _start(self, app: Application) -> None:
        app.set_state("STARTING")
        app.ready_at = time.monotonic() + STARTING_SECONDS
        app.idle_since = time.monotonic()

    # --- job runs ----------------------------------------------------------------------------

    def start_job_run(self, application_id: str, client_token: str, execution_role_arn: str,
                      job_driver: dict[str, Any] | None, configuration_overrides: dict[str, Any] | None,
                      tags: dict[str, str] | None, execution_timeout_minutes: int | None,
                      name: str | None, mode: str | None = None,
                      retry_policy: dict[str, Any] | None = None) -> JobRun:
        _validate(client_token, name, job_driver, tags, execution_timeout_minutes)
        mode = mode or "BATCH"
        if mode not in MODES:
            raise ValidationException(f"1 validation error detected: Value '{mode}' at 'mode' failed to satisfy "
                                      f"constraint: Member must satisfy enum value set: [{', '.join(MODES)}]")
        role_account_id = (execution_role_arn or "::::").split(":")[4]
        if role_account_id != self.account_id:
            from moto.emrserverless.exceptions import AccessDeniedException

            raise AccessDeniedException("Cross-account pass role is not allowed.")
        with _LOCK:
            app = self.get_application(application_id)
            if app.state == "TERMINATED":
                raise ValidationException(f"Application {application_id} is terminated. Cannot start job run.")
            for run in self.job_runs.get(application_id, []):
                if run.client_token == client_token and _utcnow() - run.created_at < TOKEN_WINDOW:
                    return run  # idempotent: the same request, the same run
            if app.state != "STARTED" and not app.auto_starts():
                raise ValidationException(f"Application {application_id} is {app.state} and does not auto-start")
            if mode == "STREAMING" and _release(app.release_label) < STREAMING_SINCE:
                raise ValidationException(f"STREAMING mode needs release emr-7.1.0 or later; application "
                                          f"{application_id} runs {app.release_label}")
            try:
                run = JobRun(application_id=application_id, client_token=client_token,
                             execution_role_arn=execution_role_arn, account_id=self.account_id,
                             region_name=self.region_name, release_label=app.release_label,
                             application_type=app.type, job_driver=job_driver,
                             configuration_overrides=configuration_overrides, tags=tags,
                             network_configuration=app.network_configuration,
                             execution_timeout_minutes=execution_timeout_minutes, name=name,
                             timeout_minutes=execution_timeout_minutes, mode=mode, retry_policy=retry_policy)
            except ValueError as exc:
                raise ValidationException(str(exc)) from None
            limit = app.limit()
            if limit and not _fits(run.worker, limit):
                raise ValidationException(
                    f"the job's driver worker ({run.worker.cpu:g} vCPU, {run.worker.memory:g} GB, "
                    f"{run.worker.disk:g} GB disk) exceeds the application's maximumCapacity")
            self.job_runs.setdefault(application_id, []).append(run)
            app.idle_since = time.monotonic()
            return run

    def list_job_runs(self, application_id: str, *args: Any, mode: str | None = None,  # type: ignore[override]
                      **kwargs: Any) -> list[JobRun]:
        self.get_application(application_id)  # AWS: an application without runs lists none
        if application_id not in self.job_runs:
            return []
        runs = cast("list[JobRun]", super().list_job_runs(application_id, *args, **kwargs))
        return [r for r in runs if r.mode == mode] if mode else runs

    def cancel_job_run(self, application_id: str, job_run_id: str,
                       grace_seconds: int | None = None) -> tuple[str, str]:
        with _LOCK:
            run = self.get_job_run(application_id, job_run_id)
            if run.state in TERMINAL or run.cancel_requested:
                return application_id, job_run_id
            run.cancel_requested = True
            if run.state in ("SUBMITTED", "PENDING", "QUEUED"):
                _finish(run, "CANCELLED", "Job run was cancelled before it started")
                return application_id, job_run_id
            run.set_state("CANCELLING")
            grace = DEFAULT_GRACE_SECONDS if grace_seconds is None else grace_seconds
            run.kill_at = time.monotonic() + grace
            _signal(run, signal.SIGTERM)
            return application_id, job_run_id

    # --- the scheduler -----------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Advance every application and run one step (called by the scheduler thread)."""
        for app in list(self.applications.values()):
            runs = sorted(self.job_runs.get(app.id, []), key=lambda r: r.created_at)
            for run in runs:
                if run.state in ("SCHEDULED", "RUNNING", "CANCELLING"):
                    _watch(run, now)
            if app.state == "STARTING" and now >= app.ready_at:
                app.set_state("STARTED")
                app.idle_since = now
            elif app.state == "STOPPING":
                ls.stop_warm_drivers(_runtime().runs_dir(app.id))
                app.set_state("STOPPED")
            self._schedule(app, runs, now)
            live = [r for r in runs if r.state in LIVE]
            if live:
                app.idle_since = now
            idle = app.idle_timeout_seconds()
            if app.state == "STARTED" and not live and idle is not None and now - app.idle_since >= idle:
                app.set_state("STOPPING", "auto-stopped after its idle timeout")

    def _schedule(self, app: Application, runs: list[JobRun], now: float) -> None:
        for run in runs:
            if run.state == "SUBMITTED":
                run.set_state("PENDING")
        waiting = [r for r in runs if r.state in ("PENDING", "QUEUED")]
        if not waiting:
            return
        if app.state in ("CREATED", "STOPPED") and app.auto_starts():
            self._start(app)
        if app.state != "STARTED":
            return
        limit = app.limit()
        for run in waiting:  # first come, first served: a run never overtakes an earlier one
            held = [r.worker for r in runs if r.state in HOLDS_CAPACITY]
            if limit and not _fits(_total([*held, run.worker]), limit):
                for rest in waiting[waiting.index(run):]:
                    if rest.state == "PENDING":
                        rest.set_state("QUEUED")
                return
            run.set_state("SCHEDULED")
            threading.Thread(target=_launch, args=(app, run), daemon=True,
                             name=f"emr-standin-launch-{run.id}").start()


def _validate(token: str | None, name: str | None, job_driver: dict[str, Any] | None,
              tags: dict[str, str] | None, timeout: int | None) -> None:
    """StartJobRun's documented constraints (API reference), so what AWS refuses is refused here."""
    if token is None or not runner.CLIENT_TOKEN.match(token):
        raise ValidationException(
            f"1 validation error detected: Value '{token}' at 'clientToken' failed to satisfy constraint: "
            "Member must have length between 1 and 64 and match pattern ^[A-Za-z0-9._-]+$")
    if name is not None and not (1 <= len(name) <= 256 and NAME.match(name)):
        raise ValidationException("name must be 1-256 characters with a non-blank one")
    submit = (job_driver or {}).get("sparkSubmit")
    if not submit or not submit.get("entryPoint"):
        raise ValidationException("jobDriver.sparkSubmit.entryPoint is required")
    if len(submit["entryPoint"]) > 4096:
        raise ValidationException("entryPoint must be at most 4096 characters")
    args = submit.get("entryPointArguments") or []
    if len(args) > 1024 or any(len(a) > 10280 for a in args):
        raise ValidationException("entryPointArguments: at most 1024, each at most 10280 characters")
    params = submit.get("sparkSubmitParameters")
    if params is not None and not (1 <= len(params) <= 102400 and params.strip()):
        raise ValidationException("sparkSubmitParameters must be 1-102400 characters")
    if tags and len(tags) > 200:
        raise ValidationException("at most 200 tags")
    if timeout is not None and (timeout < 5 and timeout != 0 or timeout > 1000000):
        raise ValidationException("RunTimeout must be at least 5 minutes.")


def _release(label: str | None) -> tuple[int, int]:
    """(major, minor) of an EMR release label such as emr-7.5.0; (0, 0) when it is not one."""
    found = re.match(r"emr-(\d+)\.(\d+)", label or "")
    return (int(found[1]), int(found[2])) if found else (0, 0)


def _fits(need: runner.Worker, limit: runner.Worker) -> bool:
    return all(getattr(need, f) <= getattr(limit, f) for f in ("cpu", "memory", "disk")
               if getattr(limit, f) == getattr(limit, f))  # an unset (nan) limit does not bind


def _total(workers: list[runner.Worker]) -> runner.Worker:
    return runner.Worker(sum(w.cpu for w in workers), sum(w.memory for w in workers),
                         sum(w.disk for w in workers))


def _runtime() -> runner.Runtime:
    assert _RUNTIME is not None, "install() first"
    return _RUNTIME


def _launch(app: Application, run: JobRun) -> None:
    """Fetch the run's code and start its supervisor (off the scheduler thread: S3 reads)."""
    try:
        run_dir = runner.prepare_run(_runtime(), app.id, run.id, run.job_driver, run.log_uri(),
                                     run.name or run.id, app.warm_idle_seconds(), app.warm_drivers(),
                                     streaming=run.mode == "STREAMING")
        env = json.loads((run_dir / ls.META_FILE).read_text())["env"]
        with _LOCK:
            run.run_dir = run_dir
            if run.cancel_requested:
                return
            run.proc = runner.start_supervisor(run_dir, env)
    except Exception as exc:  # noqa: BLE001 - whatever stops the launch is the run's failure
        with _LOCK:
            run.launch_error = f"{type(exc).__name__}: {exc}"


def _watch(run: JobRun, now: float) -> None:
    """Follow a launched run: its supervisor's state, the timeout, the cancel grace, live logs."""
    if run.launch_error:
        _finish(run, "FAILED", f"Job failed to start: {run.launch_error}")
        return
    if run.proc is None:
        if run.cancel_requested and run.run_dir is not None:  # cancelled while it was being launched
            _finish(run, "CANCELLED", _cancel_details(run))
        return
    assert run.run_dir is not None  # _launch sets run_dir before proc
    state = ls._read_json(run.run_dir / ls.STATE_FILE)
    current = state.get("state")
    if current in TERMINAL and run.proc.poll() is None:
        # The supervisor records the end state just before it exits: the end shows once it is gone.
        run.exiting_since = run.exiting_since or now
        if now - run.exiting_since < EXIT_GRACE_SECONDS:
            return
    if current in TERMINAL:
        _send_logs(run)
        _send_cloudwatch(run)
        _end(run, state)
        return
    if run.proc.poll() is not None:
        state = ls._read_json(run.run_dir / ls.STATE_FILE)  # it may have finished between the reads
        _send_logs(run)
        _send_cloudwatch(run)
        if state.get("state") in TERMINAL:
            _end(run, state)
        elif run.cancel_requested:
            _finish(run, "CANCELLED", _cancel_details(run))
        else:
            _finish(run, "FAILED", "the run's supervisor process exited without a final state")
        return
    if current == "RUNNING" and run.state == "SCHEDULED":
        run.set_state("RUNNING")
        run.started_at, run.running_since = _utcnow(), now
    timeout = run.execution_timeout_minutes
    if (run.state == "RUNNING" and timeout and run.running_since is not None
            and now - run.running_since >= timeout * _MINUTE):
        run.timed_out = run.cancel_requested = True
        run.set_state("CANCELLING")
        run.kill_at = now + DEFAULT_GRACE_SECONDS
        _signal(run, signal.SIGTERM)
    if run.kill_at is not None and now >= run.kill_at:
        _signal(run, signal.SIGKILL)
    if now - run.logs_at >= LOG_INTERVAL:
        run.logs_at = now
        _send_logs(run)
    elif now - run.cloudwatch_at >= CLOUDWATCH_INTERVAL:
        run.cloudwatch_at = now
        _send_cloudwatch(run)


def _end(run: JobRun, state: dict[str, Any]) -> None:
    if run.cancel_requested or state["state"] == "CANCELLED":
        _finish(run, "CANCELLED", _cancel_details(run))
    elif state["state"] == "SUCCESS":
        _finish(run, "SUCCESS", "")
    else:
        _finish(run, "FAILED", _failure_details(run, state))


def _cancel_details(run: JobRun) -> str:
    if run.timed_out:
        return f"Job run exceeded its execution timeout of {run.execution_timeout_minutes} minutes and was cancelled"
    return "Job run was cancelled by request"


def _failure_details(run: JobRun, state: dict[str, Any]) -> str:
    """EMR's wording: the exit code and the driver's last exception."""
    from deplat.core.logs import driver_error

    assert run.run_dir is not None  # only _watch's runs with a supervisor (_launch set run_dir first) end here
    text = {s: (run.run_dir / s).read_text(errors="replace") if (run.run_dir / s).is_file() else ""
            for s in ("stdout", "stderr")}
    lines = [x.strip() for x in driver_error(text["stdout"], text["stderr"])[0].splitlines() if x.strip()]
    last = lines[-1] if lines else ""
    code = state.get("exit_code", 1)
    if isinstance(code, int) and code < 0:  # killed: the supervisor names the signal and its likely cause
        return f"Job failed: {state.get('details') or ''}"
    head = f"Job failed, please check complete logs in configured logging destination. ExitCode: {code}."
    if not last or _LOG_LINE.match(last):  # no exception, only Spark's own log lines
        return head
    return f"{head} Last few exceptions: {last}"


def _finish(run: JobRun, final: str, details: str) -> None:
    run.set_state(final, details)
    run.ended_at = _utcnow()
    seconds = (time.monotonic() - run.running_since) if run.running_since is not None else 0.0
    run.total_execution_duration_seconds = int(round(seconds))
    used, billed = runner.utilization([run.worker] if run.running_since is not None else [], seconds)
    run.total_resource_utilization, run.billed_resource_utilization = used, billed
    if run.proc is not None:
        run.proc.poll()  # reap the supervisor


def _signal(run: JobRun, sig: int) -> None:
    if run.proc is None:
        return
    try:
        os.killpg(run.proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
    if sig == signal.SIGKILL and run.run_dir is not None:
        warm = ls._read_pid(run.run_dir / "warm_driver.pid")
        if ls._alive(warm):
            ls._stop_warm_driver(warm)


def _send_logs(run: JobRun) -> None:
    """Upload the driver's stdout/stderr (gzip) to the run's S3 log location when they grew."""
    uri = run.log_uri()
    if not uri or run.run_dir is None:
        return
    from deplat.core.logs import s3_location
    from deplat.engines.base import RunRef

    ref = RunRef(run.id, run.application_id, "emr-serverless", log_uri=uri)
    s3 = None
    for stream in ("stdout", "stderr"):
        path = run.run_dir / stream
        data = path.read_bytes() if path.is_file() else b""
        if run.logs_sent.get(stream) == len(data) and stream in run.logs_sent:
            continue
        s3 = s3 or _runtime().s3()
        bucket, key = s3_location(ref, stream)
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(data, mtime=0),
                          ContentType="application/gzip")
            run.logs_sent[stream] = len(data)
        except Exception:  # noqa: BLE001, S112 - a missing bucket must not stop the run's state machine
            continue


def _send_cloudwatch(run: JobRun) -> None:
    """Append the driver's new whole lines to its CloudWatch streams
    (`<prefix>/applications/<app>/jobs/<run>/SPARK_DRIVER/<stdout|stderr>`)."""
    config = run.cloudwatch()
    if not config or run.run_dir is None:
        return
    from deplat.core.logs import log_stream_name
    from deplat.engines.base import RunRef

    group = config.get("logGroupName") or DEFAULT_LOG_GROUP
    wanted = [t.upper() for t in (config.get("logTypes") or {"SPARK_DRIVER": ["STDOUT", "STDERR"]})
              .get("SPARK_DRIVER", [])]
    ref = RunRef(run.id, run.application_id, "emr-serverless")
    client = None
    for stream in ("stdout", "stderr"):
        path = run.run_dir / stream
        if stream.upper() not in wanted or not path.is_file():
            continue
        with path.open("rb") as fh:
            fh.seek(run.cloudwatch_sent.get(stream, 0))
            data = fh.read()
        data = data[: data.rfind(b"\n") + 1]
        if not data and stream in run.cloudwatch_sent:
            continue
        client = client or _runtime().client("logs")
        name = log_stream_name(ref, stream, config.get("logStreamNamePrefix") or "emr-serverless")
        try:
            if stream not in run.cloudwatch_sent:
                _create_stream(client, group, name)
            now_ms = int(time.time() * 1000)
            lines = data.decode("utf-8", errors="replace").splitlines()
            for start in range(0, len(lines), 1000):  # PutLogEvents' batch limit is 10,000 events, 1 MB
                client.put_log_events(logGroupName=group, logStreamName=name, logEvents=[
                    {"timestamp": now_ms, "message": line or " "} for line in lines[start:start + 1000]])
            run.cloudwatch_sent[stream] = run.cloudwatch_sent.get(stream, 0) + len(data)
        except Exception:  # noqa: BLE001, S112 - logs are best effort; the run's states are not
            continue


def _create_stream(client: Any, group: str, name: str) -> None:
    for create, kwargs in ((client.create_log_group, {"logGroupName": group}),
                           (client.create_log_stream, {"logGroupName": group, "logStreamName": name})):
        try:
            create(**kwargs)
        except client.exceptions.ResourceAlreadyExistsException:
            pass


def _scheduler() -> None:
    while True:
        time.sleep(TICK_SECONDS)
        with _LOCK:
            now = time.monotonic()
            for backend in list(_BACKENDS):
                try:
                    backend.tick(now)
                except Exception:  # noqa: BLE001 - one bad run must not stop the scheduler
                    import traceback

                    traceback.print_exc()


def _patch_responses() -> None:
    """moto's handlers drop what the stand-in honours: StartJobRun's mode and retryPolicy, ListJobRuns'
    mode filter and each summary's mode and attempt, CancelJobRun's shutdownGracePeriodInSeconds (a
    query parameter)."""
    from moto.core.responses import ActionResult, PaginatedResult
    from moto.emrserverless.responses import EMRServerlessResponse

    def start_job_run(self: Any) -> Any:
        run = self.emrserverless_backend.start_job_run(
            application_id=self._get_param("applicationId"), client_token=self._get_param("clientToken"),
            execution_role_arn=self._get_param("executionRoleArn"), job_driver=self._get_param("jobDriver"),
            configuration_overrides=self._get_param("configurationOverrides"), tags=self._get_param("tags"),
            execution_timeout_minutes=self._get_int_param("executionTimeoutMinutes"),
            name=self._get_param("name"), mode=self._get_param("mode"),
            retry_policy=self._get_param("retryPolicy"))
        return ActionResult({"applicationId": run.application_id, "jobRunId": run.id, "arn": run.arn})

    def list_job_runs(self: Any) -> Any:
        runs = self.emrserverless_backend.list_job_runs(
            application_id=self._get_param("applicationId"), created_at_after=self._get_param("createdAtAfter"),
            created_at_before=self._get_param("createdAtBefore"), states=self._get_param("states", []),
            mode=self._get_param("mode"))
        return PaginatedResult({"jobRuns": [
            {"applicationId": r.application_id, "id": r.id, "name": r.name, "mode": r.mode, "arn": r.arn,
             "createdBy": r.created_by, "createdAt": r.created_at, "updatedAt": r.updated_at,
             "executionRole": r.execution_role_arn, "state": r.state, "stateDetails": r.state_details,
             "releaseLabel": r.release_label, "type": r.application_type, "attempt": r.attempt}
            for r in runs]})

    def cancel_job_run(self: Any) -> Any:
        grace = self._get_int_param("shutdownGracePeriodInSeconds")
        app_id, run_id = self.emrserverless_backend.cancel_job_run(
            self._get_param("applicationId"), self._get_param("jobRunId"), grace)
        return ActionResult({"applicationId": app_id, "jobRunId": run_id})

    # replacing moto's handler methods, which mypy does not allow
    EMRServerlessResponse.start_job_run = start_job_run  # type: ignore[method-assign]
    EMRServerlessResponse.list_job_runs = list_job_runs  # type: ignore[method-assign]
    EMRServerlessResponse.cancel_job_run = cancel_job_run  # type: ignore[method-assign]


def _shutdown(signum: int, frame: Any) -> None:
    """moto is stopping (`deplat local down`): the runs and warm drivers it started go with it."""
    with _LOCK:
        for backend in list(_BACKENDS):
            for runs in backend.job_runs.values():
                for run in runs:
                    if run.state in LIVE:
                        _signal(run, signal.SIGKILL)
            for app_id in backend.applications:
                ls.stop_warm_drivers(_runtime().runs_dir(app_id))
    raise SystemExit(0)


def install(root: Path, endpoint_url: str, minute_seconds: float = 60.0, master: str = "local[2]") -> None:
    """Make this (moto server) process's EMR Serverless the stand-in; call before serving.

    `root`: the stand-in's folder (run folders, warm drivers, `standin.json` naming this process);
    `endpoint_url`: this moto server, where jobs fetch their code and write their logs."""
    global _RUNTIME, _MINUTE
    import moto.emrserverless as package
    from moto.core.base_backend import BackendDict
    from moto.emrserverless import responses

    _RUNTIME = runner.Runtime(Path(root), endpoint_url, master=master)
    _MINUTE = float(minute_seconds)
    backends: BackendDict[moto_models.EMRServerlessBackend] = BackendDict(StandinBackend, "emr-serverless")
    moto_models.emrserverless_backends = backends
    responses.emrserverless_backends = backends
    package.emrserverless_backends = backends
    _patch_responses()
    signal.signal(signal.SIGTERM, _shutdown)
    Path(root).mkdir(parents=True, exist_ok=True)
    from deplat.local.standins.emr_serverless import MARKER, record_path

    marker = {"pid": os.getpid(), "endpoint_url": endpoint_url, "minute_seconds": _MINUTE,
              "root": str(Path(root).resolve())}
    (Path(root) / MARKER).write_text(json.dumps(marker))
    record_path(endpoint_url).write_text(json.dumps(marker))
    threading.Thread(target=_scheduler, daemon=True, name="emr-standin-scheduler").start()


__all__ = ["ResourceNotFoundException", "StandinBackend", "install"]
