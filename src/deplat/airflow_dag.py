"""`deplat airflow render`: the platform's Airflow (MWAA) DAG, rendered from the pipeline registry and the
deployed manifest, so the schedule can never drift from `deplat run`.

One EmrServerlessStartJobOperator task per registry step of `all`, in order, each carrying the
StartJobRun request `deplat run` submits for that step and manifest (runs.step_spec +
EmrServerlessEngine's request: entry point, arguments, sparkSubmitParameters, monitoring
configuration, execution role, tags); the batch id is the Airflow run's logical date. Each DQ gate
step is followed by its own verdict task, which reads the gate run's metrics from the driver log on
S3 and fails on a failed error expectation, so gold never runs on data that failed the gate.

Retries never start a duplicate run (apache/airflow#42401: the provider's token is a uuid drawn when
the DAG file is parsed, i.e. anew for every try on a worker): the clientToken is derived from
(dag_id, task_id, logical date, manifest hash) plus the number of this task instance's earlier runs
that ended FAILED or CANCELLED (found by the `deplat:airflow-ti` tag the DAG adds). A try after a
worker crash or a waiter timeout sends the token of the run still going (or already done) and EMR
Serverless returns that run; a try after a run that failed sends a new token and starts a new run
(a fixed token would replay the failed run forever, apache/airflow#69625). AWS honours a token for
8 hours. The operator waits up to the job's execution timeout (EMR's default: 12 h), polling every
`poll_seconds`, so the waiter never gives up on a run EMR still runs. Daily, no catch-up;
OpenLineage comes from the Airflow OpenLineage provider's own settings (OPENLINEAGE_URL /
openlineage.transport, namespace) on the environment (terraform/mwaa.tf).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deplat.core.context import Context

DAG_ID = "deplat_platform"
SCHEDULE = "@daily"
BATCH_TEMPLATE = "{{ ts_nodash }}Z-airflow"  # deplat run: <UTC time>-<random>; here the logical date's
VERDICT_SUFFIX = "__verdict"
DAGS_PREFIX = "airflow/dags/"  # terraform/mwaa.tf: dag_s3_path, requirements_s3_path
REQUIREMENTS_KEY = "airflow/requirements.txt"
MWAA_AIRFLOW = "2.10.3"  # terraform/mwaa.tf: mwaa_airflow_version (MWAA runs it on Python 3.11)
# The providers the DAG imports, pinned: the versions of Airflow 2.10.3's constraints file (what MWAA
# 2.10.3 installs), which tests/integration/airflow_venv.py installs and runs the DAG with.
PROVIDERS = {"apache-airflow-providers-amazon": "9.0.0", "apache-airflow-providers-openlineage": "1.13.0"}
TI_TAG = "deplat:airflow-ti"  # the job run tag naming the task instance (its token base)


@dataclass
class DagTask:
    task_id: str
    pipeline: str
    step: str
    request: dict[str, Any]  # StartJobRun parameters, clientToken excluded (made per logical date)
    gate: list[str] = field(default_factory=list)


@dataclass
class DagSpec:
    dag_id: str
    env: str
    manifest_hash: str
    application_id: str
    artifacts_bucket: str
    schedule: str
    tasks: list[DagTask]
    poll_seconds: int = 30  # the operator's waiter_delay
    retries: int = 2
    retry_delay_seconds: int = 300
    # How long a task waits for its run (waiter_delay x waiter_max_attempts); None: the run's own
    # executionTimeoutMinutes, else EMR's default of 12 h, so the waiter never gives up on a live run.
    wait_seconds: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def client_token(dag_id: str, task_id: str, logical_date: str, manifest_hash: str) -> str:
    """The StartJobRun clientToken of one task instance: the same for every try of it, different for
    another task, date or manifest. 48 hex characters (the API takes 1-64 of [A-Za-z0-9._-])."""
    raw = "\0".join((dag_id, task_id, logical_date, manifest_hash))
    return hashlib.sha256(raw.encode()).hexdigest()[:48]


def run_token(base: str, failed_runs: int) -> str:
    """The clientToken a try sends: the task instance's token (client_token) and the count of its
    earlier runs that ended FAILED or CANCELLED, so a retry after a failed run starts a new one while
    a retry after a lost worker gets the run it started. At most 48 + 1 + 15 characters."""
    return f"{base}-{failed_runs}"


def dag_spec(ctx: Context, pipeline: str = "all", dag_id: str = DAG_ID, **timing: Any) -> DagSpec:
    """The DAG's tasks for ctx's environment and its deployed manifest (ConfigError when nothing is
    deployed or an output is missing: run `deplat infra apply` / `deplat deploy`). `timing` sets
    DagSpec's poll_seconds, retries, retry_delay_seconds, wait_seconds (defaults: MWAA's)."""
    from deplat.dq.service import DqService
    from deplat.engines.emr_serverless import EmrServerlessEngine
    from deplat.runs import RunService, _resolve, _step_uris, step_spec
    from deplat_job.dq.suite import encode_suites

    steps = _resolve(pipeline, None)
    runs = RunService(ctx)
    manifest, bucket = runs._manifest()
    uris = _step_uris(manifest, bucket, [s for _, s in steps])
    outputs = ctx.outputs()
    engine = EmrServerlessEngine(None, ctx.output("emr_application_id"), ctx.output("emr_job_role_arn"), bucket,
                                 log_group=outputs.get("log_group_name"),
                                 source_roles=outputs.get("emr_source_role_arns"))
    tasks = []
    for pipe, st in steps:
        # The gate's suites as `deplat run` passes them (DqService.job_args), not checked against the
        # lake's schemas here: the tables may not exist yet where the DAG is rendered.
        own = ("--suites", encode_suites(DqService(ctx, runs=runs).gate_suites(st.gate))) if st.gate else ()
        spec, key = step_spec(ctx, pipe, st, uris, BATCH_TEMPLATE, manifest.manifest_hash, step_args=own)
        request = engine._job_params(spec, key, "")
        request.pop("clientToken")
        tasks.append(DagTask(f"{pipe}__{st.name}", pipe, st.name, request, list(st.gate)))
    return DagSpec(dag_id, ctx.env.name, manifest.manifest_hash, engine.application_id, bucket, SCHEDULE, tasks,
                   **timing)


def requirements(airflow_version: str = MWAA_AIRFLOW, python: str = "3.11") -> str:
    """MWAA's requirements.txt: Airflow's own constraints file for that Airflow and Python version (the way
    MWAA's documentation pins dependencies) and the DAG's providers at the pinned PROVIDERS versions."""
    url = f"https://raw.githubusercontent.com/apache/airflow/constraints-{airflow_version}/constraints-{python}.txt"
    return f'--constraint "{url}"\n' + "".join(f"{name}=={version}\n" for name, version in PROVIDERS.items())


def deploy_dag(ctx: Context) -> list[str]:
    """`deplat deploy`'s last step when the environment runs MWAA (Terraform output mwaa_environment_name
    set, i.e. mwaa_enabled): the DAG of the manifest just deployed and requirements.txt, uploaded where
    MWAA reads them; returns their s3:// URIs ([] when MWAA is off)."""
    if not (ctx.outputs(required=False) or {}).get("mwaa_environment_name"):
        return []
    spec = dag_spec(ctx)
    return upload(ctx, spec, render(spec))


