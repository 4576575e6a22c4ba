"""The run service over a scripted engine: order, keys, metrics, failure excerpt, Ctrl-C, timeout."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from deplat.artifacts import Manifest
from deplat.core.console import NullReporter
from deplat.engines.base import PollPolicy, RunRef, RunState
from deplat.runs import RunHistory, RunService, idempotency_key
from deplat_job.errors import ConfigError, JobFailedError

ROOT = Path(__file__).resolve().parents[3]  # the project: its jobs/ decide what is built
TRACEBACK = 'Traceback (most recent call last):\n  File "j.py", line 3, in <module>\nValueError: bad row\n'


class ScriptedEngine:
    name = "fake"
    application_id = "app"
    poll_policy = PollPolicy(1, 2, 4)

    def __init__(self, states=None, stdout=None, stderr=""):
        self.states = states or {}
        self.stdout = stdout or {}
        self.stderr = stderr
        self.submitted = []
        self.cancelled = []

    def submit(self, spec, key):
        run_id = f"r{len(self.submitted) + 1}"
        self.submitted.append((spec, key))
        return RunRef(run_id, "app", "fake", key, "s3://art/logs/", pipeline=spec.pipeline, step=spec.step)

    def get(self, run):
        seq = self.states.setdefault(run.step, ["RUNNING", "SUCCESS"])
        state = seq.pop(0) if len(seq) > 1 else seq[0]
        if isinstance(state, BaseException):
            raise state
        return RunState(state, "exit 1" if state == "FAILED" else "")

    def cancel(self, run):
        self.cancelled.append(run.run_id)
        self.states[run.step] = ["CANCELLED"]

    def read_log(self, run, stream="stdout", wait=True):
        return self.stderr if stream == "stderr" else self.stdout.get(run.step, "")

    def tail(self, run, stream="stdout"):
        return SimpleNamespace(read_new=lambda: "")

    def ref(self, run_id):
        return RunRef(run_id, "app", "fake")

    def application_state(self):
        return {"id": "app", "state": "STARTED"}


MANIFEST = Manifest(files={
    "jobs/fx_to_bronze.py": {"sha256": "1" * 64, "size": 1, "key": "artifacts/1/fx_to_bronze.py"},
    "jobs/fx_bronze_to_silver.py": {"sha256": "2" * 64, "size": 1,
                                    "key": "artifacts/2/fx_bronze_to_silver.py"},
    "wheel/deplat-0.1.0-py3-none-any.whl": {"sha256": "3" * 64, "size": 1, "key": "artifacts/3/deplat.whl"},
})


def service(tmp_path, monkeypatch, engine, confirm=None, manifest=MANIFEST, dq_gate=False):
    """A RunService over `engine` (no AWS); `dq_gate`: with the DQ gate hook, as `deplat run` wires it."""
    ctx = SimpleNamespace(
        state_dir=tmp_path, root=ROOT, env=SimpleNamespace(name="local", is_local=True), lake_uri="/lake",
        settings=SimpleNamespace(default_env="local"), reporter=NullReporter(),
        outputs=lambda required=True: {"artifacts_bucket": "art"})
    gate = None
    if dq_gate:
        from deplat.dq.service import DqGate

        gate = DqGate(ctx)
    svc = RunService(ctx, engine, confirm_cancel=confirm, clock=lambda: 0.0, sleep=lambda s: None, gate=gate)
    monkeypatch.setattr(svc, "_manifest", lambda: (manifest, "art"))
    return svc


def test_steps_run_in_order_with_keys_args_and_metrics(tmp_path, monkeypatch):
    line = 'DEPLAT_METRICS {"step": "fx_to_bronze", "read": 3, "written": 3, "rejected": 0}'
    stdout = {"fx_to_bronze": f"x\n{line}\n"}
    engine = ScriptedEngine(stdout=stdout)
    svc = service(tmp_path, monkeypatch, engine)
    result = svc.run("fx", partition_date="2024-05-01")
    assert [s.step for s in result.steps] == ["fx_to_bronze", "fx_bronze_to_silver"]
    assert all(s.state == "SUCCESS" for s in result.steps)
    spec, key = engine.submitted[0]
    assert key == idempotency_key("fx", "fx_to_bronze", "2024-05-01", MANIFEST.manifest_hash)
    assert spec.entry_point == "s3://art/artifacts/1/fx_to_bronze.py"
    assert spec.py_files == ("s3://art/artifacts/3/deplat.whl",) and spec.archives == ()
    assert spec.args[:6] == ("--lake", "/lake", "--batch-id", result.batch_id, "--env", "local")
    assert spec.args[-2:] == ("--partition-date", "2024-05-01")
    assert result.metrics == [{"step": "fx_to_bronze", "read": 3, "written": 3, "rejected": 0}]
    runs = svc.status().runs
    assert {r["run_id"]: r["state"] for r in runs} == {"r1": "SUCCESS", "r2": "SUCCESS"}
    assert all(r["duration_s"] is not None for r in runs)


def test_a_failed_step_stops_the_pipeline_with_the_driver_excerpt(tmp_path, monkeypatch):
    engine = ScriptedEngine(states={"fx_to_bronze": ["RUNNING", "FAILED"]}, stderr="noise\n" + TRACEBACK)
    svc = service(tmp_path, monkeypatch, engine)
    with pytest.raises(JobFailedError) as info:
        svc.run("fx")
    err = info.value
    assert err.exit_code == 4 and len(engine.submitted) == 1
    assert "fx/fx_to_bronze FAILED (run r1)" in err.message
    assert err.detail.endswith("ValueError: bad row") and "noise" not in err.detail
    assert "deplat logs r1 --stderr" in err.hint
    assert RunHistory(tmp_path / "runs.jsonl").find("r1")["state"] == "FAILED"


def test_ctrl_c_cancels_the_remote_run_after_confirmation(tmp_path, monkeypatch):
    engine = ScriptedEngine(states={"fx_to_bronze": ["RUNNING", KeyboardInterrupt()]})
    asked = []
    svc = service(tmp_path, monkeypatch, engine, confirm=lambda ref: asked.append(ref.run_id) or True)
    with pytest.raises(JobFailedError, match="cancelled by the operator"):
        svc.run("fx", step="fx_to_bronze")
    assert asked == ["r1"] and engine.cancelled == ["r1"]
    assert svc.history.find("r1")["state"] == "CANCELLED"


def test_ctrl_c_without_confirmation_leaves_the_run_alone(tmp_path, monkeypatch):
    engine = ScriptedEngine(states={"fx_to_bronze": ["RUNNING", KeyboardInterrupt()]})
    svc = service(tmp_path, monkeypatch, engine, confirm=lambda ref: False)
    with pytest.raises(KeyboardInterrupt):
        svc.run("fx", step="fx_to_bronze")
    assert engine.cancelled == []
    assert any("keeps running" in m for m in svc.ctx.reporter.messages)


def test_timeout_cancels_the_step(tmp_path, monkeypatch):
    engine = ScriptedEngine(states={"fx_to_bronze": ["RUNNING"]})
    svc = service(tmp_path, monkeypatch, engine)
    clock = iter(range(0, 10_000, 10))
    svc._clock = lambda: float(next(clock))
    with pytest.raises(JobFailedError, match="did not finish within --timeout 30s"):
        svc.run("fx", timeout=30)
    assert engine.cancelled == ["r1"]


def test_usage_errors(tmp_path, monkeypatch):
    svc = service(tmp_path, monkeypatch, ScriptedEngine())
    with pytest.raises(ConfigError, match="unknown pipeline 'nope'"):
        svc.run("nope")
    with pytest.raises(ConfigError, match="no step 'x'"):
        svc.run("fx", step="x")
    with pytest.raises(ConfigError, match="not a date"):
        svc.run("fx", partition_date="2024-13-01")
    with pytest.raises(ConfigError, match="--no-wait submits one step"):
        svc.run("fx", wait=False)
    empty = service(tmp_path, monkeypatch, ScriptedEngine(), manifest=Manifest(files={}))
    with pytest.raises(ConfigError, match="jobs/fx_to_bronze.py is not in the deployed manifest"):
        empty.run("fx")


def test_no_wait_submits_and_records(tmp_path, monkeypatch):
    engine = ScriptedEngine()
    svc = service(tmp_path, monkeypatch, engine)
    result = svc.run("fx", step="fx_to_bronze", wait=False)
    assert [s.state for s in result.steps] == ["SUBMITTED"] and not result.waited
    assert svc.status().runs[0]["state"] == "RUNNING"  # refreshed from the engine


def test_idempotency_key_changes_with_each_input():
    base = idempotency_key("fx", "s", "2024-01-01", "m")
    assert base == idempotency_key("fx", "s", "2024-01-01", "m")
    others = {idempotency_key("fy", "s", "2024-01-01", "m"), idempotency_key("fx", "t", "2024-01-01", "m"),
              idempotency_key("fx", "s", None, "m"), idempotency_key("fx", "s", "2024-01-01", "n")}
    assert base not in others and len(others) == 4


def test_the_run_service_knows_no_dq_a_gate_step_needs_the_wired_gate_hook(tmp_path, monkeypatch):
    """RunService calls gates through its hook (runs.Gate): without one, a pipeline with a gate step is
    refused before anything is submitted, saying how to wire it; deplat.services.run_service wires DQ."""
    from deplat import registry
    from deplat.dq.service import DqGate
    from deplat.registry import Pipeline, Step
    from deplat.services import run_service
    from deplat_job.errors import DeplatError

    monkeypatch.setitem(registry.PIPELINES, "gated", Pipeline("gated", (
        Step("fx_to_bronze"), Step("fx_bronze_to_silver", gate=("silver.fx_rates",)))))
    engine = ScriptedEngine()
    svc = service(tmp_path, monkeypatch, engine)
    with pytest.raises(DeplatError, match="no gate hook") as err:
        svc.run("gated")
    assert "run_service" in err.value.hint and engine.submitted == []
    assert isinstance(run_service(svc.ctx, engine=engine).gate, DqGate)


def test_pipelines_run_outside_deplat_run_have_no_gate_step():
    """backfill, dr reprocess/restore, optimize and dr reconcile build a RunService without the gate
    hook: none of the pipelines they run may have a gate step (dq check's gate step is the exception:
    it passes the step's arguments and judges the verdict itself)."""
    from deplat.dq.service import PIPELINE as DQ
    from deplat.key_reconcile import PIPELINE as RECONCILE
    from deplat.maintenance import PIPELINE as MAINTENANCE
    from deplat.recovery import REPROCESSABLE, RESTORE_PIPELINE
    from deplat.registry import PIPELINES

    partitioned = [p for p in PIPELINES if all(s.partitioned for s in PIPELINES[p].steps)]
    assert "fx" in partitioned
    for name in {DQ, RECONCILE, MAINTENANCE, RESTORE_PIPELINE, *REPROCESSABLE, *partitioned}:
        gates = [s.name for s in PIPELINES[name].steps if s.gate and name != DQ]
        assert gates == [], f"{name} has gate steps {gates} but runs without the gate hook"


def test_a_step_is_declared_partitioned_exactly_when_its_job_reads_the_date():
    """registry.Step.partitioned is what `--partition-date` trusts; the job's source is the oracle:
    every job parser accepts the flag, and a job honours it only if it reads `args.partition_date`."""
    from deplat.registry import STEPS

    for step in STEPS.values():
        source = (ROOT / "jobs" / f"{step.name}.py").read_text()
        assert step.partitioned == ("args.partition_date" in source), step.name


def test_a_date_for_a_step_not_declared_partitioned_is_refused_before_submitting():
    import dataclasses

    from deplat.registry import STEPS
    from deplat.runs import _require_partition_support
    from deplat_job.errors import ConfigError

    fx = STEPS["fx_to_bronze"]
    _require_partition_support("fx", [("fx", fx)])
    with pytest.raises(ConfigError, match="not supported by fx_to_bronze"):
        _require_partition_support("fx", [("fx", dataclasses.replace(fx, partitioned=False))])
