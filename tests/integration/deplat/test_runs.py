"""`deplat run` on the local env: EmrServerlessEngine against moto's EMR Serverless stand-in, which
runs the deployed artifacts (moto bucket) with real Spark; driver logs in the EMR S3 layout, exit 4
with the driver's error on failure, `deplat logs`, `deplat status`.

Each spark-submit costs ~7 s here, so the module deploys once and keeps the runs few.
"""

import json
import re
import time

import pytest
from typer.testing import CliRunner

from deplat import registry
from deplat.cli import app
from deplat.registry import Pipeline, Step
from tests.integration.deplat_project import SMOKE_BOOM, SMOKE_OK, SMOKE_SLEEP, keys, make_project, standin_runs

pytestmark = [pytest.mark.integration, pytest.mark.spark]


@pytest.fixture
def project(local_stack, tmp_path, monkeypatch):
    root, bucket = make_project(tmp_path, monkeypatch,
                                {"smoke_ok": SMOKE_OK, "smoke_boom": SMOKE_BOOM, "smoke_sleep": SMOKE_SLEEP})
    monkeypatch.setitem(registry.PIPELINES, "smoke", Pipeline("smoke", (Step("smoke_ok"),)))
    monkeypatch.setitem(registry.PIPELINES, "smokefail", Pipeline("smokefail", (Step("smoke_boom"),)))
    monkeypatch.setitem(registry.PIPELINES, "smokesleep", Pipeline("smokesleep", (Step("smoke_sleep"),)))
    result = CliRunner().invoke(app, ["deploy", "--no-deps-archive"])
    assert result.exit_code == 0, result.output
    return root, bucket, tmp_path / "lake"


def cli(*args):
    return CliRunner().invoke(app, list(args), terminal_width=200)


RUN_ID = r"submitted run ([0-9a-z]{16})\b"  # an EMR Serverless job run id


def _app_id() -> str:
    from deplat.core.context import Context

    return Context().output("emr_application_id")


def test_run_succeeds_follows_logs_reports_metrics_and_status(project):
    from deltalake import DeltaTable

    root, bucket, lake = project
    result = cli("-o", "json", "run", "smoke", "--wait", "--follow")
    assert result.exit_code == 0, result.output
    assert re.search(r"hello from smoke \d{8}T\d{6}Z-", result.stderr)  # streamed while running
    run_id = re.search(RUN_ID, result.stderr).group(1)
    run = json.loads(result.stdout)
    assert [(s["step"], s["run_id"], s["state"]) for s in run["steps"]] == [("smoke_ok", run_id, "SUCCESS")]
    assert [(m["step"], m["read"], m["written"], m["rejected"]) for m in run["metrics"]] == [("smoke_ok", 5, 5, 0)]
    assert DeltaTable(str(lake / "silver" / "smoke")).to_pyarrow_table().num_rows == 5
    assert f"logs/applications/{_app_id()}/jobs/{run_id}/SPARK_DRIVER/stdout.gz" in keys(bucket, "logs/")

    status = cli("-o", "json", "status")
    assert status.exit_code == 0, status.output
    doc = json.loads(status.stdout)
    assert doc["application"]["state"] == "STARTED"
    run = next(r for r in doc["runs"] if r["run_id"] == run_id)
    assert (run["pipeline"], run["step"], run["state"]) == ("smoke", "smoke_ok", "SUCCESS")
    assert run["duration_s"] > 0

    out = cli("logs", run_id)
    assert out.exit_code == 0 and "DEPLAT_METRICS" in out.stdout
    followed = cli("logs", run_id, "--follow")  # the run has ended: prints it all and returns
    assert followed.exit_code == 0 and "hello from smoke" in followed.stdout

    text = cli("status")
    assert text.exit_code == 0 and run_id in text.stdout and "local" in text.stdout


def test_failed_step_exits_4_with_the_exception_and_logs_show_the_traceback(project):
    result = cli("run", "smokefail", "--wait")
    assert result.exit_code == 4, result.output
    assert "RuntimeError: boom: the smoke job failed on purpose" in result.output
    match = re.search(r"deplat logs ([0-9a-z]{16}) --stderr", result.output)
    assert match, result.output

    logs = cli("logs", match.group(1), "--stderr")
    assert logs.exit_code == 0, logs.output
    assert "Traceback (most recent call last):" in logs.stdout
    assert re.search(r'File ".*smoke_boom\.py", line \d+, in transform', logs.stdout)
    assert "RuntimeError: boom: the smoke job failed on purpose" in logs.stdout


def test_no_wait_then_wait_attaches_to_the_live_run_and_cancel_stops_it(project):
    from deplat.core.context import Context
    from deplat.engines.emr_serverless import EmrServerlessEngine
    from deplat.runs import RunService

    first = cli("-o", "json", "run", "smokesleep", "--no-wait")
    assert first.exit_code == 0, first.output
    run_id = json.loads(first.stdout)["steps"][0]["run_id"]

    ctx = Context()
    service = RunService(ctx)
    ref = service.ref(run_id)
    engine = service.engine
    assert isinstance(engine, EmrServerlessEngine)
    from deplat.engines.poll import Poller

    try:
        # Cancel a RUNNING run: one cancelled while still being launched has no driver, so no driver logs
        # (as in EMR), and CI's load once made this test cancel inside that window.
        deadline = time.monotonic() + 180
        while (state := engine.get(ref).state) not in ("RUNNING", "SUCCESS", "FAILED", "CANCELLED"):
            assert time.monotonic() < deadline, state
            time.sleep(0.5)  # polling the stand-in's GetJobRun
        assert state == "RUNNING"
        again = cli("-o", "json", "run", "smokesleep", "--no-wait")
        assert again.exit_code == 0, again.output
        step = json.loads(again.stdout)["steps"][0]
        assert step["run_id"] == run_id and step["attached"]
        emr = ctx.aws.client("emr-serverless")
        assert [r["id"] for r in emr.list_job_runs(applicationId=_app_id())["jobRuns"]] == [run_id]
    finally:
        engine.cancel(ref)
    final = Poller(lambda: engine.get(ref), policy=engine.poll_policy, timeout=60).wait()
    assert final.state == "CANCELLED"
    assert f"logs/applications/{_app_id()}/jobs/{run_id}/SPARK_DRIVER/stderr.gz" in keys(project[1], "logs/")


def test_batch_steps_run_in_one_warm_driver_each_with_its_own_logs_and_a_clean_session(project):
    from deplat.local.standins.emr_serverless.supervisor import _alive

    failed = cli("run", "smokefail", "--wait")
    assert failed.exit_code == 4, failed.output
    ok = cli("run", "smoke", "--wait")
    assert ok.exit_code == 0, ok.output
    ids = [re.search(RUN_ID, r.output).group(1) for r in (failed, ok)]
    runs = standin_runs(_app_id())  # the application's pre-initialized driver is the stand-in's warm driver
    pids = {(runs / i / "warm_driver.pid").read_text() for i in ids}
    assert len(pids) == 1 and _alive(int(pids.pop()))  # one driver served both and is still up
    # Each run's driver log holds only its own output: the failure stayed in the first run.
    assert "boom" in (runs / ids[0] / "stderr").read_text()
    assert "boom" not in (runs / ids[1] / "stderr").read_text() + (runs / ids[1] / "stdout").read_text()
    assert "hello from smoke" in (runs / ids[1] / "stdout").read_text()
