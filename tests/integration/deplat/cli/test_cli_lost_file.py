"""The lost-data-file fault, scripted (issue 25 item 2): one Parquet file of silver.fx_rates' current
version is deleted from storage, then every command an on-call engineer would reach for is run with
its expected words and exit code, the repair included. Real moto (Glue), a temp lake of Delta tables
written by delta-rs; no job is submitted: each command names the file before a job would meet it."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deplat.cli import app
from deplat_job.errors import ExitCode

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[4]


def cli(*args: str):
    return CliRunner().invoke(app, list(args), terminal_width=250)


def _fx(days: list[int]):
    import pyarrow as pa

    n = len(days)
    return pa.table({"ccy": ["USD"] * n, "base_ccy": ["EUR"] * n, "rate_to_base": [1.1] * n,
                     "as_of_date": [dt.date(2024, 1, d) for d in days], "rate_category": ["ecb"] * n})


@pytest.fixture
def lake(local_stack, deplat_env):
    from deplat.core.config import load_settings
    from deplat.core.context import Context

    suffix = uuid.uuid4().hex[:8]
    dbs = {"silver": f"it_lost_silver_{suffix}", "gold": f"it_lost_gold_{suffix}"}
    env = deplat_env(outputs={f"glue_database_{k}": v for k, v in dbs.items()})
    glue = Context(settings=load_settings(ROOT / "config" / "deplat.yaml")).aws.client("glue")
    for name in dbs.values():
        glue.create_database(DatabaseInput={"Name": name})
    yield env.lake
    for name in dbs.values():
        glue.delete_database(Name=name)


def test_a_lost_data_file_is_named_everywhere_and_repaired(lake):
    from deltalake import DeltaTable, write_deltalake

    path = lake / "silver" / "fx_rates"
    write_deltalake(str(path), _fx([1, 2, 3]))                  # v0
    write_deltalake(str(path), _fx([4, 5]), mode="append")      # v1
    assert cli("catalog", "register").exit_code == 0
    v0 = {Path(u).name for u in DeltaTable(str(path), version=0).file_uris()}
    lost = next(Path(u) for u in DeltaTable(str(path)).file_uris() if Path(u).name not in v0)
    lost.unlink()                                                # the fault
    named = "silver.fx_rates version 1"

    for args in (["query", "SELECT count(*) FROM silver.fx_rates"], ["dq", "check", "silver.fx_rates"],
                 ["optimize"]):
        result = cli(*args)
        assert result.exit_code == ExitCode.INFRA, (args, result.output)
        assert named in result.output and str(lost) in result.output, (args, result.output)
        assert "dr fsck" in result.output and "unexpected error" not in result.output

    from deplat.core.context import Context
    from deplat.dq.service import DqService
    from deplat.recovery import LostDataFilesError

    with pytest.raises(LostDataFilesError, match=named):  # the gold gate asks the same before its job
        DqService(Context()).gate_args(("silver.fx_rates",))

    listed = cli("-o", "json", "catalog", "list")
    assert listed.exit_code == 0, listed.output
    fx = next(t for t in json.loads(listed.stdout) if t["table"] == "silver.fx_rates")
    assert fx["state"] == "registered, DATA FILES MISSING" and fx["missing_files"] == [str(lost)]
    assert fx["rows"] is None
    diff = cli("catalog", "diff")
    assert diff.exit_code == 1 and "missing_files" in diff.output and "no change" not in diff.output
    changes = next(a for a in json.loads(cli("-o", "json", "catalog", "diff").stdout)["actions"]
                   if a["table"] == "fx_rates")["changes"]
    assert f"data file missing from storage (version 1): {lost}" in changes

    daily = cli("-o", "json", "checklist", "daily")
    item = next(i for i in json.loads(daily.stdout)["items"] if i["check"] == "data files missing from storage")
    assert item["status"] == "attention" and named in item["detail"] and str(lost) in item["detail"]
    doctor = cli("-o", "json", "doctor")
    check = next(c for c in json.loads(doctor.stdout)["checks"] if c["name"] == "lake data files")
    assert doctor.exit_code == 1 and not check["ok"] and str(lost) in check["detail"]

    restore = cli("dr", "restore", "silver.fx_rates", "--version", "0")
    assert restore.exit_code == ExitCode.REFUSED, restore.output  # the preview, then "--yes"
    assert "missing from storage" in restore.output and "unexpected error" not in restore.output
    shown = json.JSONDecoder().raw_decode(cli("-o", "json", "dr", "restore", "silver.fx_rates", "--version", "0")
                                          .stdout)[0]["preview"]
    assert shown["current_missing"] == [str(lost)] and (shown["current"]["rows"], shown["target"]["rows"]) == (5, 3)

    refused = cli("dr", "fsck", "silver.fx_rates")
    assert refused.exit_code == ExitCode.REFUSED and "--yes" in refused.output
    dry = json.loads(cli("-o", "json", "dr", "fsck", "silver.fx_rates", "--dry-run").stdout)
    assert dry["missing"] == [str(lost)] and dry["rows_lost"] == 2 and not dry["repaired"]
    repaired = json.loads(cli("-o", "json", "dr", "fsck", "silver.fx_rates", "--yes").stdout)
    assert repaired["repaired"] and repaired["version_after"] == 2

    after = cli("-o", "json", "query", "SELECT count(*) AS n FROM silver.fx_rates")
    assert after.exit_code == 0 and json.loads(after.stdout)["rows"] == [[3]]
    item = next(i for i in json.loads(cli("-o", "json", "checklist", "daily").stdout)["items"]
                if i["check"] == "data files missing from storage")
    assert item["status"] == "ok"


def test_an_s3_lake_lost_file_is_listed_and_the_preview_survives_it(local_stack):
    from types import SimpleNamespace

    import boto3
    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake

    from deplat.core.aws import Aws
    from deplat.core.config import load_settings
    from deplat.recovery import lake_tables, lost_data_files, preview_restore, storage_options

    bucket = f"deplat-lost-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:5050", region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    env = load_settings(ROOT / "config" / "deplat.yaml").env("local")
    ctx = SimpleNamespace(env=env, aws=Aws(env), lake_uri=f"s3://{bucket}")
    uri = f"s3://{bucket}/silver/t"
    opts = storage_options(ctx, uri)
    write_deltalake(uri, pa.table({"id": [1, 2]}), storage_options=opts)
    write_deltalake(uri, pa.table({"id": [3]}), mode="append", storage_options=opts)
    write_deltalake(f"s3://{bucket}/gold/g", pa.table({"x": [1]}), storage_options=opts)
    v0 = set(DeltaTable(uri, version=0, storage_options=opts).file_uris())
    (gone,) = [u for u in DeltaTable(uri, storage_options=opts).file_uris() if u not in v0]
    s3.delete_object(Bucket=bucket, Key=gone.split(f"{bucket}/", 1)[1])

    assert lake_tables(ctx) == ["gold.g", "silver.t"]
    [lost] = lost_data_files(ctx)
    assert (lost.table, lost.version, lost.uris) == ("silver.t", 1, [gone])
    preview = preview_restore(ctx, "silver.t", version=0)
    assert preview.current_missing == [gone] and (preview.current.rows, preview.target.rows) == (3, 2)
