"""`deplat report`'s data without a JVM or a lake: a resumed runbook keeps its failed attempt (timeline,
failures), and which runbook/run the report picks when no id is given."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from deplat.core.console import NullReporter
from deplat.report.data import DEFAULT_RULE, collect
from deplat.runbook import Runbook, RunbookStep, StepOutcome
from deplat_job.errors import JobFailedError

ROOT = Path(__file__).resolve().parents[4]
DEPLAT = str(Path(sys.executable).with_name("deplat"))


def _ctx(tmp_path):
    return SimpleNamespace(state_dir=tmp_path, env=SimpleNamespace(name="local", is_local=True),
                           reporter=NullReporter(), lake_uri=str(tmp_path / "no-lake"))


def _run_record(run_id, state, submitted, ended, batch="b1"):
    return {"run_id": run_id, "pipeline": "salesforce", "step": "salesforce_to_bronze", "state": state,
            "batch_id": batch, "submitted_at": submitted, "ended_at": ended, "duration_s": 1.0,
            "details": "SalesforceResourceNotFound: Account" if state == "FAILED" else ""}


def _failed_then_resumed(tmp_path):
    broken = {"on": True}

    def load(ctx, rb):
        return StepOutcome(rows_written=5)

    def salesforce(ctx, rb):
        if broken["on"]:
            exc = JobFailedError("salesforce/salesforce_to_bronze FAILED", detail="Traceback ...\n"
                                 "SalesforceResourceNotFound: Resource Account Not Found")
            exc.run_ids = ["lr-failed"]
            raise exc
        return StepOutcome(rows_written=420, run_ids=["lr-retry"])

    steps = [RunbookStep("load", "load", load), RunbookStep("salesforce", "salesforce", salesforce)]
    first = Runbook(_ctx(tmp_path), steps).run()
    broken["on"] = False
    Runbook(_ctx(tmp_path), steps).run(resume=True)
    book = json.loads((tmp_path / "runbook.json").read_text())
    att = book["steps"][1]["attempts"]
    with (tmp_path / "runs.jsonl").open("w") as fh:
        fh.write(json.dumps(_run_record("lr-failed", "FAILED", att[0]["started_at"], att[0]["ended_at"])) + "\n")
        fh.write(json.dumps(_run_record("lr-retry", "SUCCESS", att[1]["started_at"], att[1]["ended_at"], "b2"))
                 + "\n")
    return first.runbook_id


def test_report_of_a_resumed_runbook_keeps_the_failed_attempt(tmp_path):
    rid = _failed_then_resumed(tmp_path)
    data = collect(_ctx(tmp_path))
    assert data.kind == "runbook" and data.id == rid and data.status == "ok"
    bars = [(e.label, e.state, e.level) for e in data.timeline]
    assert bars == [("load", "ok", 0), ("salesforce #1", "failed", 0),
                    ("salesforce/salesforce_to_bronze", "FAILED", 1), ("salesforce #2", "ok", 0),
                    ("salesforce/salesforce_to_bronze", "SUCCESS", 1)]
    assert "attempt 1 of 2: failed" in data.timeline[1].tooltip and "exit 4" in data.timeline[1].tooltip
    step = next(s for s in data.steps if s.name == "salesforce")
    assert (step.status, step.attempts, step.rows_written) == ("ok", 2, 420)
    what = [f.what for f in data.failures]
    assert what == ["step salesforce, attempt 1 of 2 (exit 4), succeeded on attempt 2", "run lr-failed"]
    assert "Resource Account Not Found" in data.failures[0].excerpt
    assert "SalesforceResourceNotFound" in data.failures[1].excerpt
    assert [f.of_step for f in data.failures] == [False, True]  # one failure, its job run as detail


def test_the_report_counts_a_failed_attempt_once_not_once_more_per_failed_job_run(tmp_path):
    from deplat.report import write_report

    _failed_then_resumed(tmp_path)
    assert write_report(_ctx(tmp_path), path=tmp_path / "r.html").failures == 1


def test_rendered_report_shows_both_attempts(tmp_path):
    from deplat.report.html import render

    _failed_then_resumed(tmp_path)
    page = render(collect(_ctx(tmp_path)))
    assert ">salesforce #1</text>" in page and ">salesforce #2</text>" in page
    failures = page[page.index('<section id="failures">'):page.index('<section id="layers">')]
    assert "attempt 1 of 2 (exit 4)" in failures and "Resource Account Not Found" in failures


def test_a_record_without_attempts_still_reports_its_failure(tmp_path):
    # runbooks recorded before attempts were kept: the step's own fields are its one attempt
    _failed_then_resumed(tmp_path)
    book = json.loads((tmp_path / "runbook.json").read_text())
    for st in book["steps"]:
        st.pop("attempts")
    book["steps"][1].update(status="failed", exit_code=4, error="boom", error_detail="excerpt", run_ids=[])
    (tmp_path / "runbook.json").write_text(json.dumps(book))
    data = collect(_ctx(tmp_path))
    assert [f.what for f in data.failures] == ["step salesforce (exit 4)"]
    assert [e.label for e in data.timeline if e.level == 0] == ["load", "salesforce"]


def _book(tmp_path, started, ended, run_ids=()):
    rec = {"runbook_id": "rb-1", "env": "local", "status": "ok", "started_at": started, "ended_at": ended,
           "duration_s": 1.0, "selection": ["fx"], "resumed_from": None,
           "steps": [{"name": "fx", "title": "fx", "status": "ok", "started_at": started, "ended_at": ended,
                      "run_ids": list(run_ids)}]}
    (tmp_path / "runbooks.jsonl").write_text(json.dumps(rec) + "\n")


def _runs(tmp_path, *recs):
    (tmp_path / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))


def test_default_is_the_last_runbook_when_it_contains_the_newest_run(tmp_path):
    _book(tmp_path, "2026-11-29T10:00:00+00:00", "2026-11-29T10:10:00+00:00", ["r1"])
    _runs(tmp_path, _run_record("r1", "SUCCESS", "2026-11-29T10:01:00+00:00", "2026-11-29T10:02:00+00:00"),
          _run_record("r0", "SUCCESS", "2026-11-29T09:00:00+00:00", "2026-11-29T09:01:00+00:00", "b0"))
    data = collect(_ctx(tmp_path))
    assert (data.kind, data.id) == ("runbook", "rb-1") and "last runbook" in data.chosen


def test_default_is_the_last_runbook_when_it_is_newer_than_every_run(tmp_path):
    _book(tmp_path, "2026-11-29T10:00:00+00:00", "2026-11-29T10:10:00+00:00")
    _runs(tmp_path, _run_record("r0", "SUCCESS", "2026-11-29T09:00:00+00:00", "2026-11-29T09:01:00+00:00", "b0"))
    assert (collect(_ctx(tmp_path)).kind, collect(_ctx(tmp_path)).id) == ("runbook", "rb-1")


def test_a_run_after_the_runbook_is_reported_and_names_the_runbook(tmp_path):
    _book(tmp_path, "2026-11-29T10:00:00+00:00", "2026-11-29T10:10:00+00:00")
    _runs(tmp_path, _run_record("r2", "SUCCESS", "2026-11-29T10:20:00+00:00", "2026-11-29T10:21:00+00:00", "dq-b"))
    data = collect(_ctx(tmp_path))
    assert (data.kind, data.id) == ("run", "dq-b")
    assert "deplat report --run rb-1" in data.chosen


def test_help_states_the_default_rule(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLAT_")}
    env.update(COLUMNS="400", DEPLAT_HOME=str(tmp_path), NO_COLOR="1")
    out = subprocess.run([DEPLAT, "report", "--help"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60).stdout
    assert " ".join(DEFAULT_RULE.split()[:6]) in " ".join(out.replace("│", " ").split())
