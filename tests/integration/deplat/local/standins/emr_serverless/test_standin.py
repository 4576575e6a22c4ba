"""`EmrServerlessEngine` in a local env (`engine: emr-serverless`) against moto's EMR Serverless
stand-in, which runs the submitted job with real Spark.

Each test would fail on a wrong engine: plain moto finishes every run SUCCESS at once, writes no
logs, ignores clientToken and never queues; the local Spark engine has `lr-` run ids and no EMR API.
The module starts its own moto server with the stand-in (a "minute" of its timeouts lasts 1 s), so
the shared local stack is never touched.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from deplat import registry
from deplat.cli import app
from deplat.registry import Pipeline, Step
from tests.integration import deplat_project

pytestmark = [pytest.mark.integration, pytest.mark.spark]

ROLE = "arn:aws:iam::123456789012:role/deplat-test-job"
ONE_WORKER = {"cpu": "4 vCPU", "memory": "16 GB", "disk": "40 GB"}  # one default driver worker

SMOKE_ENV = '''
import os

print("AWS endpoint " + os.environ["AWS_ENDPOINT_URL"], flush=True)
print("driverEnv " + os.environ.get("DEPLAT_TEST_MARK", "-"), flush=True)
'''


SMOKE_TICK = '''
import time

for i in range(8):
    print("tick %d" % i, flush=True)
    time.sleep(1)
'''


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _until(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"not within {timeout:.0f}s: {what}")


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    """A private moto server with the EMR Serverless stand-in; its state under a private DEPLAT_HOME."""
    port = _free_port()
    home = tmp_path_factory.mktemp("standin-home")
    root = home / "local" / "emr-serverless"
    log = (home / "moto.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "deplat.local.standins.moto_launcher", str(port), "--emr-standin",
                             str(root), "--minute-seconds", "1"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}"
    from deplat.local.services import http_ok

    _until(lambda: http_ok(f"{endpoint}/moto-api/"), 60, "the stand-in's moto answers")
    kw = {"endpoint_url": endpoint, "region_name": "us-east-1", "aws_access_key_id": "testing",
          "aws_secret_access_key": "testing"}
    yield SimpleNamespace(endpoint=endpoint, port=port, home=home, root=root,
                          emr=boto3.client("emr-serverless", **kw), s3=boto3.client("s3", **kw))
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)
    log.close()
    from deplat.local.standins.emr_serverless.supervisor import _alive, _read_pid, stop_warm_drivers

    for runs in root.glob("applications/*/runs"):
        stop_warm_drivers(runs)
        for pid_file in runs.glob("*/supervisor.pid"):
            pid = _read_pid(pid_file)
            if _alive(pid):
                os.killpg(pid, signal.SIGKILL)


@pytest.fixture
def project(standin, tmp_path, monkeypatch):
    """A deployed throwaway project whose local env runs on EMR Serverless (the stand-in); a new
    application per test. -> (bucket, application id)"""
    monkeypatch.setattr(deplat_project, "MOTO", standin.endpoint)
    root, bucket = deplat_project.make_project(
        tmp_path, monkeypatch, {"smoke_ok": deplat_project.SMOKE_OK, "smoke_boom": deplat_project.SMOKE_BOOM,
                                "smoke_sleep": deplat_project.SMOKE_SLEEP, "smoke_env": SMOKE_ENV,
                                "smoke_tick": SMOKE_TICK})
    config = root / "config" / "deplat.yaml"
    doc = yaml.safe_load(config.read_text())
    doc["environments"]["local"].update(endpoint_url=standin.endpoint, engine="emr-serverless")
    doc["local_stack"]["moto_port"] = standin.port
    config.write_text(yaml.safe_dump(doc))
    monkeypatch.setenv("DEPLAT_HOME", str(standin.home))
    for name in ("smoke_ok", "smoke_boom", "smoke_sleep", "smoke_env", "smoke_tick"):
        monkeypatch.setitem(registry.PIPELINES, name, Pipeline(name, (Step(name),)))
    return _deploy(standin, bucket)


def _deploy(standin, bucket, log_group: str | None = None, **app_config) -> tuple[str, str]:
    app_id = standin.emr.create_application(
        name=f"deplat-test-{uuid.uuid4().hex[:8]}", releaseLabel="emr-7.2.0", type="SPARK",
        **{"maximumCapacity": ONE_WORKER, **app_config})["applicationId"]
    outputs = standin.home / "local" / "outputs.json"
    outputs.parent.mkdir(parents=True, exist_ok=True)
    outputs.write_text(json.dumps({"environment": "local", "region": "us-east-1", "artifacts_bucket": bucket,
                                   "lake_bucket": f"{bucket}-lake", "emr_application_id": app_id,
                                   "emr_job_role_arn": ROLE,
                                   **({"log_group_name": log_group} if log_group else {})}))
    result = cli("deploy", "--no-deps-archive")
    assert result.exit_code == 0, result.output
    return bucket, app_id


def cli(*args):
    return CliRunner().invoke(app, list(args), terminal_width=200)


def _run_id(result) -> str:
    match = re.search(r"submitted run ([0-9a-z]{16})\b", result.output)
    assert match, result.output
    return match.group(1)


def _entry(bucket: str, job: str) -> str:
    """The deployed entry point of jobs/<job>.py."""
    return next(f"s3://{bucket}/{k}" for k in deplat_project.keys(bucket, "artifacts/") if k.endswith(f"/{job}.py"))


def _job(standin, app_id, run_id) -> dict:
    return standin.emr.get_job_run(applicationId=app_id, jobRunId=run_id)["jobRun"]


def _states_until_terminal(standin, app_id, run_id, timeout=120) -> list[str]:
    seen: list[str] = []

    def step():
        state = _job(standin, app_id, run_id)["state"]
        if not seen or seen[-1] != state:
            seen.append(state)
        return state in ("SUCCESS", "FAILED", "CANCELLED")

    _until(step, timeout, f"run {run_id} ends", interval=0.1)
    return seen


def test_run_goes_through_the_emr_api_runs_spark_and_writes_driver_logs_to_s3(standin, project):
    from deltalake import DeltaTable

    bucket, app_id = project
    assert standin.emr.get_application(applicationId=app_id)["application"]["state"] == "CREATED"
    result = cli("run", "smoke_ok", "--wait")
    assert result.exit_code == 0, result.output
    run_id = _run_id(result)
    assert not run_id.startswith("lr-")
    job = _job(standin, app_id, run_id)
    assert job["state"] == "SUCCESS" and job["startedAt"] < job["endedAt"]
    assert job["totalExecutionDurationSeconds"] >= 1
    # The driver worker (4 vCPU, 16 GB) is billed for at least a minute; used = the real run time.
    billed_seconds = max(60, job["totalExecutionDurationSeconds"])
    assert job["billedResourceUtilization"]["vCPUHour"] == pytest.approx(4 * billed_seconds / 3600, rel=0.05)
    assert 0 < job["totalResourceUtilization"]["memoryGBHour"] < job["billedResourceUtilization"]["memoryGBHour"]
    # The run's summary, `deplat status` and the history price what GetJobRun billed (us-east-1).
    price = round(job["billedResourceUtilization"]["vCPUHour"] * 0.052624
                  + job["billedResourceUtilization"]["memoryGBHour"] * 0.0057785, 4)
    assert f"${price:.4f} (" in result.output and "billed: $" in result.output
    status = json.loads(cli("-o", "json", "status").stdout)
    rec = next(r for r in status["runs"] if r["run_id"] == run_id)
    assert rec["cost"]["vcpu_hours"] == job["billedResourceUtilization"]["vCPUHour"]
    lake = Path(os.environ["DEPLAT_LAKE_URI"])
    assert DeltaTable(str(lake / "silver" / "smoke")).to_pyarrow_table().num_rows == 5
    prefix = f"logs/applications/{app_id}/jobs/{run_id}/SPARK_DRIVER/"
    assert {f"{prefix}stdout.gz", f"{prefix}stderr.gz"} <= deplat_project.keys(bucket, prefix)
    logs = cli("logs", run_id)
    assert logs.exit_code == 0 and "hello from smoke" in logs.stdout and "DEPLAT_METRICS" in logs.stdout
    assert standin.emr.get_application(applicationId=app_id)["application"]["state"] == "STARTED"


def test_driver_env_and_the_local_endpoint_reach_the_job(standin, project):
    bucket, app_id = project
    from deplat.core.context import Context
    from deplat.engines.base import JobSpec
    from deplat.runs import RunService

    service = RunService(Context())
    entry = _entry(bucket, "smoke_env")
    engine = service.engine
    spec = JobSpec("smoke_env", "smoke_env", entry)
    params = engine._job_params(spec, "k" * 32, "token-env-1")
    params["jobDriver"]["sparkSubmit"]["sparkSubmitParameters"] += (
        " --conf spark.emr-serverless.driverEnv.DEPLAT_TEST_MARK=from-driver-env")
    run_id = standin.emr.start_job_run(**params)["jobRunId"]
    assert _states_until_terminal(standin, app_id, run_id)[-1] == "SUCCESS", _job(standin, app_id, run_id)
    out = cli("logs", run_id).stdout
    assert f"AWS endpoint {standin.endpoint}" in out and "driverEnv from-driver-env" in out


def test_failed_job_has_its_error_in_state_details_and_deplat_logs(standin, project):
    bucket, app_id = project
    result = cli("run", "smoke_boom", "--wait")
    assert result.exit_code == 4, result.output
    run_id = _run_id(result)
    job = _job(standin, app_id, run_id)
    assert job["state"] == "FAILED"
    assert "RuntimeError: boom: the smoke job failed on purpose" in job["stateDetails"]
    assert "ExitCode: 1" in job["stateDetails"] and len(job["stateDetails"]) <= 256
    assert "RuntimeError: boom" in result.output
    logs = cli("logs", run_id, "--stderr")
    assert logs.exit_code == 0, logs.output
    assert "Traceback (most recent call last):" in logs.stdout
    assert re.search(r'File ".*smoke_boom\.py", line \d+, in transform', logs.stdout)


def test_cancel_while_running_goes_cancelling_then_cancelled_and_keeps_the_logs(standin, project):
    bucket, app_id = project
    first = cli("-o", "json", "run", "smoke_sleep", "--no-wait")
    assert first.exit_code == 0, first.output
    run_id = json.loads(first.stdout)["steps"][0]["run_id"]
    run_dir = standin.root / "applications" / app_id / "runs" / run_id
    _until(lambda: _job(standin, app_id, run_id)["state"] == "RUNNING", 60, "RUNNING")
    _until(lambda: "sleeping" in (run_dir / "stdout").read_text(errors="replace")
           if (run_dir / "stdout").is_file() else False, 60, "the job printed")
    pid = int((run_dir / "supervisor.pid").read_text())

    from deplat.core.context import Context
    from deplat.runs import RunService

    service = RunService(Context())
    service.engine.cancel(service.ref(run_id))  # CancelJobRun, without `deplat cancel`'s wait
    seen = _states_until_terminal(standin, app_id, run_id, timeout=60)
    assert seen[0] == "CANCELLING" and seen[-1] == "CANCELLED", seen
    from deplat.local.standins.emr_serverless.supervisor import _alive

    assert not _alive(pid)
    _until(lambda: not [p for p in Path("/proc").glob("[0-9]*") if _in_group(p, pid)], 10,
           "spark-submit and the Python driver gone")
    prefix = f"logs/applications/{app_id}/jobs/{run_id}/SPARK_DRIVER/"
    assert f"{prefix}stdout.gz" in deplat_project.keys(bucket, prefix)
    assert "sleeping" in cli("logs", run_id).stdout


def _in_group(proc: Path, pgid: int) -> bool:
    try:
        fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return int(fields[2]) == pgid and fields[0] != "Z"


def test_a_reused_client_token_returns_the_same_run_and_starts_nothing(standin, project):
    bucket, app_id = project
    entry = _entry(bucket, "smoke_sleep")
    request = {"applicationId": app_id, "executionRoleArn": ROLE, "clientToken": f"tok.{uuid.uuid4().hex}",
               "jobDriver": {"sparkSubmit": {"entryPoint": entry}}}
    first = standin.emr.start_job_run(**request)["jobRunId"]
    again = standin.emr.start_job_run(**request)["jobRunId"]
    assert again == first
    runs = standin.emr.list_job_runs(applicationId=app_id)["jobRuns"]
    assert [r["id"] for r in runs] == [first]
    _until(lambda: _job(standin, app_id, first)["state"] == "RUNNING", 60, "RUNNING")
    assert [p.name for p in (standin.root / "applications" / app_id / "runs").iterdir()
            if not p.name.startswith("_")] == [first]
    standin.emr.cancel_job_run(applicationId=app_id, jobRunId=first, shutdownGracePeriodInSeconds=5)
    assert _states_until_terminal(standin, app_id, first)[-1] == "CANCELLED"


def test_job_mode_and_retry_policy_are_kept_listed_and_filtered_as_the_api_documents(standin, project):
    """moto's own handlers drop mode and retryPolicy: a STREAMING run would read back as nothing."""
    bucket, app_id = project
    driver = {"sparkSubmit": {"entryPoint": _entry(bucket, "smoke_sleep")}}
    stream = standin.emr.start_job_run(applicationId=app_id, executionRoleArn=ROLE, clientToken="s1",
                                       jobDriver=driver, mode="STREAMING",
                                       retryPolicy={"maxFailedAttemptsPerHour": 3})["jobRunId"]
    batch = standin.emr.start_job_run(applicationId=app_id, executionRoleArn=ROLE, clientToken="b1",
                                      jobDriver=driver)["jobRunId"]
    job = _job(standin, app_id, stream)
    assert job["mode"] == "STREAMING" and job["retryPolicy"] == {"maxFailedAttemptsPerHour": 3}
    assert _job(standin, app_id, batch)["mode"] == "BATCH"  # the API's default
    listed = {r["id"]: r["mode"] for r in standin.emr.list_job_runs(applicationId=app_id)["jobRuns"]}
    assert listed == {stream: "STREAMING", batch: "BATCH"}
    only = standin.emr.list_job_runs(applicationId=app_id, mode="STREAMING")["jobRuns"]
    assert [r["id"] for r in only] == [stream]
    with pytest.raises(ClientError) as err:
        standin.emr.start_job_run(applicationId=app_id, executionRoleArn=ROLE, clientToken="x1",
                                  jobDriver=driver, mode="MICROBATCH")
    assert err.value.response["Error"]["Code"] == "ValidationException" and "mode" in str(err.value)
    for run in (stream, batch):
        standin.emr.cancel_job_run(applicationId=app_id, jobRunId=run, shutdownGracePeriodInSeconds=5)
        assert _states_until_terminal(standin, app_id, run)[-1] == "CANCELLED"


