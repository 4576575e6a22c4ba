"""`deplat dr reconcile` in the cloud: the key snapshot is a job on EMR Serverless (dms_key_snapshot),
submitted through the run service; the RDS credentials travel by secret name only. The EMR calls go
through the real botocore client with Stubber (request shapes checked against the service model)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from deplat.artifacts import Manifest
from deplat.core.console import NullReporter
from deplat.key_reconcile import KeyReconcileResult, SnapshotMetricsMissingError, reconcile
from deplat.runs import RunService
from deplat_job.errors import ConfigError
from deplat_job.pipelines.common import METRICS_PREFIX

APP = "00fabc123"
ROLE = "arn:aws:iam::123456789012:role/deplat-dev-job"
SECRET = "deplat/dev/rds"
REPORT = {"file": "s3://lake/_landing/dms_keys/app/orders/KEYS-20261129-120000000000-"
                  "00000000000123456789000000000000000.csv",
          "source_keys": 1013, "written": 1013, "snapshot_seq": "00000000000123456789000000000000000",
          "ghost_keys": 1}


def _ctx(tmp_path, env="dev"):
    return SimpleNamespace(
        state_dir=tmp_path, root=tmp_path, lake_uri="s3://deplat-dev-lake", reporter=NullReporter(),
        env=SimpleNamespace(name=env, is_local=env == "local"),
        settings=SimpleNamespace(default_env="local", lineage=None, project="deplat"),
        outputs=lambda required=True: {"artifacts_bucket": "art", "secret_names": {"rds": SECRET}})


class StubbedEmr:
    """EmrServerlessEngine over a Stubber'd botocore client; the driver log is the job's stdout."""

    def __init__(self, stdout: str):
        import boto3
        from botocore.stub import ANY, Stubber

        from deplat.engines.emr_serverless import EmrServerlessEngine

        self.client = boto3.client("emr-serverless", region_name="us-east-1")
        self.started: list[dict] = []
        self.client.meta.events.register("provide-client-params.emr-serverless.StartJobRun",
                                         lambda params, **kw: self.started.append(json.loads(json.dumps(params))))
        self.stub = Stubber(self.client)
        app_arn = f"arn:aws:emr-serverless:us-east-1:123456789012:/applications/{APP}"
        self.stub.add_response("get_application", {"application": {
            "applicationId": APP, "name": "deplat", "arn": app_arn, "releaseLabel": "emr-7.2.0", "type": "SPARK",
            "state": "STARTED", "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z"}},
            {"applicationId": APP})
        self.stub.add_response("list_job_runs", {"jobRuns": []}, {"applicationId": APP, "states": ANY})
        self.stub.add_response("start_job_run", {"applicationId": APP, "jobRunId": "jr1",
                                                 "arn": f"{app_arn}/jobruns/jr1"})
        self.stub.add_response("get_job_run", {"jobRun": {
            "applicationId": APP, "jobRunId": "jr1", "arn": f"{app_arn}/jobruns/jr1",
            "createdBy": "arn:aws:iam::123456789012:user/op", "createdAt": "2026-01-01T00:00:00Z",
            "updatedAt": "2026-01-01T00:01:00Z", "executionRole": ROLE, "state": "SUCCESS",
            "stateDetails": "done", "releaseLabel": "emr-7.2.0",
            "jobDriver": {"sparkSubmit": {"entryPoint": "s3://art/a/dms_key_snapshot.py"}}}},
            {"applicationId": APP, "jobRunId": "jr1"})
        self.stub.activate()
        engine = EmrServerlessEngine(self.client, APP, ROLE, "art", sleep=lambda s: None, clock=lambda: 0.0)
        engine.read_log = lambda ref, stream="stdout", wait=True: stdout  # the S3 log path is tested elsewhere
        self.engine = engine


def _service(ctx, engine, tmp_path, monkeypatch):
    (tmp_path / "jobs").mkdir(exist_ok=True)
    (tmp_path / "jobs" / "dms_key_snapshot.py").write_text("# job\n")
    files = {"jobs/dms_key_snapshot.py": {"sha256": "1" * 64, "size": 1, "key": "a/dms_key_snapshot.py"},
             "wheel/deplat-0.1.0-py3-none-any.whl": {"sha256": "f" * 64, "size": 1, "key": "a/w.whl"}}
    svc = RunService(ctx, engine, clock=lambda: 0.0, sleep=lambda s: None)
    monkeypatch.setattr(svc, "_manifest", lambda: (Manifest(files=files), "art"))
    return svc


def test_dev_reconcile_runs_the_snapshot_job_on_emr_with_the_secret_by_name(tmp_path, monkeypatch):
    metrics = {"step": "dms_key_snapshot", "read": 1013, "written": 1013, "rejected": 0, "skipped": 0,
               "tables": {"app.orders": REPORT}}
    emr = StubbedEmr(f"starting\n{METRICS_PREFIX}{json.dumps(metrics)}\n")
    ctx = _ctx(tmp_path)
    result = reconcile(ctx, "app.orders", run_service=_service(ctx, emr.engine, tmp_path, monkeypatch))
    emr.stub.assert_no_pending_responses()

    assert result == KeyReconcileResult("app.orders", REPORT["file"], 1013, REPORT["snapshot_seq"], 1, "jr1", SECRET)
    [params] = emr.started
    driver = params["jobDriver"]["sparkSubmit"]
    assert driver["entryPoint"] == "s3://art/a/dms_key_snapshot.py"
    args = driver["entryPointArguments"]
    assert args[args.index("--tables") + 1] == "app.orders" and args[args.index("--secret-name") + 1] == SECRET
    assert args[args.index("--lake") + 1] == "s3://deplat-dev-lake" and args[args.index("--env") + 1] == "dev"
    assert args[args.index("--seq-scale") + 1] == "dms"  # the landing files come from DMS itself
    assert params["tags"]["deplat:step"] == "dms_key_snapshot" and params["executionRoleArn"] == ROLE
    assert "password" not in json.dumps(params).lower()  # credentials are read inside the job


def test_a_run_without_the_tables_report_is_an_error_not_a_silent_success(tmp_path, monkeypatch):
    emr = StubbedEmr("no metrics at all\n")
    ctx = _ctx(tmp_path)
    with pytest.raises(SnapshotMetricsMissingError, match="no key snapshot of app.orders"):
        reconcile(ctx, "app.orders", run_service=_service(ctx, emr.engine, tmp_path, monkeypatch))


def test_undeclared_tables_and_direct_outside_local_are_usage_errors(tmp_path):
    class NoRuns:
        def run(self, *a, **kw):
            raise AssertionError("nothing may be submitted")

    with pytest.raises(ConfigError, match="unknown DMS table"):
        reconcile(_ctx(tmp_path), "app.nope", run_service=NoRuns())
    with pytest.raises(ConfigError, match="--direct"):
        reconcile(_ctx(tmp_path), "app.orders", direct=True, run_service=NoRuns())


def test_the_job_reads_the_secret_by_name_and_never_takes_credentials_as_arguments():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[3] / "jobs" / "dms_key_snapshot.py"
    spec = importlib.util.spec_from_file_location("dms_key_snapshot_job", path)
    job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(job)
    seen = {}

    def read_secret(name, client=None):
        seen["name"] = name
        raise LookupError(f"secret {name} does not exist or has no value")

    job.read_secret = read_secret
    with pytest.raises(LookupError):
        job.main(["--lake", "s3://lake", "--env", "prod", "--tables", "app.orders"])
    assert seen["name"] == "deplat/prod/rds"
    with pytest.raises(SystemExit):  # no such option: a password can never be passed on argv
        job.main(["--lake", "s3://lake", "--tables", "app.orders", "--password", "x"])


def test_the_snapshot_point_is_on_the_scale_of_the_landing_files():
    from datetime import datetime, timedelta, timezone

    from deplat_job.sources.rds import snapshot_point

    taken = datetime(2026, 11, 29, 12, 0, 0, 123456, tzinfo=timezone.utc)
    at, seq = snapshot_point(taken, "16/B374D848", "dms")
    # AR_H_CHANGE_SEQ: YYYYMMDDHHmmSShh + a 19-digit counter; the point is 5 minutes back (clock margin)
    assert (at, seq) == (taken - timedelta(minutes=5), "20261129115500120000000000000000000")
    before, after = "20261129115459990000000000000000042", "20261129115500120000000000000000001"
    assert int(before) < int(seq) < int(after)  # a change in the same hundredth counts as newer: kept
    assert snapshot_point(taken, "16/B374D848", "wal") == (taken, f"{(0x16 << 32) | 0xB374D848:020d}{0:015d}")
    with pytest.raises(ValueError, match="scale"):
        snapshot_point(taken, "0/0", "lsn")