def upload(ctx: Context, spec: DagSpec, source: str) -> list[str]:
    """Put the DAG file and requirements.txt where the MWAA environment reads them (the artifacts
    bucket's airflow/ prefix); returns their s3:// URIs."""
    from deplat.artifacts import s3_errors

    s3 = ctx.aws.client("s3")
    key = f"{DAGS_PREFIX}{spec.dag_id}.py"
    with s3_errors(ctx, spec.artifacts_bucket):
        s3.put_object(Bucket=spec.artifacts_bucket, Key=key, Body=source.encode(), ContentType="text/x-python",
                      Metadata={"manifest-hash": spec.manifest_hash})
        s3.put_object(Bucket=spec.artifacts_bucket, Key=REQUIREMENTS_KEY, Body=requirements().encode(),
                      ContentType="text/plain")
    return [f"s3://{spec.artifacts_bucket}/{k}" for k in (key, REQUIREMENTS_KEY)]


def render(spec: DagSpec) -> str:
    """The DAG file's Python source (Airflow 2.4+ with the Amazon provider; no deplat import)."""
    payload = json.dumps(spec.to_dict(), indent=1, sort_keys=True)
    if "'''" in payload:
        raise ValueError("the DAG payload cannot hold ''' ")
    return (_TEMPLATE.replace("@@HASH@@", spec.manifest_hash[:12]).replace("@@TI_TAG@@", TI_TAG)
            .replace("@@PAYLOAD@@", payload))