@pytest.mark.parametrize("token", ["has space", "x" * 65, "semi;colon"])
def test_an_invalid_client_token_is_refused_as_aws_does(standin, project, token):
    bucket, app_id = project
    with pytest.raises(ClientError) as err:
        standin.emr.start_job_run(applicationId=app_id, executionRoleArn=ROLE, clientToken=token,
                                  jobDriver={"sparkSubmit": {"entryPoint": f"s3://{bucket}/x.py"}})
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert "clientToken" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:  # the service's 5-minute minimum
        standin.emr.start_job_run(applicationId=app_id, executionRoleArn=ROLE, clientToken="ok-token",
                                  executionTimeoutMinutes=2,
                                  jobDriver={"sparkSubmit": {"entryPoint": f"s3://{bucket}/x.py"}})
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert "jobRuns" in standin.emr.list_job_runs(applicationId=app_id)
    assert standin.emr.list_job_runs(applicationId=app_id)["jobRuns"] == []


def test_a_run_waits_queued_while_capacity_is_full_then_runs(standin, project):
    bucket, app_id = project
    entry = _entry(bucket, "smoke_sleep")

    def start(token):
        return standin.emr.start_job_run(applicationId=app_id, executionRoleArn=ROLE, clientToken=token,
                                         jobDriver={"sparkSubmit": {"entryPoint": entry}})["jobRunId"]

    first = start(f"a-{uuid.uuid4().hex}")
    second = start(f"b-{uuid.uuid4().hex}")
    _until(lambda: _job(standin, app_id, first)["state"] == "RUNNING", 60, "the first run RUNNING")
    _until(lambda: _job(standin, app_id, second)["state"] == "QUEUED", 10, "the second run QUEUED")
    assert not (standin.root / "applications" / app_id / "runs" / second).exists()  # nothing started
    standin.emr.cancel_job_run(applicationId=app_id, jobRunId=first, shutdownGracePeriodInSeconds=5)
    _until(lambda: _job(standin, app_id, second)["state"] == "RUNNING", 60, "the second run RUNNING")
    standin.emr.cancel_job_run(applicationId=app_id, jobRunId=second, shutdownGracePeriodInSeconds=5)
    assert _states_until_terminal(standin, app_id, second)[-1] == "CANCELLED"


