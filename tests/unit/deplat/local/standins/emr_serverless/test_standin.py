"""The EMR Serverless stand-in's pure parts (no JVM, no server): how it reads a StartJobRun request,
sizes and bills a run, validates as the API does; and the switch that selects it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from deplat.core.config import load_settings
from deplat.engines.base import JobSpec
from deplat.engines.emr_serverless import spark_submit_parameters
from deplat.local.standins.emr_serverless import runner, serving
from deplat_job.errors import ConfigError

ROOT = Path(__file__).resolve().parents[6]


def test_the_engines_own_submit_parameters_are_read_back_whole():
    spec = JobSpec("fx", "fx_to_bronze", "s3://b/artifacts/e/fx_to_bronze.py", ("--lake", "/l"),
                   ("s3://b/artifacts/w/deplat.zip",), ("s3://b/artifacts/d/deps.tar.gz",))
    params = runner.parse_submit_parameters(spark_submit_parameters(spec))
    assert params.py_files == ("s3://b/artifacts/w/deplat.zip", "/usr/share/aws/delta/lib/delta-spark.jar")
    assert params.jars == ("/usr/share/aws/delta/lib/delta-spark.jar", "/usr/share/aws/delta/lib/delta-storage.jar")
    assert params.archives == (("s3://b/artifacts/d/deps.tar.gz", "deps"),)
    assert dict(params.driver_env) == {"PYTHONPATH": "./deps"}
    conf = params.conf_dict
    assert conf["spark.executorEnv.PYTHONPATH"] == "./deps"
    assert conf["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert "spark.jars" not in conf and "spark.archives" not in conf


def test_an_option_the_stand_in_cannot_honour_is_refused():
    with pytest.raises(ValueError, match="--class"):
        runner.parse_submit_parameters("--class com.example.Main")
    with pytest.raises(ValueError, match="needs a value"):
        runner.parse_submit_parameters("--conf")


def test_driver_worker_sizes_as_emr_serverless_defaults_and_overrides():
    assert runner.driver_worker({}) == runner.Worker(4.0, 16.0, 20.0)
    # 7g heap + max(384 MB, 10 %) overhead = 7.7 -> an 8 GB worker
    worker = runner.driver_worker({"spark.driver.cores": "2", "spark.driver.memory": "7g",
                                   "spark.emr-serverless.driver.disk": "50G"})
    assert worker == runner.Worker(2.0, 8.0, 50.0)
    assert runner.size("4 vCPU", "vCPU") == 4.0 and runner.size("2048 MB", "GB") == 2.0


def test_billing_counts_a_minute_per_worker_at_least_and_only_disk_above_20_gb():
    used, billed = runner.utilization([runner.Worker(4, 16, 20)], 30.0)
    assert used == {"vCPUHour": round(4 * 30 / 3600, 6), "memoryGBHour": round(16 * 30 / 3600, 6),
                    "storageGBHour": round(20 * 30 / 3600, 6)}
    assert billed == {"vCPUHour": round(4 / 60, 6), "memoryGBHour": round(16 / 60, 6), "storageGBHour": 0.0}
    _, long_run = runner.utilization([runner.Worker(4, 16, 50)], 7200.0)
    assert long_run == {"vCPUHour": 8.0, "memoryGBHour": 32.0, "storageGBHour": 60.0}


@pytest.mark.parametrize("token,ok", [("a", True), ("A.b_c-9" * 9, True), ("x" * 64, True), ("x" * 65, False),
                                      ("", False), ("has space", False), ("semi;colon", False)])
def test_client_token_pattern_is_the_apis(token, ok):
    assert bool(runner.CLIENT_TOKEN.match(token)) is ok


def test_moto_always_serves_the_stand_in_and_every_env_runs_on_emr_serverless_by_default(tmp_path):
    config = tmp_path / "config" / "deplat.yaml"
    config.parent.mkdir()
    config.write_text((ROOT / "config" / "deplat.yaml").read_text())
    settings = load_settings(config, environ={})
    assert settings.env("local").job_engine == settings.env("dev").job_engine == "emr-serverless"
    from deplat.local.services import MOTO, Paths

    cmd = MOTO.command(Paths(tmp_path), settings.local_stack)
    assert cmd[cmd.index("--emr-standin") + 1] == str(tmp_path / "emr-serverless")
    config.write_text((ROOT / "config" / "deplat.yaml").read_text().replace(
        "local_stack:\n", "local_stack:\n  emr_serverless_standin: false\n"))
    with pytest.raises(ConfigError, match="emr_serverless_standin: false is gone"):
        load_settings(config, environ={})


@pytest.mark.parametrize("var", ["DEPLAT_ENGINE", "DEPLAT_DEV_ENGINE"])
def test_the_removed_local_spark_engine_is_refused_naming_what_replaced_it(tmp_path, var):
    """There is one engine: `engine: local-spark` (the direct spark-submit path that ran beside the
    stand-in) is gone, and a config or override still naming it is exit 2 saying so."""
    config = tmp_path / "config" / "deplat.yaml"
    config.parent.mkdir()
    config.write_text((ROOT / "config" / "deplat.yaml").read_text())
    with pytest.raises(ConfigError, match="local-spark was removed.*EMR Serverless"):
        load_settings(config, environ={var: "local-spark"})


def test_no_cli_side_module_starts_spark_submit():
    """Issue 19's must-show: only the stand-in (deplat.local.standins.emr_serverless) builds a
    spark-submit command line or starts a supervisor; no other module of src/deplat names either.
    The one exception resolves the jar cache (`deplat local up`): a no-op script with --packages,
    Ivy's resolver, never a job."""
    src = ROOT / "src" / "deplat"
    standin = src / "local" / "standins" / "emr_serverless"
    resolver = src / "local" / "jars.py"
    markers = ('"spark-submit"', "spark_submit_command", "emr_serverless.supervisor\"")
    offenders = sorted(str(p.relative_to(src)) for p in src.rglob("*.py")
                       if standin not in p.parents and p != resolver
                       and any(m in p.read_text() for m in markers))
    assert offenders == []
    assert not (src / "engines" / "local_spark.py").exists()


