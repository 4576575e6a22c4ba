"""Run ids given to `deplat logs` / `deplat cancel` are checked before they become path parts (issue 23
part 4): `../../x` once read a state file outside the runs folder, and `cancel` signalled the process
group named in the `supervisor.pid` found there."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from deplat_job.errors import ConfigError, ExitCode
from tests.unit.deplat.cli.test_cli_oncall import applied, cli, project  # noqa: F401 - project is a fixture

BAD_IDS = ["../../x", "../runs/lr-000000000001", "/etc", "lr-00000000000/", "lr-0000000000.1", "x y",
           "LR-000000000001", "", "a" * 65, "lr-000000000001\n", "lr-0123456789ab"]


@pytest.mark.parametrize("run_id", BAD_IDS)
def test_only_run_id_formats_are_accepted(run_id):
    from deplat.runs import check_run_id

    with pytest.raises(ConfigError) as err:
        check_run_id(run_id)
    assert err.value.exit_code == ExitCode.USAGE and "run id" in err.value.message


@pytest.mark.parametrize("run_id", ["0123456789abcdef", "00fb2fb6q2lpq00a", "jr1", "a" * 64])
def test_emr_serverless_ids_pass(run_id):
    from deplat.runs import check_run_id

    assert check_run_id(run_id) == run_id


def _planted(root):
    """A run folder outside `runs/` that looks live: its supervisor.pid names a process we own."""
    state = applied(root)
    outside = state / "x"
    outside.mkdir()
    (outside / "state.json").write_text(json.dumps({"state": "RUNNING", "details": "planted"}))
    (outside / "meta.json").write_text(json.dumps({"ref": {
        "run_id": "../x", "application_id": "local", "engine": "local", "log_uri": "s3://gone/logs/"}}))
    (outside / "stdout").write_text("planted log line\n")
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)
    (outside / "supervisor.pid").write_text(str(victim.pid))
    (state / "runs").mkdir(exist_ok=True)
    return victim


@pytest.mark.parametrize("verb", ["logs", "cancel"])
def test_logs_and_cancel_refuse_a_path_as_run_id(project, verb):  # noqa: F811 - the fixture
    victim = _planted(project)
    try:
        result = cli(verb, "../x")
        assert result.exit_code == ExitCode.USAGE, result.output
        assert "not a run id" in result.output and "unexpected error" not in result.output
        assert "planted" not in result.output
        assert victim.poll() is None, "cancel signalled a process group named outside the runs folder"
    finally:
        victim.kill()
        victim.wait()
