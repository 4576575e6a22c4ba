"""DEPLAT_* overrides stay in their environment: a variable exported for the local stack never
redirects dev or prod, one named for dev never touches prod; a cloud env refuses a loopback endpoint
and a local env a real one (exit 7), through the CLI."""

import pytest
from typer.testing import CliRunner

from deplat.cli import app
from deplat.core.config import load_settings
from deplat_job.errors import ConfigError, ExitCode

CONFIG = """
default_env: local
environments:
  local: {kind: local, endpoint_url: "http://127.0.0.1:5050"}
  dev: {kind: aws, region: eu-west-1, profile: deplat-dev}
  prod: {kind: aws, region: eu-west-1, profile: deplat-prod, protected: true}
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "config" / "deplat.yaml"
    path.parent.mkdir()
    path.write_text(CONFIG)
    return path


def test_unscoped_local_stack_variables_apply_to_local_only(config):
    environ = {"DEPLAT_ENDPOINT_URL": "http://localhost:5050", "DEPLAT_LAKE_URI": "/tmp/lake",
               "DEPLAT_REGION": "us-west-2"}
    settings = load_settings(config, environ)
    assert settings.env("local").endpoint_url == "http://localhost:5050"
    assert settings.env("local").lake_uri == "/tmp/lake" and settings.env("local").region == "us-west-2"
    for name in ("dev", "prod"):
        env = settings.env(name)
        assert env.endpoint_url is None and env.lake_uri is None and env.region == "eu-west-1"


def test_named_variables_apply_to_their_environment_only(config):
    settings = load_settings(config, {"DEPLAT_DEV_PROFILE": "dev-admin", "DEPLAT_DEV_REGION": "us-east-2",
                                      "DEPLAT_LOCAL_LAKE_URI": "/x", "DEPLAT_LAKE_URI": "/y"})
    assert settings.env("dev").profile == "dev-admin" and settings.env("dev").region == "us-east-2"
    assert settings.env("prod").profile == "deplat-prod" and settings.env("prod").region == "eu-west-1"
    assert settings.env("local").lake_uri == "/x"  # the named variable wins over the unscoped one


@pytest.mark.parametrize("var", ["DEPLAT_PROTECTED", "DEPLAT_PROD_PROTECTED", "DEPLAT_KIND", "DEPLAT_DEV_KIND"])
def test_kind_and_protection_cannot_come_from_a_variable(config, var):
    with pytest.raises(ConfigError, match=var):
        load_settings(config, {var: "false" if "PROTECTED" in var else "local"})


def _cli(config, monkeypatch, env_vars, args):
    monkeypatch.setenv("DEPLAT_CONFIG", str(config))
    monkeypatch.setenv("DEPLAT_HOME", str(config.parent.parent / "home"))
    monkeypatch.delenv("DEPLAT_ENV", raising=False)
    for key, value in env_vars.items():
        monkeypatch.setenv(key, value)
    return CliRunner().invoke(app, args)


def test_cloud_env_refuses_a_loopback_endpoint(config, monkeypatch):
    result = _cli(config, monkeypatch, {"DEPLAT_DEV_ENDPOINT_URL": "http://127.0.0.1:5050"}, ["-e", "dev", "status"])
    assert result.exit_code == ExitCode.REFUSED, result.output
    assert "loopback" in result.output


def test_local_env_refuses_a_real_endpoint(config, monkeypatch):
    result = _cli(config, monkeypatch, {"DEPLAT_ENDPOINT_URL": "https://s3.eu-west-1.amazonaws.com"}, ["status"])
    assert result.exit_code == ExitCode.REFUSED, result.output
    assert "not loopback" in result.output


def test_a_local_endpoint_variable_does_not_reach_prod(config, monkeypatch):
    """The leak of issue 12: DEPLAT_ENDPOINT_URL exported for local, then a prod command."""
    monkeypatch.setenv("DEPLAT_ENDPOINT_URL", "http://127.0.0.1:5050")
    import boto3

    from deplat.core.aws import Aws
    from deplat.core.context import Context

    ctx = Context(env_name="prod", settings=load_settings(config))
    assert ctx.env.endpoint_url is None
    aws = Aws(ctx.env, session=boto3.Session(region_name=ctx.env.region))  # prod's profile is not here
    assert aws.client("s3").meta.endpoint_url == "https://s3.eu-west-1.amazonaws.com"
