"""`deplat checklist daily`: the Salesforce late-row line, from the late-row checks the bronze step keeps."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
from typer.testing import CliRunner

from deplat.checklist import late_rows
from deplat.cli import app


def _checks(lake: Path, rows: list[dict]) -> None:
    from deltalake import write_deltalake

    table = pa.table({
        "object": [r["object"] for r in rows],
        "checked_at": pa.array([r["checked_at"] for r in rows], pa.timestamp("us", tz="UTC")),
        "late_rows": pa.array([r["late_rows"] for r in rows], pa.int64()),
        "late_ids": [r.get("late_ids") for r in rows],
        "max_behind_seconds": pa.array([r.get("max_behind_seconds") for r in rows], pa.int64()),
    })
    write_deltalake(str(lake / "_state" / "salesforce" / "late_checks"), table, mode="append")


def test_late_rows_line_says_none_yet_ok_and_attention(tmp_path):
    now = datetime(2026, 12, 3, 12, tzinfo=timezone.utc)
    lake = tmp_path / "lake"
    assert late_rows(lake, now).status == "info"  # no check has run yet
    _checks(lake, [{"object": "Account", "checked_at": now - timedelta(days=3), "late_rows": 4,
                    "late_ids": "001A", "max_behind_seconds": 900}])
    stale = late_rows(lake, now)
    assert stale.status == "info" and "no late-row check in 24 h" in stale.detail
    _checks(lake, [{"object": "Account", "checked_at": now - timedelta(hours=2), "late_rows": 0},
                   {"object": "Opportunity", "checked_at": now - timedelta(hours=2), "late_rows": 0}])
    assert (late_rows(lake, now).status, late_rows(lake, now).detail) == ("ok", "2 check(s), no late rows")
    _checks(lake, [{"object": "Opportunity", "checked_at": now - timedelta(hours=1), "late_rows": 2,
                    "late_ids": "006B,006C", "max_behind_seconds": 600}])
    item = late_rows(lake, now)
    assert item.status == "attention"
    assert item.detail == "Opportunity=2 (up to 600 s behind the watermark; Ids 006B, 006C)"


def test_daily_checklist_lists_the_late_rows_line(deplat_env, monkeypatch):
    lake = deplat_env().lake
    _checks(lake, [{"object": "Account", "checked_at": datetime.now(timezone.utc), "late_rows": 1,
                    "late_ids": "001X", "max_behind_seconds": 600}])
    result = CliRunner().invoke(app, ["-o", "json", "checklist", "daily"])
    assert result.exit_code == 0, result.output
    items = {i["check"]: i for i in json.loads(result.stdout)["items"]}
    assert items["late rows (salesforce, 24 h)"]["status"] == "attention"
    assert "Account=1" in items["late rows (salesforce, 24 h)"]["detail"]
