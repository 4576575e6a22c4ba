"""On call (issue 15): errors a user can act on, status and logs that tell the truth, flags that do
what they say. Each test names the fault it guards; all of them failed on the code before the fix.

No JVM and no moto here: the local environment points at a closed loopback port (the stack "down").
Where a test needs a run, the CLI's one engine (EmrServerlessEngine) runs over a scripted
emr-serverless client and an S3 holding the driver logs in EMR's layout (`emr` fixture); the stand-in's
run folders appear only where `deplat local down` reads them.
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
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deplat.cli import app
from deplat_job.errors import ExitCode
from tests.unit.emr_api import FakeEmrServerless

ROOT = Path(__file__).resolve().parents[4]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


@pytest.fixture
def project(deplat_env):
    """A project whose local env (and moto_port) is a closed loopback port, state under tmp."""
    port = _closed_port()
    return deplat_env(config="environments:\n"
                             f"  local: {{kind: local, endpoint_url: 'http://127.0.0.1:{port}', lake_uri: lake}}\n"
                             "  dev: {kind: aws, region: eu-west-1, profile: nobody-has-this-profile}\n"
                             f"local_stack: {{moto_port: {port}}}\n", lake=False).root


def applied(root: Path) -> Path:
    """The local env as if `infra apply` had run: outputs cached (the bucket is on the dead moto)."""
    state = root / ".deplat" / "local"
    state.mkdir(parents=True, exist_ok=True)
    (state / "outputs.json").write_text(json.dumps({
        "artifacts_bucket": "deplat-artifacts-gone",
        "alerts_topic_arn": "arn:aws:sns:us-east-1:123456789012:deplat-local-alerts"}))
    return state


APP, BUCKET = "00fapp0000000001", "deplat-artifacts-gone"


def record(state: Path, run_id: str, state_name: str) -> None:
    """A run in the history (runs.jsonl) as `deplat run` writes it."""
    ref = {"run_id": run_id, "application_id": APP, "engine": "emr-serverless", "key": "k",
           "log_uri": f"s3://{BUCKET}/logs/", "pipeline": "fx", "step": "fx_to_bronze"}
    with (state / "runs.jsonl").open("a") as fh:
        fh.write(json.dumps({"run_id": run_id, "state": state_name, "ref": ref, "pipeline": "fx",
                             "step": "fx_to_bronze", "submitted_at": "2026-01-02T03:04:00+00:00"}) + "\n")


class _NoSuchKey(Exception):
    pass


class _NoSuchBucket(Exception):
    pass


class LogBucket:
    """The artifacts bucket's driver logs (EMR's layout, gzip), get_object as boto3 answers it."""

    exceptions = type("exceptions", (), {"NoSuchKey": _NoSuchKey, "NoSuchBucket": _NoSuchBucket})

    def __init__(self):
        self.objects: dict[str, bytes] = {}
        self.gone = False  # the bucket itself deleted (or a restarted moto, which keeps nothing)

    def put(self, run_id: str, stream: str, text: str) -> None:
        import gzip

        from deplat.core.logs import s3_location
        from deplat.engines.base import RunRef

        _, key = s3_location(RunRef(run_id, APP, "emr-serverless", log_uri=f"s3://{BUCKET}/logs/"), stream)
        self.objects[key] = gzip.compress(text.encode())

    def get_object(self, Bucket, Key):
        import io

        if Bucket != BUCKET or self.gone:
            raise _NoSuchBucket(Bucket)
        if Key not in self.objects:
            raise _NoSuchKey(Key)
        return {"Body": io.BytesIO(self.objects[Key])}


@pytest.fixture
def emr(project, monkeypatch):
    """The CLI's engine for the local env: EmrServerlessEngine (its logs through LogReader) over the
    scripted API and log bucket above, instead of the stand-in the closed port cannot serve."""
    from types import SimpleNamespace

    from deplat.core.logs import LogReader
    from deplat.engines.base import PollPolicy
    from deplat.engines.emr_serverless import EmrServerlessEngine

    client, bucket, sleeps = FakeEmrServerless(dashboard=False), LogBucket(), []
    engine = EmrServerlessEngine(client, APP, "arn:aws:iam::123456789012:role/job", BUCKET,
                                 log_reader=LogReader(bucket, wait_seconds=0), sleep=sleeps.append,
                                 poll_policy=PollPolicy(initial=0.01, factor=1.0, maximum=0.01))
    engine.late_log_seconds = 0.0
    monkeypatch.setattr("deplat.runs.engine_for", lambda ctx: engine)
    return SimpleNamespace(client=client, bucket=bucket, engine=engine, sleeps=sleeps, state=applied(project))


def cli(*args: str, width: int = 200):
    return CliRunner().invoke(app, list(args), terminal_width=width)


# --- one source of truth for the moto port ---------------------------------------------------

def test_endpoint_and_moto_port_that_disagree_are_exit_2_naming_both_keys(project):
    (project / "config" / "deplat.yaml").write_text(
        "environments:\n  local: {kind: local, endpoint_url: 'http://127.0.0.1:5050'}\n"
        "local_stack: {moto_port: 5051}\n")
    result = cli("secrets", "list")
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "environments.local.endpoint_url" in result.output and "local_stack.moto_port" in result.output


def test_an_endpoint_override_is_checked_against_moto_port_too(project, monkeypatch):
    monkeypatch.setenv("DEPLAT_ENDPOINT_URL", "http://127.0.0.1:1")
    result = cli("status")
    assert result.exit_code == ExitCode.USAGE and "local_stack.moto_port" in result.output


# --- one error for an unreachable endpoint ---------------------------------------------------

@pytest.mark.parametrize("args", [["secrets", "list"], ["logs", "00000000000000e1"], ["cancel", "00000000000000e1"],
                                  ["status"]])
def test_unreachable_endpoint_is_one_error_with_the_local_hint_after_a_short_retry(project, args):
    state = applied(project)
    record(state, "00000000000000e1", "RUNNING")
    started = time.monotonic()
    result = cli(*args)
    elapsed = time.monotonic() - started
    if args[0] == "status":  # status reports it rather than failing: the application is UNREACHABLE
        assert result.exit_code == 0 and "UNREACHABLE" in result.output and "deplat local up" in result.output
        return
    assert result.exit_code == ExitCode.INFRA, result.output
    assert "unexpected error" not in result.output
    assert "not" in result.output and "deplat local up" in result.output
    assert elapsed < 4.0, f"{elapsed:.1f}s of retries before the error"


def test_unreachable_cloud_endpoint_hint_names_the_endpoint_and_profile():
    """The cloud flavour of the same error (a real unreachable AWS endpoint would cost a minute of
    standard-mode retries here, so the mapping is checked directly)."""
    from botocore.exceptions import EndpointConnectionError

    from deplat.core.aws import unreachable_error
    from deplat.core.config import Environment

    env = Environment(name="dev", kind="aws", region="eu-west-1", profile="ops")
    err = unreachable_error(env, EndpointConnectionError(endpoint_url="https://sts.eu-west-1.amazonaws.com"))
    assert err.exit_code == ExitCode.INFRA and "AWS (eu-west-1)" in err.message
    assert "--profile ops" in err.hint and "local up" not in err.hint


# --- status tells the truth ------------------------------------------------------------------

def test_status_with_moto_down_is_unreachable_with_the_fix(project):
    applied(project)
    result = cli("-o", "json", "status")
    assert result.exit_code == 0, result.output
    app_state = json.loads(result.stdout)["application"]
    assert app_state["state"] == "UNREACHABLE" and "deplat local up" in app_state["hint"]
    assert "not answering" in app_state["error"]


def test_status_with_a_non_local_endpoint_override_is_refused_like_every_command(project, monkeypatch):
    monkeypatch.setenv("DEPLAT_ENDPOINT_URL", "https://s3.eu-west-1.amazonaws.com")
    applied(project)
    result = cli("status")
    assert result.exit_code == ExitCode.REFUSED, result.output
    assert "not loopback" in result.output


def test_status_of_a_never_applied_env_says_so_with_the_fix(project):
    result = cli("-o", "json", "status")
    assert result.exit_code == 0, result.output
    app_state = json.loads(result.stdout)["application"]
    assert app_state["state"] == "NOT_APPLIED" and "infra apply" in app_state["hint"]


def test_status_times_are_the_engines_not_when_deplat_looked(emr):
    record(emr.state, "00000000000000aa", "RUNNING")
    emr.client.add("00000000000000aa", "SUCCESS", createdAt="2026-01-02T03:04:05+00:00",
                   updatedAt="2026-01-02T03:05:35+00:00", totalExecutionDurationSeconds=90)
    result = cli("-o", "json", "status")
    assert result.exit_code == 0, result.output
    [run] = json.loads(result.stdout)["runs"]
    assert run["state"] == "SUCCESS"
    assert run["started_at"] == "2026-01-02T03:04:05+00:00"
    assert run["ended_at"] == "2026-01-02T03:05:35+00:00" and run["duration_s"] == 90.0


def test_status_never_truncates_run_ids_in_a_narrow_terminal(project):
    state = applied(project)
    run_id = "048ed448123456ab"
    record(state, run_id, "SUCCESS")
    result = cli("status", width=40)
    assert run_id in result.stdout, result.stdout


# --- logs tell the truth ---------------------------------------------------------------------

def test_logs_of_a_failed_run_point_at_stderr(emr):
    emr.client.add("00000000000000f1", "FAILED", stateDetails="Job failed: ValueError: x")
    emr.bucket.put("00000000000000f1", "stdout", "starting\n")
    emr.bucket.put("00000000000000f1", "stderr", "Traceback ...\nValueError: x\n")
    result = cli("logs", "00000000000000f1")
    assert result.exit_code == 0, result.output
    assert "starting" in result.stdout
    assert "FAILED" in result.stderr and "deplat logs 00000000000000f1 --stderr" in result.stderr


@pytest.mark.parametrize("args", [["-o", "json", "logs", "00000000000000a1"],
                                  ["logs", "00000000000000a1", "-o", "json"]])
def test_logs_json_is_json_lines_on_stdout(emr, args):
    emr.client.add("00000000000000a1", "SUCCESS")
    emr.bucket.put("00000000000000a1", "stdout", "one\ntwo\n")
    result = cli(*args)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [d["line"] for d in lines] == ["one", "two"]
    assert {d["run_id"] for d in lines} == {"00000000000000a1"} and {d["stream"] for d in lines} == {"stdout"}


def test_logs_of_a_running_run_say_so_and_follow_it_live(emr):
    run_id = "00000000000000b1"
    emr.client.add(run_id, "RUNNING", "RUNNING", "RUNNING", "SUCCESS")
    emr.bucket.put(run_id, "stdout", "first line\n")

    def _driver_writes(seconds):  # the engine's poll interval: the driver logs more meanwhile
        emr.sleeps.append(seconds)
        emr.bucket.put(run_id, "stdout", "first line\nwritten while following\n")

    emr.engine._sleep = _driver_writes
    result = cli("logs", run_id)
    assert result.exit_code == 0, result.output
    assert "RUNNING" in result.stderr and "following" in result.stderr
    assert result.stdout.count("first line") == 1 and "written while following" in result.stdout
    assert emr.sleeps, "it followed: it waited for more"


def test_logs_whose_bucket_is_gone_say_so_and_why(emr):
    emr.client.add("00000000000000a2", "SUCCESS")
    emr.bucket.gone = True
    result = cli("logs", "00000000000000a2")
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "unexpected error" not in result.output and "NoSuchBucket" not in result.output
    assert "no longer exists" in result.output and "restarted local moto" in result.output


def test_logs_of_an_unknown_run_id_is_a_usage_error(emr):
    result = cli("logs", "doesnotexist")
    assert result.exit_code == ExitCode.USAGE and "does not exist" in result.output


def test_a_malformed_run_id_is_a_usage_error_before_any_call(emr):
    result = cli("logs", "../etc/passwd")
    assert result.exit_code == ExitCode.USAGE and "is not a run id" in result.output


# --- cancel, local down ----------------------------------------------------------------------

def test_cancel_stops_a_running_run_and_waits_for_cancelled(emr):
    record(emr.state, "00000000000000c1", "RUNNING")
    emr.client.add("00000000000000c1", "RUNNING")
    result = cli("-o", "json", "cancel", "00000000000000c1")
    assert result.exit_code == 0, result.output
    assert emr.client.cancelled == ["00000000000000c1"]
    assert json.loads(result.stdout)["state"] == "CANCELLED"


def test_cancel_leaves_a_finished_run_as_it_is(emr):
    emr.client.add("00000000000000c2", "SUCCESS")
    result = cli("-o", "json", "cancel", "00000000000000c2")
    assert result.exit_code == 0 and json.loads(result.stdout)["state"] == "SUCCESS"
    assert emr.client.cancelled == []


def test_local_down_with_a_live_run_refuses_without_yes(project):
    from deplat.core.config import LocalStackSettings
    from deplat.local.services import EMR_STANDIN_DIR
    from deplat.local.stack import LocalStack
    from deplat_job.errors import SafetyError

    state = project / ".deplat" / "stack"
    supervisor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:  # a job run of the stand-in, as its supervisor writes the run folder
        run_dir = state / EMR_STANDIN_DIR / "applications" / APP / "runs" / "00000000000000d1"
        run_dir.mkdir(parents=True)
        (run_dir / "state.json").write_text(json.dumps({"state": "RUNNING"}))
        (run_dir / "supervisor.pid").write_text(str(supervisor.pid))
        stack = LocalStack(state, LocalStackSettings(moto_port=_closed_port()), services={})
        with pytest.raises(SafetyError, match="00000000000000d1"):
            stack.down()
        assert stack.down(confirmed=True) == []
        result = cli("local", "down")
        assert result.exit_code == ExitCode.REFUSED and "--yes" in result.output
    finally:
        supervisor.kill()
        supervisor.wait()


# --- killed jobs -----------------------------------------------------------------------------

def test_a_job_killed_by_a_signal_names_it_and_leaves_no_spark_scratch(tmp_path, monkeypatch):
    from deplat.local.standins.emr_serverless import supervisor

    run_dir = tmp_path / "000000000000kill"
    run_dir.mkdir()
    scratch = run_dir / supervisor.SCRATCH_DIR
    job = ("import os, signal; d = os.environ['SPARK_LOCAL_DIRS'];"
           "[os.makedirs(os.path.join(d, n, 'x')) for n in ('spark-1a', 'blockmgr-2b')];"
           "print('Py4JError: An error occurred while calling o42', flush=True);"
           "os.kill(os.getpid(), signal.SIGKILL)")
    ref = {"run_id": run_dir.name, "application_id": APP, "engine": "emr-serverless-standin", "log_uri": "s3://b/logs/"}
    (run_dir / "meta.json").write_text(json.dumps({"ref": ref, "command": [sys.executable, "-c", job],
                                                   "env": {"SPARK_LOCAL_DIRS": str(scratch)}}))
    monkeypatch.setattr(supervisor, "_upload_logs", lambda run_dir, ref: None)
    monkeypatch.setattr(signal, "signal", lambda *a: None)  # the supervisor's SIGTERM handler: not here

    assert supervisor.supervise(run_dir) == 0
    final = json.loads((run_dir / "state.json").read_text())
    assert final["state"] == "FAILED"
    assert "SIGKILL" in final["details"] and "out of memory" in final["details"]
    assert "Py4J" not in final["details"]
    assert not scratch.exists()


# --- flags and usage errors before anything runs ---------------------------------------------

def test_flags_are_shown_as_flags_and_parsed_as_flags():
    result = cli("--help")
    assert re.search(r"--debug\s+Tracebacks", result.output), result.output
    assert not re.search(r"--debug\s+<bool>", result.output)
    assert cli("--debug", "--version").exit_code == 0


class _NeverSubmit:
    name, application_id = "fake", "app"

    def submit(self, spec, key):
        raise AssertionError("a usage error must come before anything is submitted")


def _service(tmp_path, root=ROOT):
    from types import SimpleNamespace

    from deplat.core.console import NullReporter
    from deplat.runs import RunService

    ctx = SimpleNamespace(state_dir=tmp_path, root=root, env=SimpleNamespace(name="local", is_local=True),
                          lake_uri="/lake", settings=SimpleNamespace(default_env="local"),
                          reporter=NullReporter())
    return RunService(ctx, _NeverSubmit())


@pytest.mark.parametrize("timeout", [-5, 0])
def test_a_timeout_that_is_not_positive_is_exit_2_before_submitting(tmp_path, timeout):
    from deplat_job.errors import ConfigError

    with pytest.raises(ConfigError, match="--timeout") as err:
        _service(tmp_path).run("fx", timeout=timeout)
    assert err.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize("pipeline", ["snowflake", "gold", "all"])
def test_partition_date_on_steps_that_ignore_it_is_exit_2(tmp_path, pipeline):
    from deplat_job.errors import ConfigError

    with pytest.raises(ConfigError, match="--partition-date is not supported by") as err:
        _service(tmp_path).run(pipeline, partition_date="2024-01-02")
    assert err.value.exit_code == ExitCode.USAGE


def _unbuilt_pipelines(root: Path) -> list[str]:
    from deplat.registry import PIPELINES

    return [name for name, p in PIPELINES.items()
            if any(not (root / "jobs" / f"{s.name}.py").is_file() for s in p.steps)]


def test_every_registered_step_has_its_job_script():
    """Every pipeline in the registry is built: a step registered without its jobs/<step>.py fails here
    (the not-built path itself is tested on a folder without the script, below)."""
    assert _unbuilt_pipelines(ROOT) == []


def test_the_not_built_rule_follows_the_jobs_folder(tmp_path):
    from deplat_job.errors import NotBuiltError

    (tmp_path / "jobs").mkdir()
    with pytest.raises(NotBuiltError, match="jobs/fx_to_bronze.py"):
        _service(tmp_path, root=tmp_path).run("fx")


def _not_built_commands() -> list[list[str]]:
    """Every CLI command whose body is `not_built(...)` (found in the source, so the list shrinks
    by itself as commands land)."""
    found = []
    for path in sorted((ROOT / "src" / "deplat" / "cli").glob("*.py")):
        for what in re.findall(r'not_built\("([^"]+)"', path.read_text()):
            found.append(what.split())
    return found


def test_no_cli_command_is_a_not_built_stub():
    assert _not_built_commands() == []


def test_not_built_is_a_usage_error_naming_the_command():
    from deplat.cli._common import not_built
    from deplat_job.errors import NotBuiltError

    with pytest.raises(NotBuiltError, match="`deplat lf export` is not built yet") as err:
        not_built("lf export")
    assert err.value.exit_code == ExitCode.USAGE


# --- secrets ---------------------------------------------------------------------------------

def test_secrets_put_with_missing_keys_is_exit_2_naming_them_and_stores_nothing(project):
    applied(project)
    # The stack is down on purpose: validation must answer before any AWS call.
    result = CliRunner().invoke(app, ["secrets", "put", "salesforce"],
                                input='{"login_url": "https://login.salesforce.com", "password": "s3cr3t-v4lue"}')
    assert result.exit_code == ExitCode.USAGE, result.output
    for key in ("client_id", "client_secret", "username"):
        assert key in result.output
    assert "nothing was stored" in result.output and "s3cr3t-v4lue" not in result.output


def test_secret_names_are_built_in_one_place():
    offenders = [str(p.relative_to(ROOT)) for base in ("src", "jobs") for p in (ROOT / base).rglob("*.py")
                 if 'f"deplat/{' in p.read_text() and p.name not in ("secret_store.py", "shared.py")]
    assert offenders == []


# --- the process helper ----------------------------------------------------------------------

def test_process_helper_times_out_and_carries_stderr():
    from deplat.core.proc import ProcessError, ProcessTimeoutError, run

    with pytest.raises(ProcessTimeoutError, match="within 1s"):
        run([sys.executable, "-c", "import time; time.sleep(30)"], timeout=1)
    with pytest.raises(ProcessError) as err:
        run([sys.executable, "-c", "import sys; sys.stderr.write('disk full'); sys.exit(3)"], timeout=30,
            what="initdb")
    assert err.value.message == "initdb failed (exit 3)" and err.value.detail == "disk full"
    assert err.value.returncode == 3
    with pytest.raises(ProcessError, match="not found"):
        run(["/nonexistent/tool"], timeout=5)


def test_no_subprocess_call_outside_the_helper_and_the_streaming_exceptions():
    allowed = {"proc.py", "terraform.py", "stack.py",  # streaming / detached
               "emr_serverless/runner.py",  # the EMR stand-in's detached supervisors
               "emr_serverless/supervisor.py"}  # its spark-submit and warm drivers
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "src" / "deplat").rglob("*.py")
                 if not {p.name, f"{p.parent.name}/{p.name}"} & allowed
                 and re.search(r"subprocess\.(run|Popen|check_output|call)\(", p.read_text())]
    assert offenders == []


@pytest.mark.skipif(os.geteuid() != 0, reason="the postgres-user path only runs as root")
def test_postgres_prepare_never_changes_permissions_outside_the_state_folder(tmp_path):
    from deplat.core.config import LocalStackSettings
    from deplat.local.services import Paths, _pg_prepare
    from deplat_job.errors import LocalStackError

    private = tmp_path / "private"
    root = private / "project" / ".deplat" / "stack"
    root.mkdir(parents=True)
    private.chmod(0o700)
    with pytest.raises(LocalStackError, match=str(private)) as err:
        _pg_prepare(Paths(root), LocalStackSettings())
    assert f"chmod o+x {private}" in err.value.hint
    assert private.stat().st_mode & 0o777 == 0o700


# --- one confirmation rule (issue 8) ---------------------------------------------------------

def test_apply_with_changes_needs_confirmation_in_the_service_not_only_the_cli(tmp_path):
    """The rule lives in Infra.apply: a caller that forgets to ask (runbook, a script) is refused
    before Terraform is touched; the CLI only asks."""
    from types import SimpleNamespace

    from deplat.core.terraform import PlanSummary, ResourceChange
    from deplat.infra import Infra, PlanResult
    from deplat_job.errors import SafetyError

    ctx = SimpleNamespace(env=SimpleNamespace(name="dev", is_local=False))
    infra = Infra(ctx)
    infra.terraform = lambda *a, **k: pytest.fail("terraform must not run without confirmation")
    changes = PlanSummary([ResourceChange("aws_s3_bucket.lake", "aws_s3_bucket", ("create",))])
    with pytest.raises(SafetyError, match="needs confirmation"):
        infra.apply(PlanResult("dev", tmp_path / "plan", changes))
    assert infra.needs_confirmation(PlanResult("dev", tmp_path / "plan", PlanSummary())) is False


def test_apply_refused_off_a_terminal_still_shows_the_plan(project, monkeypatch, tmp_path):
    """Without --yes and without a terminal to ask on, apply refuses (exit 7) after showing what --yes
    would apply, not before."""
    from deplat.cli import infra as cli_infra
    from deplat.core.terraform import PlanSummary, ResourceChange
    from deplat.infra import Infra, PlanResult

    changes = PlanSummary([ResourceChange("aws_s3_bucket.lake", "aws_s3_bucket", ("create",))])

    class Planned(Infra):
        def plan(self, *a, **k):
            return PlanResult("local", tmp_path / "plan", changes)

    monkeypatch.setattr(cli_infra, "_infra", lambda ctx: Planned(ctx))
    result = cli("infra", "apply")
    assert result.exit_code == ExitCode.REFUSED, result.output
    assert "aws_s3_bucket" in result.output and "1 to add" in result.output
