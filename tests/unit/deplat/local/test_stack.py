"""deplat.local.stack without starting a service: what `deplat local ...` says about an older deplat's
services, whose pid files sit in the old `.deplat/local/` folder."""

from __future__ import annotations

from typer.testing import CliRunner

from deplat.cli import app
from deplat.local.stack import legacy_pids_warning


def test_pid_files_left_in_the_old_folder_are_named_with_how_to_stop_them(tmp_path):
    legacy, stack = tmp_path / "home" / "local", tmp_path / "home" / "stack"
    legacy.mkdir(parents=True)
    stack.mkdir()
    assert legacy_pids_warning(legacy, stack) is None
    (legacy / "moto.pid").write_text("4242\n")
    (legacy / "postgres.pid").write_text("4343\n")
    warning = legacy_pids_warning(legacy, stack)
    assert warning is not None and "`kill 4242 4343`" in warning and str(stack) in warning
    (stack / "moto.pid").write_text("5151\n")  # the new stack runs: the old files are history
    assert legacy_pids_warning(legacy, stack) is None


def test_deplat_local_status_warns_about_an_older_deplats_services(deplat_env, tmp_path, monkeypatch):
    env = deplat_env()
    monkeypatch.setenv("DEPLAT_STACK_DIR", str(tmp_path / "stack"))
    (env.home / "local").mkdir(parents=True)
    (env.home / "local" / "moto.pid").write_text("4242\n")
    result = CliRunner().invoke(app, ["local", "status", "moto"])
    assert "`kill 4242`" in " ".join(result.output.split())  # Rich wraps the warning
