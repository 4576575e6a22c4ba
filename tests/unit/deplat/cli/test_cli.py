import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from deplat import __version__
from deplat.cli import app
from deplat_job.errors import ExitCode

GROUPS = ["infra", "deploy", "run", "logs", "status", "dq", "catalog", "query", "lf", "optimize",
          "dr", "kafka", "local", "doctor", "runbook"]


@pytest.fixture
def runner():
    return CliRunner()


def test_help_lists_every_group(runner):
    result = runner.invoke(app, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    for group in GROUPS:
        assert f" {group} " in result.output, group


def test_version(runner):
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_not_built_command_says_so_and_fails(runner):
    import typer

    from deplat.cli import DeplatGroup
    from deplat.cli._common import not_built

    later = typer.Typer(cls=DeplatGroup)  # every real command is built now: a stand-in
    later.command("later")(lambda: not_built("later"))
    later.command("other")(lambda: None)
    result = runner.invoke(later, ["later"])
    assert result.exit_code == ExitCode.USAGE
    assert "not built yet" in result.output


def test_unknown_env_exits_2_with_hint(runner):
    result = runner.invoke(app, ["-e", "staging", "doctor"])
    assert result.exit_code == ExitCode.USAGE
    assert "unknown environment 'staging'" in result.output
    assert "use one of" in result.output


def test_safety_guard_exits_7(runner, monkeypatch):
    monkeypatch.setenv("DEPLAT_ENDPOINT_URL", "https://s3.us-east-1.amazonaws.com")
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == ExitCode.REFUSED
    assert "not loopback" in result.output


def test_error_json_shape(runner):
    result = runner.invoke(app, ["-o", "json", "run", "no-such-pipeline"])
    assert result.exit_code == ExitCode.USAGE
    doc = json.loads(result.stdout)  # stdout holds the JSON error and nothing else
    assert set(doc) == {"error", "hint", "exit_code"} and doc["exit_code"] == ExitCode.USAGE


def test_usage_error_is_exit_2(runner):
    result = runner.invoke(app, ["local", "up", "--no-such-flag"])
    assert result.exit_code == 2


def test_help_imports_no_heavy_modules():
    code = ("import sys; sys.argv=['deplat','--help']\n"
            "from deplat.cli import app\n"
            "try:\n    app()\nexcept SystemExit:\n    pass\n"
            "heavy=[m for m in ('boto3','botocore','pyspark','great_expectations','deltalake','pydantic')"
            " if m in sys.modules]\nprint('HEAVY', heavy, file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "HEAVY []" in proc.stderr, proc.stderr[-2000:]


def test_a_reader_that_goes_away_is_not_an_unexpected_error(runner):
    """`deplat ... | head -3`: stdout's reader closes early and a write fails with EPIPE. Click's own
    handling applies (a quiet exit 1), not deplat's "unexpected error" report."""
    import typer

    from deplat.cli import DeplatGroup

    def write_to_a_closed_pipe() -> None:
        raise BrokenPipeError(32, "Broken pipe")

    piped = typer.Typer(cls=DeplatGroup)
    piped.command("table")(write_to_a_closed_pipe)
    piped.command("other")(lambda: None)
    result = runner.invoke(piped, ["table"])
    assert "unexpected error" not in result.output
    assert result.exit_code == 1
