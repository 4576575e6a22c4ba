"""The runbook's state machine with injected steps (no JVM, no services): order, stop on failure with
the step's exit code, --resume from the failed step, --from/--only, not-built steps, and the CLI's
plain (no ANSI) text output when stderr is not a terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from deplat.core.console import NullReporter
from deplat.runbook import (
    RUNBOOK_STEPS,
    Runbook,
    RunbookStep,
    StepOutcome,
    dq_summary,
)
from deplat_job.errors import ConfigError, DataQualityError, ExitCode, NotBuiltError

ROOT = Path(__file__).resolve().parents[3]


def _ctx(tmp_path, local=True):
    return SimpleNamespace(state_dir=tmp_path, env=SimpleNamespace(name="local" if local else "dev",
                                                                     is_local=local),
                           reporter=NullReporter())


class Steps:
    """Five steps a..e; `fail` maps a step to the error it raises; `calls` records what ran."""

    def __init__(self):
        self.calls: list[str] = []
        self.fail: dict[str, BaseException] = {}

    def action(self, name):
        def run(ctx, rb):
            self.calls.append(name)
            if name in self.fail:
                raise self.fail[name]
            return StepOutcome(rows_written=len(name) * 10, dq="pass" if name == "d" else None)
        return run

    def steps(self, local_only=()):
        return [RunbookStep(n, f"step {n}", self.action(n), local_only=n in local_only) for n in "abcde"]


def test_runs_every_step_in_order_and_persists_state(tmp_path):
    s = Steps()
    events = []
    rb = Runbook(_ctx(tmp_path), s.steps(), on_event=lambda e, r, i, n: events.append((e, r.name, i, n)))
    result = rb.run()
    assert s.calls == list("abcde")
    assert result.status == "ok" and result.exit_code == 0
    assert [r.status for r in result.steps] == ["ok"] * 5
    assert result.steps[3].dq == "pass" and result.steps[0].rows_written == 10
    assert events[0] == ("start", "a", 1, 5) and events[-1] == ("end", "e", 5, 5)
    state = json.loads((tmp_path / "runbook.json").read_text())
    assert state["status"] == "ok" and [st["status"] for st in state["steps"]] == ["ok"] * 5
    history = (tmp_path / "runbooks.jsonl").read_text().splitlines()
    assert len(history) == 1 and json.loads(history[0])["runbook_id"] == result.runbook_id


def test_failing_step_stops_with_its_exit_code_and_resume_continues_from_it(tmp_path):
    s = Steps()
    s.fail["c"] = DataQualityError("gold.daily_revenue: 3 rows fail not_null(order_id)")
    result = Runbook(_ctx(tmp_path), s.steps()).run()
    assert s.calls == ["a", "b", "c"]
    assert result.status == "failed" and result.exit_code == ExitCode.DQ_FAILED
    assert result.failed_step.name == "c" and "not_null" in result.failed_step.error
    assert [r.status for r in result.steps] == ["ok", "ok", "failed", "pending", "pending"]
    assert json.loads((tmp_path / "runbook.json").read_text())["steps"][2]["exit_code"] == 5

    del s.fail["c"]  # the fix
    s.calls.clear()
    resumed = Runbook(_ctx(tmp_path), s.steps()).run(resume=True)
    assert s.calls == ["c", "d", "e"]
    assert resumed.runbook_id == result.runbook_id and resumed.resumed_from == "c"
    assert resumed.status == "ok" and resumed.exit_code == 0
    assert [r.status for r in resumed.steps] == ["ok (earlier)"] * 2 + ["ok"] * 3


def test_resume_keeps_the_selection_of_the_failed_runbook(tmp_path):
    s = Steps()
    s.fail["d"] = DataQualityError("bad")
    Runbook(_ctx(tmp_path), s.steps()).run(only=["b", "d"])
    assert s.calls == ["b", "d"]
    s.fail.clear()
    s.calls.clear()
    result = Runbook(_ctx(tmp_path), s.steps()).run(resume=True)
    assert s.calls == ["d"]
    assert [r.status for r in result.steps] == ["skipped", "ok (earlier)", "skipped", "ok", "skipped"]


def test_unexpected_exception_and_interrupt_are_recorded_and_resumable(tmp_path):
    s = Steps()
    s.fail["b"] = KeyboardInterrupt()
    result = Runbook(_ctx(tmp_path), s.steps()).run()
    assert result.status == "failed" and result.exit_code == 130 and result.steps[1].error == "interrupted"
    s.fail["b"] = ValueError("boom")
    s.calls.clear()
    result = Runbook(_ctx(tmp_path), s.steps()).run(resume=True)
    assert s.calls == ["b"] and result.exit_code == ExitCode.UNEXPECTED
    assert "ValueError: boom" in result.steps[1].error and "Traceback" in result.steps[1].error_detail


def test_from_and_only(tmp_path):
    s = Steps()
    result = Runbook(_ctx(tmp_path), s.steps()).run(from_step="c")
    assert s.calls == ["c", "d", "e"]
    assert [r.status for r in result.steps][:2] == ["skipped", "skipped"]
    s.calls.clear()
    Runbook(_ctx(tmp_path), s.steps()).run(only=["e", "a"])
    assert s.calls == ["a", "e"]  # runbook order, not argument order


@pytest.mark.parametrize("kwargs, message", [
    ({"from_step": "zz"}, "--from: unknown step 'zz'"),
    ({"only": ["a", "nope"]}, "--only: unknown step 'nope'"),
    ({"from_step": "a", "only": ["b"]}, "do not combine"),
])
def test_bad_selections_are_usage_errors(tmp_path, kwargs, message):
    s = Steps()
    with pytest.raises(ConfigError, match=message) as exc:
        Runbook(_ctx(tmp_path), s.steps()).run(**kwargs)
    assert s.calls == []
    if "unknown" in message:
        assert "a b c d e" in exc.value.hint


def test_resume_needs_an_unfinished_runbook(tmp_path):
    s = Steps()
    with pytest.raises(ConfigError, match="no runbook to resume"):
        Runbook(_ctx(tmp_path), s.steps()).run(resume=True)
    Runbook(_ctx(tmp_path), s.steps()).run()
    with pytest.raises(ConfigError, match="nothing to resume"):
        Runbook(_ctx(tmp_path), s.steps()).run(resume=True)
    with pytest.raises(ConfigError, match="own selection"):
        Runbook(_ctx(tmp_path), s.steps()).run(resume=True, from_step="b")


def test_not_built_step_is_never_a_success(tmp_path):
    s = Steps()
    s.fail["b"] = NotBuiltError("`deplat run gold` is not built yet: no jobs/gold_aggregates.py")
    result = Runbook(_ctx(tmp_path), s.steps()).run()
    assert s.calls == list("abcde")  # later steps still run
    assert result.steps[1].status == "not built" and result.status == "incomplete"
    assert result.exit_code == ExitCode.USAGE
    s.fail.clear()
    s.calls.clear()
    assert Runbook(_ctx(tmp_path), s.steps()).run(resume=True).status == "ok" and s.calls == ["b"]


def test_local_only_steps_are_skipped_outside_local(tmp_path):
    s = Steps()
    result = Runbook(_ctx(tmp_path, local=False), s.steps(local_only="a")).run()
    assert s.calls == list("bcde") and result.steps[0].status == "skipped"
    assert result.steps[0].note == "local env only" and result.status == "ok"


def test_dry_run_runs_nothing(tmp_path):
    s = Steps()
    result = Runbook(_ctx(tmp_path), s.steps()).run(dry_run=True, from_step="b")
    assert s.calls == [] and result.status == "dry-run"
    assert [r.status for r in result.steps] == ["skipped", "pending", "pending", "pending", "pending"]
    assert not (tmp_path / "runbook.json").exists()


def test_runbook_order_matches_the_runbook():
    names = [s.name for s in RUNBOOK_STEPS]
    assert names == ["local-up", "infra", "seed", "dms-capture", "kafka-produce", "deploy", "fx", "snowflake",
                     "salesforce", "dms", "kafka", "gold", "catalog", "lf", "optimize", "query"]
    assert {s.name for s in RUNBOOK_STEPS if s.local_only} == {"local-up", "seed", "dms-capture", "kafka-produce"}


def test_dq_summary_from_the_gate_metrics():
    def suite(*results):
        return {"suite": "s", "results": [{"success": ok, "severity": sev} for ok, sev in results]}

    assert dq_summary([{"step": "orders_silver", "written": 3}]) is None
    assert dq_summary([{"dq": [suite((True, "error")), suite((True, "warn"))]}]) == "pass (2 suites)"
    assert dq_summary([{"dq": [suite((True, "error"), (False, "warn"))]}]) == "warn (1)"
    assert dq_summary([{"dq": [suite((False, "error"), (False, "warn"))]}]) == "fail (1)"


def test_dq_error_sets_the_steps_dq_verdict(tmp_path):
    s = Steps()
    s.fail["c"] = DataQualityError("gate failed")
    result = Runbook(_ctx(tmp_path), s.steps()).run()
    assert result.steps[2].dq == "fail" and result.steps[1].dq is None


# --- the CLI, as a log file sees it -------------------------------------------------------------

DRIVER = """
import os, sys
import deplat.runbook as rb
from deplat_job.errors import DataQualityError

