"""moto keeps resources in memory: a local Terraform state that outlived its moto is set aside."""

import json
import uuid

import pytest

from deplat.core.context import Context
from deplat.infra import Infra

pytestmark = pytest.mark.integration


def _infra(deplat_env, bucket: str) -> Infra:
    deplat_env(lake=False)
    ctx = Context("local")
    ctx.outputs_file.write_text(json.dumps({"artifacts_bucket": bucket}))
    Infra(ctx).state_file.write_text('{"version": 4}')
    return Infra(ctx)


def test_state_of_a_restarted_moto_is_set_aside(local_stack, deplat_env):
    infra = _infra(deplat_env, f"gone-{uuid.uuid4().hex[:8]}")
    infra._require_api()
    assert not infra.state_file.exists() and not infra.ctx.outputs_file.exists()
    [stale] = infra.state_file.parent.glob("terraform.tfstate.stale-*")
    assert stale.read_text() == '{"version": 4}'


def test_state_whose_bucket_exists_is_kept(local_stack, deplat_env):
    bucket = f"kept-{uuid.uuid4().hex[:8]}"
    infra = _infra(deplat_env, bucket)
    infra.ctx.aws.client("s3").create_bucket(Bucket=bucket)
    infra._require_api()
    assert infra.state_file.read_text() == '{"version": 4}' and infra.ctx.outputs_file.exists()


def _state_with_bucket(bucket: str) -> str:
    return json.dumps({"version": 4, "resources": [
        {"mode": "managed", "type": "aws_lakeformation_lf_tag", "name": "layer",
         "instances": [{"attributes": {"key": "deplat_local_layer"}}]},
        {"mode": "managed", "type": "aws_s3_bucket", "name": "lake",
         "instances": [{"attributes": {"bucket": bucket}}]}]})


def test_state_of_an_apply_that_failed_before_outputs_is_set_aside_after_a_restart(local_stack, deplat_env):
    """A first apply that fails midway writes no outputs but leaves a state (LF-tags, buckets); after
    moto restarts, refreshing that state would update LF-tags moto no longer has (a 500 from moto)."""
    deplat_env(lake=False)
    infra = Infra(Context("local"))
    state = _state_with_bucket(f"gone-{uuid.uuid4().hex[:8]}")
    infra.state_file.write_text(state)
    infra._require_api()
    assert not infra.state_file.exists()
    [stale] = infra.state_file.parent.glob("terraform.tfstate.stale-*")
    assert stale.read_text() == state


def test_state_without_outputs_whose_buckets_exist_is_kept(local_stack, deplat_env):
    deplat_env(lake=False)
    infra = Infra(Context("local"))
    bucket = f"kept-{uuid.uuid4().hex[:8]}"
    infra.ctx.aws.client("s3").create_bucket(Bucket=bucket)
    infra.state_file.write_text(_state_with_bucket(bucket))
    infra._require_api()
    assert infra.state_file.exists()
