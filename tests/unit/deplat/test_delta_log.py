"""A data file the Delta log references but storage lacks (issue 25, item 2), without a JVM: tables
written by delta-rs in a temp lake, one referenced Parquet file deleted as the fault."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from deplat.cli import app
from deplat_job.errors import ExitCode

ROOT = Path(__file__).resolve().parents[3]


def cli(*args: str):
    return CliRunner().invoke(app, list(args), terminal_width=250)


def damaged(path: Path) -> Path:
    """v0: 3 rows (one file); v1: +2 rows (a second file), which is then lost from storage."""
    from deltalake import DeltaTable, write_deltalake

    write_deltalake(str(path), pa.table({"id": [1, 2, 3]}))
    write_deltalake(str(path), pa.table({"id": [4, 5]}), mode="append")
    v0 = {Path(u).name for u in DeltaTable(str(path), version=0).file_uris()}
    lost = next(Path(u) for u in DeltaTable(str(path)).file_uris() if Path(u).name not in v0)
    lost.unlink()
    return lost


def test_restore_preview_survives_a_lost_file_in_the_current_version(lake):
    lost = damaged(lake / "silver" / "t")
    result = cli("-o", "json", "dr", "restore", "silver.t", "--version", "0")
    assert result.exit_code == ExitCode.REFUSED, result.output  # the preview, then "rerun with --yes"
    assert "unexpected error" not in result.output
    preview = json.JSONDecoder().raw_decode(result.stdout)[0]["preview"]  # then the error object
    assert preview["target"]["rows"] == 3 and preview["target"]["files"] == 1
    assert preview["current"]["rows"] == 5 and preview["current"]["files"] == 2  # from the log's stats
    assert preview["current_missing"] == [str(lost)]


def test_restore_preview_text_names_the_lost_file(lake):
    lost = damaged(lake / "silver" / "t")
    result = cli("dr", "restore", "silver.t", "--version", "0")
    assert result.exit_code == ExitCode.REFUSED, result.output
    # the table folds a long path across lines (where depends on the tmp dir's length): join the cells
    cells = "".join(line.strip("│ ") for line in result.output.splitlines())
    assert lost.name in cells and "missing" in result.output


def test_preview_counts_come_from_the_log_stats_minus_deleted_rows(lake):
    from deplat.delta_log import read_snapshot

    path = lake / "silver" / "t"
    damaged(path)
    snap = read_snapshot(str(path))
    assert (snap.version, snap.rows, len(snap.files)) == (1, 5, 2)
    assert read_snapshot(str(path), 0).rows == 3


def test_history_reads_the_log_without_a_table_reader(lake):
    damaged(lake / "silver" / "t")
    result = cli("-o", "json", "dr", "history", "silver.t")
    assert result.exit_code == 0, result.output
    assert [e["version"] for e in json.loads(result.stdout)] == [1, 0]


def test_checklist_daily_lists_files_the_log_references_but_storage_lacks(lake):
    from deltalake import write_deltalake

    lost = damaged(lake / "silver" / "t")
    write_deltalake(str(lake / "gold" / "fine"), pa.table({"x": [1]}))
    result = cli("-o", "json", "checklist", "daily")
    assert result.exit_code == 0, result.output
    item = next(i for i in json.loads(result.stdout)["items"] if i["check"] == "data files missing from storage")
    assert item["status"] == "attention"
    assert "silver.t version 1" in item["detail"] and str(lost) in item["detail"]
    assert "gold.fine" not in item["detail"]
    assert "dr fsck" in item["action"] and "dr restore" in item["action"]


def test_checklist_daily_says_ok_when_every_referenced_file_is_there(lake):
    from deltalake import write_deltalake

    write_deltalake(str(lake / "silver" / "t"), pa.table({"x": [1]}))
    result = cli("-o", "json", "checklist", "daily")
    item = next(i for i in json.loads(result.stdout)["items"] if i["check"] == "data files missing from storage")
    assert item["status"] == "ok" and "1 table" in item["detail"]


def test_fsck_without_yes_is_refused_and_changes_nothing(lake):
    from deltalake import DeltaTable

    lost = damaged(lake / "silver" / "t")
    result = cli("dr", "fsck", "silver.t")
    assert result.exit_code == ExitCode.REFUSED, result.output
    assert lost.name in result.output and "--yes" in result.output
    assert DeltaTable(str(lake / "silver" / "t")).version() == 1


def test_fsck_dry_run_lists_the_files_and_the_rows_they_held(lake):
    lost = damaged(lake / "silver" / "t")
    result = cli("-o", "json", "dr", "fsck", "silver.t", "--dry-run")
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert got["missing"] == [str(lost)] and got["rows_lost"] == 2 and not got["repaired"]
    assert got["version_before"] == 1 and got["version_after"] == 1


def test_fsck_yes_drops_the_dangling_entries_and_the_table_reads_again(lake):
    from deltalake import DeltaTable

    damaged(lake / "silver" / "t")
    result = cli("-o", "json", "dr", "fsck", "silver.t", "--yes")
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert got["repaired"] and got["version_after"] == 2
    table = DeltaTable(str(lake / "silver" / "t"))
    assert table.history(1)[0]["operation"] == "FSCK"
    assert sorted(table.to_pyarrow_table().column("id").to_pylist()) == [1, 2, 3]
    assert json.loads(cli("-o", "json", "dr", "fsck", "silver.t", "--yes").stdout)["missing"] == []
    assert DeltaTable(str(lake / "silver" / "t")).version() == 2  # nothing to repair: no commit


@pytest.mark.parametrize("args", [
    ["query", "SELECT count(*) FROM silver.fx_rates"],
    ["dq", "check", "silver.fx_rates"],
    ["optimize"],
    ["optimize", "--table", "silver.fx_rates"],
])
def test_every_command_that_meets_the_lost_file_names_table_version_and_path(lake, args):
    lost = damaged(lake / "silver" / "fx_rates")
    result = cli(*args)
    assert result.exit_code == ExitCode.INFRA, result.output
    assert "unexpected error" not in result.output and "Py4J" not in result.output
    assert "silver.fx_rates version 1" in result.output and str(lost) in result.output
    assert "dr fsck" in result.output
