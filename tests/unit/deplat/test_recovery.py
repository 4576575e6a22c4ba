"""`deplat dr` without a JVM: Delta history, the restore preview and its guards (delta-rs tables)."""

import time
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from deplat.cli import app


def _three_versions(path: Path) -> None:
    from deltalake import write_deltalake

    write_deltalake(str(path), pa.table({"id": [1, 2, 3], "v": ["a", "b", "c"]}))        # v0
    time.sleep(1.1)  # commit times one second apart: the preview's times are shown to the second
    write_deltalake(str(path), pa.table({"id": [4, 5], "v": ["d", "e"]}), mode="append")  # v1
    time.sleep(1.1)
    write_deltalake(str(path), pa.table({"id": [9], "v": ["z"]}), mode="overwrite")       # v2


def _ctx():
    from deplat.core.context import Context

    return Context()


def test_history_newest_first_with_operations_and_metrics(lake):
    from deplat.recovery import history

    _three_versions(lake / "silver" / "t")
    entries = history(_ctx(), "silver.t")
    assert [e.version for e in entries] == [2, 1, 0]
    assert [e.operation for e in entries] == ["WRITE", "WRITE", "WRITE"]
    assert entries[0].parameters["mode"] == "Overwrite"
    assert entries[1].metrics["num_added_rows"] == 2


def test_preview_counts_rows_and_files_now_and_then(lake):
    from deplat.recovery import history, preview_restore

    _three_versions(lake / "silver" / "t")
    preview = preview_restore(_ctx(), "silver.t", version=1)
    assert (preview.current.version, preview.current.rows, preview.current.files) == (2, 1, 1)
    assert (preview.target.version, preview.target.rows, preview.target.files) == (1, 5, 2)
    assert [e.version for e in preview.undone] == [2]
    assert preview.target.bytes > 0 and not preview.no_op
    # Each state carries its own version's commit time (history() of a time-travelled table is the whole log).
    times = {e.version: e.timestamp for e in history(_ctx(), "silver.t")}
    assert (preview.current.timestamp, preview.target.timestamp) == (times[2], times[1])


def test_timestamp_picks_the_last_commit_at_or_before_it(lake):
    from deltalake import DeltaTable

    from deplat.recovery import preview_restore
    from deplat_job.errors import ConfigError

    path = lake / "silver" / "t"
    _three_versions(path)
    stamps = {h["version"]: h["timestamp"] for h in DeltaTable(str(path)).history()}
    from datetime import datetime, timezone

    at_v1 = datetime.fromtimestamp(stamps[1] / 1000, tz=timezone.utc).isoformat(timespec="milliseconds")
    assert preview_restore(_ctx(), "silver.t", timestamp=at_v1).target.version == 1
    with pytest.raises(ConfigError, match="did not exist yet"):
        preview_restore(_ctx(), "silver.t", timestamp="2001-01-01T00:00:00Z")
    with pytest.raises(ConfigError, match="exactly one"):
        preview_restore(_ctx(), "silver.t")


def test_restore_without_yes_exits_7_and_changes_nothing(lake):
    from deltalake import DeltaTable

    path = lake / "silver" / "t"
    _three_versions(path)
    result = CliRunner().invoke(app, ["dr", "restore", "silver.t", "--version", "0"], terminal_width=200)
    assert result.exit_code == 7, result.output
    assert "commits undone" in result.output and "--yes" in result.output
    assert DeltaTable(str(path)).version() == 2
    assert DeltaTable(str(path)).to_pyarrow_table().num_rows == 1


def test_restore_to_a_vacuumed_version_fails_clearly(lake):
    from deltalake import DeltaTable

    path = lake / "silver" / "t"
    _three_versions(path)
    removed = DeltaTable(str(path)).vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    assert removed  # v0/v1 files are gone from storage
    version = DeltaTable(str(path)).version()  # VACUUM START/END commits were added
    result = CliRunner().invoke(app, ["dr", "restore", "silver.t", "--version", "1", "--yes"])
    assert result.exit_code == 2, result.output
    assert "2 of 2 data files were vacuumed" in result.output
    assert "VACUUM at" in result.output
    assert DeltaTable(str(path)).version() == version  # nothing was attempted


def test_unknown_table_and_bad_names(lake):
    runner = CliRunner()
    missing = runner.invoke(app, ["dr", "history", "silver.nope"])
    assert missing.exit_code == 2 and "no Delta table silver.nope" in missing.output
    bad = runner.invoke(app, ["dr", "history", "fx_rates"])
    assert bad.exit_code == 2 and "<layer>.<table>" in bad.output


def test_history_json_is_only_json(lake):
    import json

    _three_versions(lake / "gold" / "g")
    result = CliRunner().invoke(app, ["-o", "json", "dr", "history", "gold.g", "-n", "2"])
    assert result.exit_code == 0, result.stderr
    assert [e["version"] for e in json.loads(result.stdout)] == [2, 1]


def test_reprocess_refuses_pipelines_without_partitions(lake):
    result = CliRunner().invoke(app, ["dr", "reprocess", "kafka", "--partition-date", "2024-01-02"])
    assert result.exit_code == 2 and "cannot be reprocessed" in result.output


def test_reprocess_runs_the_pipeline_for_that_date():
    from deplat.recovery import reprocess

    calls = []

    class Runs:
        def run(self, pipeline, **kwargs):
            calls.append((pipeline, kwargs))
            return "result"

    assert reprocess(object(), "fx", "2024-01-03", run_service=Runs()) == "result"
    assert calls == [("fx", {"partition_date": "2024-01-03"})]


def test_restore_to_the_current_version_is_a_no_op_without_yes(lake):
    _three_versions(lake / "silver" / "t")
    result = CliRunner().invoke(app, ["dr", "restore", "silver.t", "--version", "2"])
    assert result.exit_code == 0, result.output