def test_engine_selection_refuses_a_moto_without_the_stand_in(tmp_path, monkeypatch):
    import socket

    from deplat.local.standins.emr_serverless import record_path
    from deplat.runs import engine_for

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    tmp_path.chmod(0o700)
    with socket.socket() as listener:  # a "moto" that answers on its port, without the stand-in
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        env = SimpleNamespace(name="local", is_local=True, job_engine="emr-serverless",
                              endpoint_url=f"http://127.0.0.1:{port}")
        ctx = SimpleNamespace(env=env, stack_dir=tmp_path)
        with pytest.raises(ConfigError, match="without the EMR Serverless stand-in"):
            engine_for(ctx)
    marker = record_path(env.endpoint_url)
    assert marker.name == f"emr-standin-{port}.json"  # found from the endpoint, whatever DEPLAT_HOME is
    marker.write_text(json.dumps({"pid": os.getpid(), "endpoint_url": f"http://127.0.0.1:{port + 1}"}))
    assert not serving(env.endpoint_url)  # another port: another moto
    marker.write_text(json.dumps({"pid": os.getpid(), "endpoint_url": env.endpoint_url}))
    assert serving(env.endpoint_url)


def test_the_warm_driver_serves_a_stand_in_run_folder_and_nothing_beside_it(tmp_path):
    from deplat.local.standins.emr_serverless import warm_driver

    runs = tmp_path / "runs"
    for run in ("k2x9q0c7d1m4z8ab", "_archives"):  # an EMR job run id (moto's: 16 of [0-9a-z])
        (runs / run / "code").mkdir(parents=True)
        (runs / run / "code" / "job.py").write_text("")

    def request(run):
        return {"entry": str(runs / run / "code" / "job.py"), "stdout": str(runs / run / "stdout"),
                "stderr": str(runs / run / "stderr")}

    assert warm_driver.check_request(request("k2x9q0c7d1m4z8ab"), str(runs))["entry"].endswith("job.py")
    with pytest.raises(ValueError, match="not a job script"):
        warm_driver.check_request(request("_archives"), str(runs))


