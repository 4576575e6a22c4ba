"""EMR Serverless: start the application if needed, submit idempotently, poll, cancel, read logs.

Idempotency has two layers. Before submitting, a live run tagged with the same `deplat:key` is
attached to instead of starting another (moto ignores clientToken, and AWS honours it for 8 h
only). The clientToken names one intended run: drawn fresh for each `submit()` and reused by every
retry inside it, so a throttled call that did go through is never duplicated, and a deliberate
rerun always starts a new run. (A token derived from the run history, e.g. a count of finished
runs, can repeat the token of an earlier run still inside AWS's 8 h window, and AWS then hands back
that old run instead of starting one.)
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from deplat.core.logs import LogReader
from deplat.core.logs import follow as follow_tail
from deplat.engines.base import (
    LIVE_STATES,
    EngineError,
    JobSpec,
    PollPolicy,
    RunRef,
    RunState,
)
from deplat_job.errors import ApplicationNotFoundError, ConfigError
from deplat_job.shared import DELTA_CONF

if TYPE_CHECKING:
    from deplat.core.context import Context

ENGINE = "emr-serverless"
KEY_TAG = "deplat:key"
TRANSIENT_CODES = frozenset({
    "ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded",
    "ServiceUnavailable", "ServiceUnavailableException", "InternalServerException",
    "InternalServerError", "InternalFailure", "RequestTimeout", "RequestTimeoutException",
})
# Delta ships with the EMR 7.x runtime; these are its documented jar locations.
EMR_DELTA_JARS = ("/usr/share/aws/delta/lib/delta-spark.jar", "/usr/share/aws/delta/lib/delta-storage.jar")
DEPS_DIR = "deps"  # where spark.archives unpacks the dependency archive in the driver/executor cwd
APP_READY_TIMEOUT = 600.0
# After a run ends, EMR may still deliver the last part of its driver log (S3 upload, CloudWatch
# batch): `logs --follow` waits this long for it. The local stand-in delivers everything before
# the end state shows, so its engine waits 0.
LATE_LOG_SECONDS = 60.0


def is_transient(exc: BaseException) -> bool:
    """Throttling, 5xx and connection drops: worth retrying with backoff."""
    from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

    if isinstance(exc, (ConnectionError, ReadTimeoutError)):
        return True
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return err.get("Code") in TRANSIENT_CODES or status >= 500
    return False


def client_token(key: str) -> str:
    """A fresh StartJobRun clientToken for one intended run: the key's prefix (to trace it) and a
    random part. 49 characters of [0-9a-f-], inside the API's 1-64 `^[A-Za-z0-9._-]+$`."""
    return f"{key[:16]}-{uuid.uuid4().hex}"


def spark_submit_parameters(spec: JobSpec) -> str:
    """sparkSubmitParameters: the job package (a .zip: PySpark ships only .zip/.egg/.jar from
    --py-files to the executors' Python path) and Delta's jar on --py-files, the dependency archive
    on the driver's and executors' PYTHONPATH, Delta enabled. The runtime's own Python (3.9 on
    emr-7.x) runs driver and workers alike, so no PYSPARK_PYTHON is set."""
    parts: list[str] = []
    py_files = [*spec.py_files, EMR_DELTA_JARS[0]]  # the Delta jar carries the `delta` Python package
    parts += ["--py-files", ",".join(py_files)]
    conf = {"spark.jars": ",".join(EMR_DELTA_JARS), **DELTA_CONF}
    if spec.archives:
        # Wheels unpacked under site/ (no interpreter inside, so not a venv-pack) and a
        # sitecustomize.py at the root: on PYTHONPATH, it appends site/ behind the runtime's
        # site-packages on the driver and on every executor, so boto3 & co. are the runtime's.
        conf["spark.archives"] = ",".join(f"{uri}#{DEPS_DIR}" for uri in spec.archives)
        conf["spark.emr-serverless.driverEnv.PYTHONPATH"] = f"./{DEPS_DIR}"
        conf["spark.executorEnv.PYTHONPATH"] = f"./{DEPS_DIR}"
    for key, value in conf.items():
        parts += ["--conf", f"{key}={value}"]
    return " ".join(parts)


