"""`kafka lag` / `reset-checkpoint` on an s3:// checkpoint (the cloud layout), against the stack's moto."""

import json
import uuid

import boto3
import pytest

from deplat.kafka import CheckpointStore, committed_offsets

pytestmark = pytest.mark.integration


def test_s3_checkpoint_offsets_and_delete(local_stack):
    s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:5050", region_name="us-east-1")
    bucket = f"deplat-cp-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    prefix = "_checkpoints/orders_events"
    for batch, offs in ((0, {"0": 5, "1": 3}), (1, {"0": 8, "1": 6})):
        body = "v1\n{}\n" + json.dumps({"orders_events": offs}) + "\n"
        s3.put_object(Bucket=bucket, Key=f"{prefix}/offsets/{batch}", Body=body.encode())
    s3.put_object(Bucket=bucket, Key=f"{prefix}/commits/0", Body=b"v1\n{}\n")
    s3.put_object(Bucket=bucket, Key=f"{prefix}/metadata", Body=b'{"id": "x"}')
    s3.put_object(Bucket=bucket, Key="_checkpoints/other/metadata", Body=b"{}")

    store = CheckpointStore(f"s3://{bucket}/{prefix}", s3)
    assert store.files() == ["commits/0", "metadata", "offsets/0", "offsets/1"]
    assert committed_offsets(store) == (0, {"orders_events": {0: 5, 1: 3}})
    store.delete()
    assert store.files() == []
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 1  # another stream's checkpoint is untouched