@pytest.mark.parametrize("change,message", [
    ({"token": "a b"}, "clientToken"), ({"token": "x" * 65}, "clientToken"), ({"name": "   "}, "name"),
    ({"driver": {"sparkSubmit": {}}}, "entryPoint"), ({"driver": {"sparkSubmit": {"entryPoint": "e" * 4097}}}, "4096"),
    ({"timeout": 4}, "5 minutes"), ({"tags": {str(i): "v" for i in range(201)}}, "200 tags"),
])
def test_start_job_run_is_refused_where_the_api_refuses_it(change, message):
    from moto.emrserverless.exceptions import ValidationException

    from deplat.local.standins.emr_serverless.backend import _validate

    args = {"token": "ok-token", "name": "n", "driver": {"sparkSubmit": {"entryPoint": "s3://b/e.py"}},
            "tags": {}, "timeout": None, **change}
    with pytest.raises(ValidationException, match=message):
        _validate(args["token"], args["name"], args["driver"], args["tags"], args["timeout"])
    _validate("ok-token", "n", {"sparkSubmit": {"entryPoint": "s3://b/e.py"}}, {}, 0)  # 0: no timeout


@pytest.mark.parametrize("label,ok", [("emr-7.1.0", True), ("emr-7.5.0", True), ("emr-7.0.0", False),
                                      ("emr-6.15.0", False)])
def test_streaming_job_mode_needs_emr_7_1_or_later(label, ok):
    from deplat.local.standins.emr_serverless.backend import STREAMING_SINCE, _release

    assert (_release(label) >= STREAMING_SINCE) is ok


def test_capacity_binds_only_on_the_limits_the_application_sets():
    from deplat.local.standins.emr_serverless.backend import _fits, _total

    limit = runner.Worker(8, 32, float("nan"))  # maximumCapacity without disk
    two = _total([runner.driver_worker({}), runner.driver_worker({})])
    assert _fits(two, limit) and not _fits(_total([two, runner.driver_worker({})]), limit)


def test_local_status_and_doctor_describe_the_stand_in_from_its_files(tmp_path, monkeypatch):
    from deplat.local.standins.emr_serverless import describe, record_path, summary

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    tmp_path.chmod(0o700)
    endpoint = "http://127.0.0.1:5051"
    assert describe(endpoint) == {"serving": False, "endpoint_url": endpoint}
    assert "NOT serving" in summary(describe(endpoint))
    runs = tmp_path / "standin" / "applications" / "app1" / "runs"
    for run, state in (("r1", "SUCCESS"), ("r2", "RUNNING")):
        (runs / run).mkdir(parents=True)
        (runs / run / "state.json").write_text(json.dumps({"state": state}))
        (runs / run / "supervisor.pid").write_text(str(os.getpid()))
    (runs / "_warm" / "k").mkdir(parents=True)
    (runs / "_warm" / "k" / "driver.pid").write_text(str(os.getpid()))
    record_path(endpoint).write_text(json.dumps({"pid": os.getpid(), "endpoint_url": endpoint,
                                                 "root": str(tmp_path / "standin")}))
    info = describe(endpoint)
    assert info["serving"] and info["run_folders"] == 2 and info["warm_drivers"] == 1
    assert info["applications"][0]["live_runs"] == ["r2"]
    assert "2 run folder(s), 1 live; 1 warm driver(s) up" in summary(info)
