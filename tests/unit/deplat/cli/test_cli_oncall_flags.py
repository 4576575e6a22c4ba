"""Bad flags and a dead local service (issue 25, item 3): exit 2 with a message naming the flag
before anything runs, exit 3 when the local PostgreSQL does not answer, help that lists only what
works. No JVM, no moto: the local env points at closed loopback ports (the stack "down")."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from deplat.cli import app
from deplat_job.errors import ExitCode

ROOT = Path(__file__).resolve().parents[4]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def project(deplat_env):
    """moto and PostgreSQL on closed loopback ports; state under tmp."""
    moto, pg = _closed_port(), _closed_port()
    return deplat_env(config="environments:\n"
                             f"  local: {{kind: local, endpoint_url: 'http://127.0.0.1:{moto}', lake_uri: lake}}\n"
                             f"local_stack: {{moto_port: {moto}, postgres_port: {pg}}}\n", lake=False).root


def cli(*args: str):
    return CliRunner().invoke(app, list(args), terminal_width=200)


@pytest.mark.parametrize("args, flag", [
    (["optimize", "--retention-hours", "nan"], "--retention-hours"),
    (["optimize", "--retention-hours", "inf"], "--retention-hours"),
    (["optimize", "--retention-hours", "-inf", "--force"], "--retention-hours"),
    (["dr", "history", "silver.fx_rates", "-n", "-5"], "-n"),
    (["kafka", "dlq", "--limit", "-1"], "--limit"),
    (["local", "dms-capture", "--sample-changes", "-5"], "--sample-changes"),
])
def test_a_bad_number_is_exit_2_naming_the_flag(project, args, flag):
    result = cli(*args)
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "unexpected error" not in result.output
    assert flag in result.output


def test_report_out_a_directory_is_exit_2(project):
    (project / "reports").mkdir()
    result = cli("report", "--out", str(project / "reports"))
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "unexpected error" not in result.output
    assert "--out" in result.output and "directory" in result.output


@pytest.mark.parametrize("args", [["local", "dms-capture"], ["dr", "reconcile", "app.orders", "--direct"]])
def test_a_dead_local_postgres_is_an_infra_error(project, args):
    result = cli(*args)
    assert result.exit_code == ExitCode.INFRA, result.output
    assert "unexpected error" not in result.output
    assert "PostgreSQL" in result.output and "deplat local up" in result.output


def test_reprocess_help_lists_only_pipelines_whose_every_step_takes_a_date():
    from deplat.recovery import REPROCESSABLE
    from deplat.registry import PIPELINES
    from deplat.runs import _require_partition_support

    def takes_a_date(name: str) -> bool:
        try:
            _require_partition_support(name, [(name, s) for s in PIPELINES[name].steps])
        except Exception:  # noqa: BLE001 - ConfigError: a step ignores the date
            return False
        return True

    honoured = {name for name in PIPELINES if takes_a_date(name)}
    assert set(REPROCESSABLE) == honoured
    text = cli("dr", "reprocess", "--help").output
    for name in PIPELINES:
        assert (name in text) == (name in honoured), (name, text)


def _options(command, path=()):
    for param in command.params:
        yield path, param
    for name, sub in (getattr(command, "commands", None) or {}).items():
        yield from _options(sub, (*path, name))


def _is_float(param) -> bool:
    import typing

    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    return annotation is float or float in typing.get_args(annotation)


def test_every_float_flag_refuses_nan_and_infinity():
    """The kind behind `optimize --retention-hours nan`: any float flag would let NaN past its range."""
    from typer.main import get_command

    root = get_command(app)
    floats = [(path, p) for path, p in _options(root) if _is_float(p)]
    assert len(floats) >= 5, floats
    for path, param in floats:
        for bad in ("nan", "inf", "-inf"):
            with pytest.raises(typer.BadParameter):
                param.process_value(typer.Context(root), bad)