_TEMPLATE = '''"""deplat platform DAG for manifest @@HASH@@: rendered by `deplat airflow render` from the pipeline
registry and the deployed manifest. Do not edit: render again after `deplat deploy`."""

import gzip
import hashlib
import json
import math
from datetime import datetime, timedelta, timezone

from airflow import DAG
from airflow.exceptions import AirflowException
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.amazon.aws.operators.emr import EmrServerlessStartJobOperator

try:
    from airflow.providers.standard.operators.python import PythonOperator
except ImportError:  # Airflow 2
    from airflow.operators.python import PythonOperator

SPEC = json.loads(r\'\'\'@@PAYLOAD@@\'\'\')
METRICS_PREFIX = "DEPLAT_METRICS "
TI_TAG = "@@TI_TAG@@"


def client_token(dag_id, task_id, logical_date, manifest_hash):
    raw = "\\0".join((dag_id, task_id, logical_date, manifest_hash))
    return hashlib.sha256(raw.encode()).hexdigest()[:48]


class DeplatStartJob(EmrServerlessStartJobOperator):
    """A retry never starts a second run of one task instance: its clientToken is the task instance's
    (the same on every try and worker) plus the count of its runs that already ended FAILED or
    CANCELLED. EMR returns the run of a token it has seen (8 h): the live or finished run after a lost
    worker or a waiter timeout; a new run only after the last one failed."""

    def execute(self, context, event=None):
        if event is None:  # the first call, not a deferral's resumption
            base = client_token(self.dag_id, self.task_id, context["logical_date"].isoformat(),
                                SPEC["manifest_hash"])
            self.config = {**self.config, "tags": {**self.config.get("tags", {}), TI_TAG: base}}
            self.client_request_token = "{}-{}".format(base, self._ended_unsuccessfully(base))
            self.log.info("clientToken %s", self.client_request_token)
        return super().execute(context, event)

    def _ended_unsuccessfully(self, base):
        """How many runs of this task instance ended FAILED or CANCELLED (the name narrows, the tag decides)."""
        conn = self.hook.conn
        kwargs = {"applicationId": self.application_id, "states": ["FAILED", "CANCELLED"]}
        count = 0
        while True:
            page = conn.list_job_runs(**kwargs)
            for run in page.get("jobRuns", []):
                if run.get("name") != self.name:
                    continue
                job = conn.get_job_run(applicationId=self.application_id, jobRunId=run["id"])["jobRun"]
                count += (job.get("tags") or {}).get(TI_TAG) == base
            if not page.get("nextToken"):
                return count
            kwargs["nextToken"] = page["nextToken"]


def dq_verdict(gate_task_id, **context):
    """Fail when the gate run's DQ results have a failed error expectation (deplat's gate verdict)."""
    run_id = context["ti"].xcom_pull(task_ids=gate_task_id)
    key = "logs/applications/{}/jobs/{}/SPARK_DRIVER/stdout.gz".format(SPEC["application_id"], run_id)
    body = S3Hook().get_key(key, SPEC["artifacts_bucket"]).get()["Body"].read()
    records = [json.loads(line[len(METRICS_PREFIX):]) for line in gzip.decompress(body).decode().splitlines()
               if line.startswith(METRICS_PREFIX)]
    dq = next((r["dq"] for r in reversed(records) if r.get("step") == "dq_check" and "dq" in r), None)
    if dq is None:
        raise AirflowException("the gate run {} printed no DQ results".format(run_id))
    failed = ["{} {}".format(s["table"], r["expectation"]) for s in dq for r in s["results"]
              if not r["success"] and r["severity"] == "error"]
    if failed:
        raise AirflowException("data quality failed; gold is not written: " + "; ".join(failed))


with DAG(
    dag_id=SPEC["dag_id"],
    schedule=SPEC["schedule"],
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": SPEC["retries"], "retry_delay": timedelta(seconds=SPEC["retry_delay_seconds"])},
    tags=["deplat", SPEC["env"]],
) as dag:
    previous = None
    for task in SPEC["tasks"]:
        request = task["request"]
        config = {k: v for k, v in request.items() if k in ("tags", "executionTimeoutMinutes", "mode")}
        wait = SPEC["wait_seconds"] or 60 * request.get("executionTimeoutMinutes", 720)  # EMR's default: 12 h
        current = DeplatStartJob(
            task_id=task["task_id"],
            application_id=request["applicationId"],
            execution_role_arn=request["executionRoleArn"],
            job_driver=request["jobDriver"],
            configuration_overrides=request["configurationOverrides"],
            name=request["name"],
            config=config,
            wait_for_completion=True,
            deferrable=False,
            waiter_delay=SPEC["poll_seconds"],
            waiter_max_attempts=max(1, math.ceil(wait / SPEC["poll_seconds"])),
        )
        if previous is not None:
            previous >> current
        previous = current
        if task["gate"]:
            verdict = PythonOperator(task_id=task["task_id"] + "__verdict", python_callable=dq_verdict,
                                     op_kwargs={"gate_task_id": task["task_id"]}, retries=0)
            current >> verdict
            previous = verdict
'''
