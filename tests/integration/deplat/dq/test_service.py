"""`deplat dq` and the DQ gate on the local env: real spark-submit of the deployed dq_check job (throwaway
project, moto bucket), exit codes 0/5/6, gold.quality_results rows, the GX validation result under
_quality/, the FailedSuites metric in (moto) CloudWatch, the gate before gold, and demo-failure leaving
the table as it was.

Each spark-submit costs ~7-10 s here: one deploy for the module, six job runs in all.
"""

from __future__ import annotations

import json
import shutil
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest
from typer.testing import CliRunner

from deplat import registry
from deplat.cli import app
from deplat.registry import Pipeline, Step
from tests.integration.deplat_project import MOTO, make_project

pytestmark = [pytest.mark.integration, pytest.mark.spark]

ROOT = Path(__file__).resolve().parents[4]

GOLD_SMOKE = '''
from deplat_job.pipelines.common import emit_metrics, job_parser, parse_args, table_path
from deplat_job.pipelines.session import get_spark


def main():
    args = parse_args(job_parser("gold_smoke: silver.things -> gold.things_by_status"))
    spark = get_spark("gold_smoke")
    df = spark.read.format("delta").load(table_path(args.lake, "silver", "things")).groupBy("status").count()
    df.write.format("delta").mode("overwrite").save(table_path(args.lake, "gold", "things_by_status"))
    emit_metrics("gold_smoke", read=df.count(), written=df.count(), rejected=0)


if __name__ == "__main__":
    main()
'''

SUITE = f"""
table: silver.things
expectations:
  - check: not_null
    column: id
  - check: unique
    column: id
  - check: between
    column: amount
    min: 0
    strict_min: true
  - check: in_set
    column: status
    values: [open, done]
  - check: regex
    column: ccy
    pattern: '^[A-Z]{{3}}$'
  - check: row_count
    min: 1
  - check: freshness        # the newest day is {date.today() - timedelta(days=5)}: a warning
    column: day
    max_age_days: 2
    severity: warn
"""


def cli(*args):
    return CliRunner().invoke(app, list(args), terminal_width=200)


@pytest.fixture(scope="module")
def project(local_stack, tmp_path_factory):
    import pyarrow as pa
    from deltalake import write_deltalake

    base = tmp_path_factory.mktemp("dq")
    with pytest.MonkeyPatch.context() as mp:
        jobs = {"dq_check": (ROOT / "jobs" / "dq_check.py").read_text(), "gold_smoke": GOLD_SMOKE}
        root, bucket = make_project(base, mp, jobs)
        shutil.rmtree(root / "dq" / "suites")
        (root / "dq" / "suites").mkdir()
        (root / "dq" / "suites" / "silver_things.yml").write_text(SUITE)
        mp.setitem(registry.PIPELINES, "gold", Pipeline("gold", (
            Step("dq_check", gate=("silver.things",)), Step("gold_smoke"))))
        mp.setitem(registry.PIPELINES, "dq", Pipeline("dq", (Step("dq_check", gate=("silver.things",)),)))
        mp.chdir(root)
        lake = base / "lake"
        day = date.today() - timedelta(days=5)
        write_deltalake(str(lake / "silver" / "things"), pa.table({
            "id": pa.array(range(1, 21), pa.int64()),
            "ccy": ["EUR", "USD"] * 10,
            "amount": [float(i) for i in range(1, 21)],
            "status": ["open", "done"] * 10,
            "day": [day - timedelta(days=i % 3) for i in range(20)],
        }))
        # With the dependency archive: the job runs GX on the EMR stand-in Python 3.9 (GX 1.8.x there).
        result = CliRunner().invoke(app, ["deploy"])
        assert result.exit_code == 0, result.output
        yield root, lake


def _version(path: Path) -> int | None:
    from deltalake import DeltaTable

    return DeltaTable(str(path)).version() if (path / "_delta_log").is_dir() else None


def _append_bad_rows(lake: Path):
    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake

    dt = DeltaTable(str(lake / "silver" / "things"))
    bad = pa.Table.from_pylist([{"id": 3, "ccy": "eur", "amount": -5.0, "status": "lost",
                                 "day": date.today() - timedelta(days=5)}], schema=dt.to_pyarrow_dataset().schema)
    write_deltalake(str(lake / "silver" / "things"), bad, mode="append")
    return dt.version()