def test_execution_timeout_cancels_the_run_with_the_reason(standin, project):
    bucket, app_id = project
    # --timeout 240 s -> executionTimeoutMinutes 5 (the API's minimum), 5 s of the stand-in's clock.
    result = cli("run", "smoke_sleep", "--wait", "--timeout", "240")
    assert result.exit_code == 4, result.output
    run_id = _run_id(result)
    job = _job(standin, app_id, run_id)
    assert job["state"] == "CANCELLED" and job["executionTimeoutMinutes"] == 5
    assert "exceeded its execution timeout of 5 minutes" in job["stateDetails"]
    assert 5 <= job["totalExecutionDurationSeconds"] < 60


def test_application_auto_stops_when_idle_and_auto_starts_on_the_next_run(standin, project):
    bucket, _ = project
    _, app_id = _deploy(standin, bucket, autoStopConfiguration={"enabled": True, "idleTimeoutMinutes": 5})
    result = cli("run", "smoke_tick", "--wait")
    assert result.exit_code == 0, result.output
    states: list[str] = []

    def app_state(wanted):
        def check():
            state = standin.emr.get_application(applicationId=app_id)["application"]["state"]
            if not states or states[-1] != state:
                states.append(state)
            return state == wanted
        return check

    _until(app_state("STOPPED"), 30, "auto-stop after 5 idle minutes (5 s here)", interval=0.05)
    assert states[0] == "STARTED" and states[-1] == "STOPPED", states
    # StartJobRun on the STOPPED application (no StartApplication first): it starts by itself.
    driver = {"sparkSubmit": {"entryPoint": _entry(bucket, "smoke_tick")}}
    run_id = standin.emr.start_job_run(applicationId=app_id, executionRoleArn=ROLE, clientToken=uuid.uuid4().hex,
                                       jobDriver=driver)["jobRunId"]
    states.clear()
    _until(app_state("STARTED"), 30, "auto-start", interval=0.05)
    assert states == ["STOPPED", "STARTING", "STARTED"] or states == ["STARTING", "STARTED"], states
    assert _states_until_terminal(standin, app_id, run_id)[-1] == "SUCCESS"


