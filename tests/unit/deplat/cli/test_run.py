"""`deplat run` shows the late-row count of Salesforce's bronze step next to read/written/rejected/skipped."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from deplat.cli import app


def test_run_metrics_table_shows_late_rows(deplat_env, monkeypatch):
    import deplat.runs as runs
    from deplat.runs import RunResult, StepRun

    deplat_env(lake=False)
    metrics = [{"step": "salesforce_to_bronze", "read": 2, "written": 1, "rejected": 0, "skipped": 1,
                "late_rows": 1}]

    class FakeRuns:
        def __init__(self, ctx, **kw):
            pass

        def run(self, name, **kw):
            return RunResult(name, "local", "b1", "m", True,
                             [StepRun(name, "salesforce_to_bronze", "lr-1", "SUCCESS", duration_s=1.0,
                                      metrics=metrics)])

    monkeypatch.setattr(runs, "RunService", FakeRuns)
    args = ["run", "salesforce", "--step", "salesforce_to_bronze"]
    shown = CliRunner().invoke(app, ["-o", "json", *args])
    assert shown.exit_code == 0, shown.output
    (step,) = json.loads(shown.stdout)["metrics"]
    assert {k: step[k] for k in ("read", "written", "rejected", "skipped", "late_rows")} == \
        {"read": 2, "written": 1, "rejected": 0, "skipped": 1, "late_rows": 1}
    # The text table gets a late_rows column only when a step reports it.
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if "rejected" in line and "skipped" in line)
    assert header.split().count("late_rows") == 1
    metrics[0].pop("late_rows")
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    header = next(line for line in result.output.splitlines() if "rejected" in line and "skipped" in line)
    assert "late_rows" not in header