def _failed_suites_metric(since: datetime) -> float:
    cw = boto3.client("cloudwatch", endpoint_url=MOTO, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    stats = cw.get_metric_statistics(Namespace="Deplat/DataQuality", MetricName="FailedSuites",
                                     Dimensions=[{"Name": "Environment", "Value": "local"}],
                                     StartTime=since - timedelta(minutes=1),
                                     EndTime=datetime.now(timezone.utc) + timedelta(minutes=1),
                                     Period=60, Statistics=["Maximum"])
    return max((p["Maximum"] for p in stats["Datapoints"]), default=0.0)


def test_check_passes_with_a_warning_and_fails_on_warn_with_6(project):
    root, lake = project
    ok = cli("-o", "json", "dq", "check", "silver.things")
    assert ok.exit_code == 0, ok.output
    doc = json.loads(ok.stdout)  # -o json: only JSON on stdout
    suite = doc["suites"][0]
    assert suite["rows"] == 20 and suite["delta_version"] == 0 and doc["warned_suites"] == ["silver_things"]
    fresh = next(r for r in suite["results"] if r["expectation"] == "freshness(day)")
    assert fresh["success"] is False and fresh["severity"] == "warn"
    validation = json.loads(Path(suite["validation_uri"]).read_text())  # the GX validation result
    assert validation["statistics"]["evaluated_expectations"] == 7
    assert {r["expectation_config"]["type"] for r in validation["results"]} >= {
        "expect_column_values_to_not_be_null", "expect_column_max_to_be_between"}

    warn = cli("dq", "check", "silver.things", "--fail-on", "warn")
    assert warn.exit_code == 6, warn.output
    assert "freshness(day)" in warn.output and "WARN" in warn.output

    from deltalake import DeltaTable

    rows = DeltaTable(str(lake / "gold" / "quality_results")).to_pyarrow_table().to_pylist()
    assert len(rows) == 14 and {r["run_id"] for r in rows} >= {doc["batch_id"]}
    assert {r["table_name"] for r in rows} == {"silver.things"} and all(r["delta_version"] == 0 for r in rows)


def test_gate_stops_gold_on_bad_silver_rows_and_demo_failure_restores(project):
    root, lake = project
    gold = lake / "gold" / "things_by_status"
    since = datetime.now(timezone.utc)
    good_version = _append_bad_rows(lake)
    before_gold = _version(gold)
    failed = cli("run", "gold")
    assert failed.exit_code == 5, failed.output
    assert "data quality failed" in failed.output and "between(amount)" in failed.output
    assert _version(gold) == before_gold  # gold not written
    assert _failed_suites_metric(since) >= 1  # what the dq-failures alarm watches

    # Put the table back as it was (Delta RESTORE), then the demo appends, fails and restores by itself.
    from deltalake import DeltaTable

    DeltaTable(str(lake / "silver" / "things")).restore(good_version)
    before = DeltaTable(str(lake / "silver" / "things")).to_pyarrow_table().sort_by("id")
    demo = cli("dq", "demo-failure", "silver.things", "--yes")
    assert demo.exit_code == 5, demo.output
    assert "content after == before: yes" in demo.output
    after_dt = DeltaTable(str(lake / "silver" / "things"))
    assert after_dt.to_pyarrow_table().sort_by("id").equals(before)
    assert [h["operation"] for h in after_dt.history(2)][0] == "RESTORE"

    ok = cli("run", "gold")
    assert ok.exit_code == 0, ok.output
    assert _version(gold) == (0 if before_gold is None else before_gold + 1)  # clean input: gold written

    listed = cli("-o", "json", "dq", "list")
    assert listed.exit_code == 0, listed.output
    (entry,) = json.loads(listed.stdout)
    assert entry["suite"] == "silver_things" and entry["last_result"] == "passed with 1 warning(s)"


def test_unknown_table_and_refusals_exit_before_any_job(project):
    assert cli("dq", "check", "silver.nope").exit_code == 2
    assert cli("dq", "check", "fx_rates").exit_code == 2
    refused = cli("dq", "demo-failure", "silver.things")
    assert refused.exit_code == 7 and "--yes" in refused.output
