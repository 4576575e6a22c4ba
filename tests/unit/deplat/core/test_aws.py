import pytest

from deplat.core.aws import Aws, check_local_safety, is_loopback, looks_real
from deplat.core.config import Environment
from deplat_job.errors import ExitCode, SafetyError


def _local(**kw) -> Environment:
    base = {"name": "local", "kind": "local", "endpoint_url": "http://127.0.0.1:5050"}
    return Environment(**{**base, **kw})


@pytest.mark.parametrize("url,expected", [
    ("http://127.0.0.1:5050", True), ("http://localhost:4566", True), ("http://[::1]:5000", True),
    ("https://s3.eu-west-1.amazonaws.com", False), ("http://10.0.0.5:5050", False),
])
def test_is_loopback(url, expected):
    assert is_loopback(url) is expected


def test_real_looking_keys():
    assert looks_real("AKIAIOSFODNN7EXAMPLE")
    assert looks_real("ASIAY34FZKBOKMUTVV7A")
    assert not looks_real("testing")
    assert not looks_real(None)


def test_local_env_with_aws_endpoint_is_refused():
    env = _local(endpoint_url="https://s3.us-east-1.amazonaws.com")
    with pytest.raises(SafetyError) as err:
        check_local_safety(env)
    assert err.value.exit_code == ExitCode.REFUSED


def test_local_env_with_real_key_is_refused():
    with pytest.raises(SafetyError, match="real AWS key"):
        Aws(_local(access_key_id="AKIAIOSFODNN7EXAMPLE"))


def test_local_env_with_profile_is_refused():
    with pytest.raises(SafetyError, match="profile"):
        Aws(_local(profile="prod-admin"))


def test_local_session_uses_fake_credentials_not_the_default_chain(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")  # a real-looking key in the shell
    creds = Aws(_local()).session.get_credentials()
    assert creds.access_key == "testing"


def test_cloud_env_is_not_subject_to_the_local_guard():
    check_local_safety(Environment(name="dev", kind="aws", endpoint_url=None))