def make(name):
    def run(ctx, runbook):
        ctx.reporter.info(f"{name}: working [not markup]")
        with ctx.reporter.status(f"{name}: waiting") as live:
            live.update(f"{name}: RUNNING 3s")
        if name == "gate" and os.environ.get("FAIL_GATE"):
            raise DataQualityError("gold.daily_revenue failed 2 critical checks", "see deplat dq check")
        return rb.StepOutcome(rows_written=1234, dq="pass" if name == "gate" else None)
    return run

rb.RUNBOOK_STEPS = tuple(rb.RunbookStep(n, n, make(n)) for n in ("load", "gate", "publish"))
from deplat.cli import main
sys.argv = ["deplat", *sys.argv[1:]]
main()
"""


def _cli(tmp_path, *args, fail=False):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEPLAT_", "FORCE_COLOR", "TTY_"))}
    env.update(DEPLAT_HOME=str(tmp_path), COLUMNS="120", TERM="xterm-256color")
    if fail:
        env["FAIL_GATE"] = "1"
    return subprocess.run([sys.executable, "-c", DRIVER, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_cli_failure_exit_code_plain_log_and_resume(tmp_path):
    failed = _cli(tmp_path, "runbook", fail=True)
    assert failed.returncode == ExitCode.DQ_FAILED, failed.stderr
    assert "\x1b" not in failed.stderr and "\r" not in failed.stderr  # no redraw noise in a log file
    lines = failed.stderr.splitlines()
    assert "[1/3] load: running (load)" in lines
    assert "load: working [not markup]" in lines
    assert "load: waiting" in lines and "load: RUNNING 3s" not in failed.stderr  # updates stay off the log
    assert any(line.startswith("[2/3] gate: failed") for line in lines)
    assert "Error: gold.daily_revenue failed 2 critical checks" in failed.stderr
    assert "publish" not in failed.stderr
    assert "gate" in failed.stdout and "failed" in failed.stdout  # the summary table

    resumed = _cli(tmp_path, "-o", "json", "runbook", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    doc = json.loads(resumed.stdout)
    assert doc["resumed_from"] == "gate" and doc["status"] == "ok"
    assert [s["status"] for s in doc["steps"]] == ["ok (earlier)", "ok", "ok"]
    assert doc["steps"][1]["dq"] == "pass" and doc["steps"][1]["rows_written"] == 1234
    assert "[1/2] gate: running" in resumed.stderr


def test_cli_json_failure_is_one_document(tmp_path):
    proc = _cli(tmp_path, "-o", "json", "runbook", "--only", "gate", fail=True)
    assert proc.returncode == ExitCode.DQ_FAILED
    doc = json.loads(proc.stdout)
    assert doc["exit_code"] == 5 and doc["steps"][1]["status"] == "failed"


def test_live_view_on_a_terminal_draws_the_table(tmp_path):
    import io

    from rich.console import Console

    from deplat.cli.runbook_view import RunbookView

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=120)
    s = Steps()
    view = RunbookView(SimpleNamespace(console=console))
    ctx = _ctx(tmp_path)
    ctx.reporter = view
    with view:
        Runbook(ctx, s.steps(), on_event=view.on_event).run()
    out = buf.getvalue()
    assert "runbook · step 5/5" in out and "\x1b[" in out
    for name in "abcde":
        assert f" {name} " in out


def test_one_runbook_per_environment_at_a_time(tmp_path):
    from deplat_job.errors import SafetyError

    s = Steps()
    inner: list[BaseException] = []

    def nested(ctx, rb):
        try:
            Runbook(_ctx(tmp_path), s.steps()).run()
        except SafetyError as exc:
            inner.append(exc)
        return StepOutcome()

    steps = [RunbookStep("outer", "outer", nested)]
    assert Runbook(_ctx(tmp_path), steps).run().status == "ok"
    assert len(inner) == 1 and inner[0].exit_code == ExitCode.REFUSED
    assert f"pid {os.getpid()}" in inner[0].message and s.calls == []
    Runbook(_ctx(tmp_path), s.steps()).run()  # released afterwards
    assert s.calls == list("abcde")


def test_every_attempt_is_kept_across_resume(tmp_path):
    s = Steps()
    s.fail["c"] = DataQualityError("gold.daily_revenue: 3 rows fail not_null(order_id)",
                                   detail="driver log ...\nexpect_column_values_to_not_be_null: 3 unexpected")
    failed = Runbook(_ctx(tmp_path), s.steps()).run()
    del s.fail["c"]
    resumed = Runbook(_ctx(tmp_path), s.steps()).run(resume=True)
    state = json.loads((tmp_path / "runbook.json").read_text())
    c = state["steps"][2]
    assert [(a["n"], a["status"], a["exit_code"]) for a in c["attempts"]] == [(1, "failed", 5), (2, "ok", None)]
    first, retry = c["attempts"]
    assert "not_null" in first["error"] and "3 unexpected" in first["error_excerpt"]
    assert first["started_at"] <= first["ended_at"] <= retry["started_at"] <= retry["ended_at"]
    assert retry["rows_written"] == 10 and retry["error"] is None
    assert c["status"] == "ok" and c["error"] is None  # the step's final state
    # earlier steps keep their one attempt; steps first run now have one
    assert [len(st["attempts"]) for st in state["steps"]] == [1, 1, 2, 1, 1]
    assert resumed.runbook_id == failed.runbook_id
    # the finished-runbooks history holds both records, the second with both attempts
    history = [json.loads(line) for line in (tmp_path / "runbooks.jsonl").read_text().splitlines()]
    assert [len(h["steps"][2]["attempts"]) for h in history] == [1, 2]


def test_an_attempt_whose_process_died_is_recorded_as_interrupted(tmp_path):
    s = Steps()
    s.fail["b"] = DataQualityError("bad")
    Runbook(_ctx(tmp_path), s.steps()).run()
    state = json.loads((tmp_path / "runbook.json").read_text())
    # as a SIGKILL during step b's second attempt leaves it: status running, no end
    state["status"] = "running"
    state["steps"][1]["status"] = "running"
    state["steps"][1]["attempts"].append({"n": 2, "status": "running", "started_at": "2026-11-29T18:00:00+00:00"})
    (tmp_path / "runbook.json").write_text(json.dumps(state))
    s.fail.clear()
    result = Runbook(_ctx(tmp_path), s.steps()).run(resume=True)
    assert [(a.n, a.status) for a in result.steps[1].attempts] == [(1, "failed"), (2, "interrupted"), (3, "ok")]


def test_pipeline_rows_written_are_the_jobs_written_counts_per_step(tmp_path, monkeypatch):
    """A no-op rerun of salesforce: bronze wrote 0 (nothing new), silver rewrote its 420 rows. The step
    shows the jobs' own `written` counts, per job step, not one figure that reads like new data."""
    import deplat.runbook as rbmod
    import deplat.runs as runs
    from deplat.runs import RunResult, StepRun

    metrics = {"salesforce_to_bronze": [{"step": "salesforce_to_bronze", "read": 2, "written": 0, "skipped": 2}],
               "salesforce_bronze_to_silver": [{"step": "salesforce_bronze_to_silver", "read": 420, "written": 420},
                                               {"kind": "table", "table": "silver.x", "written": 300}]}

    class FakeRuns:
        def __init__(self, ctx, **kw):
            pass

        def run(self, name, wait=True):
            return RunResult(name, "local", "b1", "m", True,
                             [StepRun(name, step, f"lr-{i}", "SUCCESS", duration_s=1.0, metrics=m)
                              for i, (step, m) in enumerate(metrics.items())])

    monkeypatch.setattr(runs, "RunService", FakeRuns)
    out = rbmod._pipeline("salesforce")(_ctx(tmp_path), None)
    assert out.rows_written == 420
    assert out.figures["written"] == {"salesforce_to_bronze": 0, "salesforce_bronze_to_silver": 420}
    assert out.note == "written: salesforce_to_bronze 0, salesforce_bronze_to_silver 420"
    assert out.run_ids == ["lr-0", "lr-1"]
