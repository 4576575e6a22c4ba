"""The cloud-shaped paths on moto's S3: Delta tables in a bucket found by prefix listing and read by
delta-rs (catalog register), and lineage events written to and read back from the bucket."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def s3_ctx(local_stack, deplat_env):
    import pyarrow as pa
    from deltalake import write_deltalake

    from deplat.core.config import load_settings
    from deplat.core.context import Context

    suffix = uuid.uuid4().hex[:8]
    bucket, db = f"it-s3lake-{suffix}", f"it_s3_silver_{suffix}"
    deplat_env(lake=False, outputs={"glue_database_silver": db, "glue_database_gold": f"{db}_g"})

    class S3LakeContext(Context):
        """The local env (moto endpoint) with the lake in a bucket, as in the cloud."""

        lake_uri = f"s3://{bucket}"

    ctx = S3LakeContext(settings=load_settings(ROOT / "config" / "deplat.yaml"))
    s3, glue = ctx.aws.client("s3"), ctx.aws.client("glue")
    s3.create_bucket(Bucket=bucket)
    for name in (db, f"{db}_g"):
        glue.create_database(DatabaseInput={"Name": name})
    from deplat.catalog import Lake

    opts = {**Lake(ctx).storage_options(), "AWS_S3_ALLOW_UNSAFE_RENAME": "true"}  # one writer: this test
    write_deltalake(f"s3://{bucket}/silver/fx_rates", pa.table({"ccy": ["USD"], "rate": [1.5]}),
                    storage_options=opts)
    s3.put_object(Bucket=bucket, Key="silver/not_delta/part-0.parquet", Body=b"x")
    yield ctx, bucket, db
    for name in (db, f"{db}_g"):
        glue.delete_database(Name=name)


def test_register_from_a_bucket(s3_ctx):
    from deplat.catalog import Lake, reconcile

    ctx, bucket, db = s3_ctx
    assert Lake(ctx).tables("silver") == ["fx_rates"]
    result = reconcile(ctx, ["silver"])
    assert [(a.table, a.action, a.location) for a in result.actions] == [
        ("fx_rates", "create", f"s3://{bucket}/silver/fx_rates/")]
    table = ctx.aws.client("glue").get_table(DatabaseName=db, Name="fx_rates")["Table"]
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == ["ccy", "rate"]
    assert {a.action for a in reconcile(ctx, ["silver"]).actions} == {"unchanged"}


def test_lineage_events_in_the_bucket(s3_ctx):
    from deplat.core.console import NullReporter
    from deplat.lineage import emitter_for, read_events, tree

    ctx, bucket, db = s3_ctx
    ctx.reporter = NullReporter()
    em = emitter_for(ctx, "b1", "fx")
    em.start("fx", "fx_bronze_to_silver", "run-1")
    em.finish("fx", "fx_bronze_to_silver", "run-1", True)
    events = read_events(ctx)
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    assert events[0]["outputs"] == [{"namespace": f"s3://{bucket}", "name": "silver/fx_rates"}]
    graph = tree(ctx, "silver.fx_rates")
    assert graph["jobs"][0]["datasets"][0]["dataset"] == "bronze.fx_rates"
    assert not ctx.reporter.messages
