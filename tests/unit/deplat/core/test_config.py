from pathlib import Path

import pytest

from deplat.core.config import load_settings
from deplat_job.errors import ConfigError, ExitCode

ROOT = Path(__file__).resolve().parents[4]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config" / "deplat.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_repo_config_loads_all_environments():
    settings = load_settings(ROOT / "config" / "deplat.yaml", environ={})
    assert set(settings.environments) == {"local", "dev", "prod"}
    assert settings.env(None).name == "local"
    assert settings.env("prod").protected is True


def test_unknown_environment_names_file_and_choices():
    settings = load_settings(ROOT / "config" / "deplat.yaml", environ={})
    with pytest.raises(ConfigError) as err:
        settings.env("staging")
    assert "staging" in err.value.message and "deplat.yaml" in err.value.message
    assert "dev, local, prod" in err.value.hint
    assert err.value.exit_code == ExitCode.USAGE


def test_wrong_type_names_key(tmp_path):
    path = _write(tmp_path, "environments:\n  local:\n    kind: local\n    endpoint_url: http://127.0.0.1:1\n"
                            "local_stack:\n  moto_port: not-a-port\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={})
    assert str(path) in err.value.message
    assert "local_stack.moto_port" in err.value.message


def test_missing_key_names_key(tmp_path):
    path = _write(tmp_path, "environments:\n  dev:\n    region: eu-west-1\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={})
    assert "environments.dev.kind" in err.value.message
    assert "Field required" in err.value.message


def test_unknown_key_is_rejected(tmp_path):
    path = _write(tmp_path, "environments:\n  dev:\n    kind: aws\n    regoin: eu-west-1\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={})
    assert "environments.dev.regoin" in err.value.message


def test_bad_yaml(tmp_path):
    path = _write(tmp_path, "environments: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_settings(path, environ={})


def test_env_vars_override_yaml(tmp_path):
    path = _write(tmp_path, "environments:\n  dev:\n    kind: aws\n    region: eu-west-1\n")
    settings = load_settings(path, environ={"DEPLAT_DEV_REGION": "us-west-2", "DEPLAT_ENV": "dev"})
    assert settings.env("dev").region == "us-west-2"


def test_bad_env_var_value_is_a_config_error(tmp_path):
    path = _write(tmp_path, "environments:\n  dev:\n    kind: aws\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={"DEPLAT_PROTECTED": "maybe"})
    assert "DEPLAT_" in err.value.message and "protected" in err.value.message
