"""`deplat optimize` guards and wiring (no JVM): the retention floor, the job's options, the
pipeline, the deploy aliases the weekly schedule starts."""

import runpy
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from deplat.cli import app

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture()
def env(deplat_env):
    return deplat_env(lake=False)


@pytest.mark.parametrize("hours", ["0", "24", "167.5"])
def test_retention_below_the_floor_exits_7_before_anything_runs(env, hours):
    result = CliRunner().invoke(app, ["optimize", "--retention-hours", hours])
    assert result.exit_code == 7, result.output
    assert "below the 168 h floor" in result.output
    assert "--force" in result.output


class _Runs:
    def __init__(self, metrics):
        self.calls = []
        self._metrics = metrics

    def run(self, pipeline, **kwargs):
        self.calls.append((pipeline, kwargs))
        return SimpleNamespace(metrics=self._metrics, batch_id="b1",
                               steps=[SimpleNamespace(run_id="lr-1")])


def test_optimize_passes_options_and_keeps_only_table_figures(tmp_path):
    from deplat.maintenance import optimize

    table = {"kind": "table", "table": "silver.fx_rates", "files_before": 9, "files_after": 1}
    runs = _Runs([table, {"kind": "summary", "read": 1}])
    ctx = SimpleNamespace(env=SimpleNamespace(name="local"), lake_uri=str(tmp_path / "lake"))  # an empty lake
    result = optimize(ctx, ["silver"], None, "ccy", 24, dry_run=True, force=True, run_service=runs)
    assert runs.calls == [("maintenance", {"extra_args": (
        "--layers", "silver", "--zorder", "ccy", "--retention-hours", "24", "--force", "--dry-run")})]
    assert result.tables == [table] and result.run_id == "lr-1"


def test_defaults_add_no_options_so_the_schedule_and_run_maintenance_match():
    from deplat.maintenance import job_args
    from deplat.registry import PIPELINES

    assert job_args(["silver", "gold"]) == ()
    (step,) = PIPELINES["maintenance"].steps
    assert step.name == "delta_maintenance" and step.args == ()
    assert (ROOT / "jobs" / "delta_maintenance.py").is_file()
    assert (ROOT / "jobs" / "delta_restore.py").is_file()


def test_bad_layer_and_table_names_are_usage_errors(env):
    runner = CliRunner()
    assert runner.invoke(app, ["optimize", "--layers", "platinum"]).exit_code == 2
    assert runner.invoke(app, ["optimize", "--table", "fx_rates"]).exit_code == 2


def test_the_job_itself_refuses_a_low_retention_before_starting_spark():
    from deplat_job.pipelines.maintenance import RetentionRefused

    with pytest.raises(RetentionRefused, match="below the 168 h floor"):
        runpy.run_path(str(ROOT / "jobs" / "delta_maintenance.py"), run_name="not_main")["main"](
            ["--lake", "/nonexistent", "--retention-hours", "1"])


@mock_aws
def test_deploy_writes_current_aliases_and_repairs_missing_ones(tmp_path):
    from deplat.artifacts import CURRENT_DEPS, CURRENT_WHEEL, Artifact, sync

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="art")
    files = {"jobs/delta_maintenance.py": b"print('m')", "wheel/deplat-0.1.0-py3-none-any.whl": b"whl",
             "deps/deplat-deps-cp39-manylinux2014_x86_64.tar.gz": b"deps"}
    arts = []
    for name, body in files.items():
        path = tmp_path / Path(name).name
        path.write_bytes(body)
        import hashlib

        arts.append(Artifact(name, path, hashlib.sha256(body).hexdigest(), len(body)))

    def keys():
        return {o["Key"] for o in s3.list_objects_v2(Bucket="art").get("Contents", [])}

    sync(s3, "art", tmp_path, arts, None, keys())
    got = {k: s3.get_object(Bucket="art", Key=k)["Body"].read()
           for k in ("artifacts/current/jobs/delta_maintenance.py", CURRENT_WHEEL, CURRENT_DEPS)}
    assert list(got.values()) == list(files.values())

    from deplat.artifacts import load_manifest

    s3.delete_object(Bucket="art", Key=CURRENT_WHEEL)
    sync(s3, "art", tmp_path, arts, load_manifest(s3, "art"), keys())  # same content: only repairs
    assert s3.get_object(Bucket="art", Key=CURRENT_WHEEL)["Body"].read() == b"whl"
