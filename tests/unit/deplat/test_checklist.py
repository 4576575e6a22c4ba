"""`deplat checklist`: failed runs, rejected rows and optimize-due found in a real (delta-rs) lake."""

import json
from datetime import datetime, timedelta, timezone

import pyarrow as pa
from typer.testing import CliRunner

from deplat.cli import app


def test_weekly_checklist_flags_what_needs_attention(deplat_env, monkeypatch):
    from deltalake import write_deltalake

    from deplat import checklist

    env = deplat_env()
    home, lake = env.home, env.lake
    monkeypatch.setattr(checklist, "SMALL_FILES_DUE", 2)
    now = datetime.now(timezone.utc)
    (home / "local").mkdir(parents=True)
    runs = [{"run_id": "lr-1", "pipeline": "fx", "step": "fx_to_bronze", "state": "FAILED",
             "submitted_at": (now - timedelta(hours=2)).isoformat()},
            {"run_id": "lr-0", "pipeline": "fx", "step": "fx_to_bronze", "state": "FAILED",
             "submitted_at": (now - timedelta(days=3)).isoformat()},  # outside the day
            {"run_id": "lr-2", "pipeline": "gold", "step": "gold_aggregates", "state": "SUCCESS",
             "submitted_at": (now - timedelta(hours=1)).isoformat()}]
    (home / "local" / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs))
    for i in range(3):
        write_deltalake(str(lake / "silver" / "t"), pa.table({"id": [i]}), mode="append")
    write_deltalake(str(lake / "_errors" / "fx"), pa.table({
        "reason": ["bad", "old"], "rejected_at": pa.array([now - timedelta(hours=1), now - timedelta(days=9)],
                                                          pa.timestamp("us", tz="UTC"))}))

    result = CliRunner().invoke(app, ["-o", "json", "checklist", "weekly"])
    assert result.exit_code == 0, result.output
    items = {i["check"]: i for i in json.loads(result.stdout)["items"]}
    assert items["failed runs (24 h)"]["status"] == "attention"
    assert "lr-1" in items["failed runs (24 h)"]["detail"] and "lr-0" not in items["failed runs (24 h)"]["detail"]
    assert items["rejected rows (_errors, 24 h)"]["detail"] == "fx=1"
    due = items["optimize due"]
    assert due["status"] == "attention" and "silver.t (3 small files)" in due["detail"]
    assert "silver: " in items["lake size per layer"]["detail"]
    assert CliRunner().invoke(app, ["checklist", "yearly"]).exit_code == 2


def test_failed_runs_tells_failed_from_cancelled():
    from datetime import datetime, timezone

    from deplat.checklist import failed_runs

    now = datetime(2026, 11, 29, 12, tzinfo=timezone.utc)
    at = "2026-11-29T11:00:00+00:00"
    records = [{"run_id": f"lr-{i}", "pipeline": "fx", "step": "fx_to_bronze", "state": s, "submitted_at": at}
               for i, s in enumerate(("SUCCESS", "FAILED", "CANCELLED"))]
    item = failed_runs(records, now)
    assert item.status == "attention"
    assert item.detail.startswith("1 failed, 1 cancelled of 3")
    assert "lr-2, CANCELLED" in item.detail
