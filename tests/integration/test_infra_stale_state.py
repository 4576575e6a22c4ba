"""moto keeps resources in memory: a local Terraform state that outlived its moto is set aside."""

import json
import uuid

import pytest

from deplat.context import Context
from deplat.infra import Infra

pytestmark = pytest.mark.integration


def _infra(tmp_path, monkeypatch, bucket: str) -> Infra:
    monkeypatch.setenv("DEPLAT_HOME", str(tmp_path / "home"))
    ctx = Context("local")
    ctx.outputs_file.write_text(json.dumps({"artifacts_bucket": bucket}))
    Infra(ctx).state_file.write_text('{"version": 4}')
    return Infra(ctx)


def test_state_of_a_restarted_moto_is_set_aside(local_stack, tmp_path, monkeypatch):
    infra = _infra(tmp_path, monkeypatch, f"gone-{uuid.uuid4().hex[:8]}")
    infra._require_api()
    assert not infra.state_file.exists() and not infra.ctx.outputs_file.exists()
    [stale] = infra.state_file.parent.glob("terraform.tfstate.stale-*")
    assert stale.read_text() == '{"version": 4}'


def test_state_whose_bucket_exists_is_kept(local_stack, tmp_path, monkeypatch):
    bucket = f"kept-{uuid.uuid4().hex[:8]}"
    infra = _infra(tmp_path, monkeypatch, bucket)
    infra.ctx.aws.client("s3").create_bucket(Bucket=bucket)
    infra._require_api()
    assert infra.state_file.read_text() == '{"version": 4}' and infra.ctx.outputs_file.exists()
