"""`deplat run` shows the late-row count of Salesforce's bronze step next to read/written/rejected/skipped."""

from __future__ import annotations

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
    result = CliRunner().invoke(app, ["run", "salesforce", "--step", "salesforce_to_bronze"],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if "rejected" in line and "skipped" in line)
    assert "late_rows" in header
    row = next(line for line in result.output.splitlines() if "salesforce_to_bronze" in line and "2" in line
               and "SUCCESS" not in line)
    assert row.replace("│", " ").split()[-5:] == ["2", "1", "0", "1", "1"]