def test_logs_stream_from_cloudwatch_while_the_job_runs(standin, project):
    from deplat.core.context import Context
    from deplat.runs import RunService

    bucket, _ = project
    _, app_id = _deploy(standin, bucket, log_group="/deplat/test/emr")
    first = cli("-o", "json", "run", "smoke_tick", "--no-wait")
    assert first.exit_code == 0, first.output
    run_id = json.loads(first.stdout)["steps"][0]["run_id"]
    service = RunService(Context())
    ref = service.ref(run_id)
    assert ref.log_group == "/deplat/test/emr"
    tail, received = service.engine.tail(ref), []

    def live_line():
        received.append(tail.read_new())
        return "tick 1" in "".join(received) and _job(standin, app_id, run_id)["state"] == "RUNNING"

    _until(live_line, 60, "a driver line in CloudWatch while the run is RUNNING")
    assert _states_until_terminal(standin, app_id, run_id)[-1] == "SUCCESS"
    # Once the run has ended its CloudWatch stream is complete: `logs --follow` prints it and returns.
    followed = cli("logs", run_id, "--follow")
    assert followed.exit_code == 0, followed.output
    assert all(f"tick {i}" in followed.stdout for i in range(8))
    logs = boto3.client("logs", endpoint_url=standin.endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")
    names = {s["logStreamName"] for s in logs.describe_log_streams(logGroupName="/deplat/test/emr")["logStreams"]}
    assert f"deplat/applications/{app_id}/jobs/{run_id}/SPARK_DRIVER/stdout" in names


def test_pre_initialized_driver_capacity_serves_runs_from_one_warm_driver(standin, project):
    bucket, _ = project
    driver = {"workerCount": 1, "workerConfiguration": {"cpu": "4 vCPU", "memory": "16 GB"}}
    _, app_id = _deploy(standin, bucket, initialCapacity={"DRIVER": driver})
    ids = []
    for name in ("smoke_boom", "smoke_ok"):
        result = cli("run", name, "--wait")
        assert result.exit_code == (4 if name == "smoke_boom" else 0), result.output
        ids.append(_run_id(result))
    runs = standin.root / "applications" / app_id / "runs"
    pids = {(runs / i / "warm_driver.pid").read_text() for i in ids}
    assert len(pids) == 1  # one warm driver served both
    assert "boom" in _job(standin, app_id, ids[0])["stateDetails"]
    assert "boom" not in cli("logs", ids[1]).stdout + cli("logs", ids[1], "--stderr").stdout
    standin.emr.stop_application(applicationId=app_id)  # releases the pre-initialized capacity
    _until(lambda: standin.emr.get_application(applicationId=app_id)["application"]["state"] == "STOPPED", 30,
           "STOPPED")
    from deplat.local.standins.emr_serverless.supervisor import _alive

    assert not _alive(int(pids.pop()))


def test_each_pre_initialized_driver_serves_a_run_at_once(standin, project):
    """DRIVER workerCount 2: two runs at once each get their own warm driver (neither runs cold)."""
    bucket, _ = project
    driver = {"workerCount": 2, "workerConfiguration": {"cpu": "4 vCPU", "memory": "16 GB"}}
    two = {"cpu": "8 vCPU", "memory": "32 GB", "disk": "80 GB"}
    _, app_id = _deploy(standin, bucket, initialCapacity={"DRIVER": driver}, maximumCapacity=two)
    entry = _entry(bucket, "smoke_sleep")
    ids = [standin.emr.start_job_run(applicationId=app_id, executionRoleArn=ROLE, clientToken=uuid.uuid4().hex,
                                     jobDriver={"sparkSubmit": {"entryPoint": entry}})["jobRunId"] for _ in range(2)]
    runs = standin.root / "applications" / app_id / "runs"
    for run_id in ids:
        _until(lambda run_id=run_id: "sleeping" in _text(runs / run_id / "stdout"), 180, f"{run_id} sleeping")
    pids = {(runs / i / "warm_driver.pid").read_text() for i in ids}
    assert len(pids) == 2  # two warm drivers, one run each
    for run_id in ids:
        standin.emr.cancel_job_run(applicationId=app_id, jobRunId=run_id, shutdownGracePeriodInSeconds=5)
    for run_id in ids:
        assert _states_until_terminal(standin, app_id, run_id)[-1] == "CANCELLED"


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