class EmrServerlessEngine:
    """JobEngine over an injected boto3 `emr-serverless` client."""

    name = ENGINE

    def __init__(
        self,
        client: Any,
        application_id: str,
        job_role_arn: str,
        artifacts_bucket: str,
        *,
        log_reader: Any = None,
        log_group: str | None = None,
        max_attempts: int = 5,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        poll_policy: PollPolicy | None = None,
        source_roles: dict[str, str] | None = None,
    ):
        self._client = client
        self.application_id = application_id
        self._role = job_role_arn
        self._source_roles = source_roles
        self._bucket = artifacts_bucket
        self._log_reader = log_reader
        self._log_group = log_group
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._clock = clock
        self.poll_policy = poll_policy or PollPolicy()
        self.late_log_seconds = LATE_LOG_SECONDS
        self._dashboards: dict[str, str | None] = {}

    @classmethod
    def from_context(cls, ctx: Context) -> EmrServerlessEngine:
        outputs = ctx.outputs()
        # Locally this engine runs only against the EMR Serverless stand-in, which writes CloudWatch Logs.
        log_group = outputs.get("log_group_name")
        return cls(
            ctx.aws.client("emr-serverless"),
            ctx.output("emr_application_id"),
            ctx.output("emr_job_role_arn"),
            ctx.output("artifacts_bucket"),
            log_reader=LogReader(ctx.aws.client("s3"), lambda: ctx.aws.client("logs")),
            log_group=log_group,
            source_roles=outputs.get("emr_source_role_arns"),
        )

    # --- JobEngine ---------------------------------------------------------------------------

    def submit(self, spec: JobSpec, idempotency_key: str) -> RunRef:
        """Attach to a live run with this key, else start one; never two because of a retry."""
        self.ensure_started()
        live = self._find_live(idempotency_key)
        if live:
            return self._ref(live, idempotency_key, spec, attached=True)
        params = self._job_params(spec, idempotency_key, client_token(idempotency_key))
        for attempt in range(1, self._max_attempts + 1):
            try:
                resp = self._client.start_job_run(**params)
                return self._ref(resp["jobRunId"], idempotency_key, spec)
            except Exception as exc:
                if not is_transient(exc) or attempt == self._max_attempts:
                    raise self._api_error("start_job_run", exc) from exc
            self._sleep(self._backoff(attempt))
            # The failed call may have started the run after all: look before submitting again.
            live = self._find_live(idempotency_key)
            if live:
                return self._ref(live, idempotency_key, spec, attached=True)
        raise AssertionError("unreachable")

    def get(self, run: RunRef) -> RunState:
        job = self._call("get_job_run", applicationId=run.application_id, jobRunId=run.run_id)["jobRun"]
        state = job["state"]
        url = self._dashboard(run) if state == "RUNNING" else self._dashboards.get(run.run_id)
        extra = {k: job[k] for k in ("createdAt", "updatedAt", "totalExecutionDurationSeconds",
                                     "billedResourceUtilization", "totalResourceUtilization") if k in job}
        return RunState(state, job.get("stateDetails") or "", url, extra)

    def cancel(self, run: RunRef) -> None:
        self._call("cancel_job_run", applicationId=run.application_id, jobRunId=run.run_id)

    def read_log(self, run: RunRef, stream: str = "stdout", wait: bool = True) -> str:
        return self._log_reader.read(run, stream, wait=wait)

    def tail(self, run: RunRef, stream: str = "stdout"):
        return self._log_reader.tail(run, stream)

    def logs(self, run: RunRef, stream: str = "stdout", follow: bool = False) -> Iterator[str]:
        if not follow:
            yield self.read_log(run, stream)
            return
        tail = self.tail(run, stream)
        # EMR uploads the last part of the log after the run ends: drain waits for it.
        yield from follow_tail(tail, lambda: self.get(run).terminal, sleep=self._sleep, interval=5.0,
                               drain=lambda: self._rest(run, stream, tail))

    def ref(self, run_id: str) -> RunRef:
        return RunRef(run_id, self.application_id, ENGINE, log_uri=f"s3://{self._bucket}/logs/",
                      log_group=self._log_group)

    def application_state(self) -> dict[str, Any]:
        app = self._call("get_application", applicationId=self.application_id)["application"]
        return {"id": self.application_id, "name": app.get("name"), "state": app["state"],
                "release_label": app.get("releaseLabel"), "engine": ENGINE}

    # --- the application ---------------------------------------------------------------------

    def ensure_started(self, timeout: float = APP_READY_TIMEOUT) -> str:
        """Start the application when CREATED/STOPPED and wait for STARTED (AWS creates it CREATED)."""
        start = self._clock()
        requested = False
        interval = 2.0
        while True:
            state = self.application_state()["state"]
            if state == "STARTED":
                return state
            if state == "TERMINATED":
                raise ConfigError(f"EMR Serverless application {self.application_id} is TERMINATED",
                                  "recreate it with `deplat infra apply`")
            if state in ("CREATED", "STOPPED") and not requested:
                self._call("start_application", applicationId=self.application_id)
                requested = True
            if self._clock() - start > timeout:
                raise EngineError(f"application {self.application_id} still {state} after {timeout:.0f}s",
                                  "check it in the EMR Studio console")
            self._sleep(interval)
            interval = min(interval * 1.5, 15.0)

    # --- helpers -----------------------------------------------------------------------------

    def _job_params(self, spec: JobSpec, key: str, token: str) -> dict[str, Any]:
        monitoring: dict[str, Any] = {"s3MonitoringConfiguration": {"logUri": f"s3://{self._bucket}/logs/"}}
        if self._log_group:
            monitoring["cloudWatchLoggingConfiguration"] = {
                "enabled": True, "logGroupName": self._log_group, "logStreamNamePrefix": "deplat",
                "logTypes": {"SPARK_DRIVER": ["STDOUT", "STDERR"]},
            }
        params: dict[str, Any] = {
            "applicationId": self.application_id,
            "clientToken": token,
            "executionRoleArn": self.role_for(spec),
            "name": f"{spec.name}-{key[:12]}",
            "jobDriver": {"sparkSubmit": {
                "entryPoint": spec.entry_point,
                "entryPointArguments": list(spec.args),
                "sparkSubmitParameters": spark_submit_parameters(spec),
            }},
            "configurationOverrides": {"monitoringConfiguration": monitoring},
            "tags": {KEY_TAG: key, "deplat:pipeline": spec.pipeline, "deplat:step": spec.step},
            # A stream (registry Step.streaming) runs as EMR's STREAMING job mode (emr-7.1.0 and later:
            # checkpoint-aware retries, log rotation); everything else as BATCH, the API's default.
            "mode": "STREAMING" if spec.streaming else "BATCH",
        }
        if spec.timeout_minutes:
            params["executionTimeoutMinutes"] = max(5, spec.timeout_minutes)
        return params

    def role_for(self, spec: JobSpec) -> str:
        """The runtime role of a step: its source's role when it reads a source secret, else the job
        role. Outputs without `emr_source_role_arns` (`source_roles` None) come from the Terraform
        whose one job role read every secret; ConfigError when the source has no role."""
        if not spec.secret or self._source_roles is None:
            return self._role
        role = self._source_roles.get(spec.secret)
        if not role:
            raise ConfigError(f"no runtime role for the {spec.secret} source (step {spec.step})",
                              "run `deplat infra apply`: it creates one role per source secret")
        return role

    def _runs(self, states: tuple[str, ...]) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"applicationId": self.application_id, "states": list(states)}
        while True:
            try:
                page = self._call("list_job_runs", **kwargs)
            except ConfigError:
                # moto says ResourceNotFound for an application with no runs yet (AWS: an empty list);
                # the application itself was checked by ensure_started().
                return
            yield from page.get("jobRuns", [])
            if not page.get("nextToken"):
                return
            kwargs["nextToken"] = page["nextToken"]

    def _find_live(self, key: str) -> str | None:
        """The id of a live run tagged with this key (the name pre-filters; the tag decides)."""
        for run in self._runs(LIVE_STATES):
            if not (run.get("name") or "").endswith(key[:12]):
                continue
            job = self._call("get_job_run", applicationId=self.application_id, jobRunId=run["id"])["jobRun"]
            if (job.get("tags") or {}).get(KEY_TAG) == key and job["state"] in LIVE_STATES:
                return job["jobRunId"]
        return None

    def _ref(self, run_id: str, key: str, spec: JobSpec, attached: bool = False) -> RunRef:
        return RunRef(run_id, self.application_id, ENGINE, key, f"s3://{self._bucket}/logs/",
                      self._log_group, attached, spec.pipeline, spec.step)

    def _dashboard(self, run: RunRef) -> str | None:
        if run.run_id not in self._dashboards:
            try:
                url = self._client.get_dashboard_for_job_run(
                    applicationId=run.application_id, jobRunId=run.run_id).get("url")
            except Exception:  # noqa: BLE001 - the Spark UI link is a nicety, never a failure
                url = None
            self._dashboards[run.run_id] = url
        return self._dashboards[run.run_id]

    def _rest(self, run: RunRef, stream: str, tail: Any) -> str:
        """Late log lines after the end: the first new chunk within `late_log_seconds`, else ''."""
        deadline = self._clock() + self.late_log_seconds
        while self._clock() < deadline:
            chunk = tail.read_new()
            if chunk:
                return chunk
            self._sleep(5.0)
        return ""

    def _backoff(self, attempt: int) -> float:
        return min(1.0 * 2 ** (attempt - 1), 20.0)

    def _call(self, op: str, **kwargs: Any) -> dict[str, Any]:
        """One API call, transient errors retried with bounded exponential backoff."""
        for attempt in range(1, self._max_attempts + 1):
            try:
                return getattr(self._client, op)(**kwargs)
            except Exception as exc:
                if not is_transient(exc) or attempt == self._max_attempts:
                    raise self._api_error(op, exc) from exc
            self._sleep(self._backoff(attempt))
        raise AssertionError("unreachable")

    def _api_error(self, op: str, exc: Exception) -> Exception:
        from botocore.exceptions import ClientError

        if not isinstance(exc, ClientError):
            return EngineError(f"EMR Serverless {op} failed: {exc}", "check the network and retry")
        code = exc.response.get("Error", {}).get("Code", "")
        message = exc.response.get("Error", {}).get("Message", str(exc))
        if code == "ResourceNotFoundException" and op == "get_application":
            return ApplicationNotFoundError(
                f"EMR Serverless application {self.application_id} does not exist ({message})",
                "run `deplat infra apply` (locally: moto keeps nothing across a restart), then `deplat deploy`")
        if code == "ResourceNotFoundException":
            return ConfigError(f"EMR Serverless {op}: {message}",
                               "the application or run does not exist: `deplat infra apply`, `deplat status`")
        if code in ("AccessDeniedException", "ValidationException"):
            return ConfigError(f"EMR Serverless {op} refused ({code}): {message}",
                               "check the job role and the application (`deplat infra plan`)")
        return EngineError(f"EMR Serverless {op} failed ({code}): {message}", "retry in a minute")
