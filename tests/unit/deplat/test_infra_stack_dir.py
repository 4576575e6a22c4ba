"""Where state lives: each env's own state under DEPLAT_HOME (`<home>/<env>/`), the local stack's files
and the local envs' Terraform state under the stack's folder (DEPLAT_STACK_DIR, else `<home>/stack`),
so a second DEPLAT_HOME can share one running stack and its Terraform state."""

from __future__ import annotations

import pytest

from deplat.core.context import Context
from deplat.infra import Infra


def test_the_stack_folder_is_apart_from_the_local_envs_state(deplat_env):
    env = deplat_env()
    ctx = Context("local")
    assert ctx.state_dir == env.home / "local"
    assert ctx.stack_dir == env.home / "stack"
    infra = Infra(ctx)
    assert infra.state_file == env.home / "stack" / "infra" / "local" / "terraform.tfstate"
    assert infra.workdir.parent == infra.plan_file.parent == infra.var_file.parent == infra.home
    assert ctx.outputs_file == env.home / "local" / "outputs.json"  # the outputs stay the env's own


def test_a_second_home_shares_the_stack_and_its_terraform_state(deplat_env, monkeypatch, tmp_path):
    deplat_env()
    monkeypatch.setenv("DEPLAT_STACK_DIR", str(tmp_path / "shared"))
    ctx = Context("local")
    assert ctx.stack_dir == tmp_path / "shared"
    assert Infra(ctx).state_file == tmp_path / "shared" / "infra" / "local" / "terraform.tfstate"
    assert ctx.state_dir.parent != tmp_path / "shared"


def test_a_cloud_env_keeps_its_terraform_files_in_its_own_state_folder(deplat_env):
    env = deplat_env()
    infra = Infra(Context("dev"))
    assert infra.home == env.home / "dev" and infra.plan_file == env.home / "dev" / "plan.tfplan"


def test_the_old_local_state_is_adopted_once_and_never_over_a_newer_one(deplat_env):
    env = deplat_env()
    legacy = env.home / "local"
    legacy.mkdir(parents=True)
    for name in ("terraform.tfstate", "terraform.tfstate.backup", "terraform.tfstate.stale-20261201T000000"):
        (legacy / name).write_text(name)
    infra = Infra(Context("local"))
    assert infra.state_file.read_text() == "terraform.tfstate"
    assert sorted(p.name for p in infra.home.glob("terraform.tfstate*")) == [
        "terraform.tfstate", "terraform.tfstate.backup", "terraform.tfstate.stale-20261201T000000"]
    assert not list(legacy.glob("terraform.tfstate*"))
    (legacy / "terraform.tfstate").write_text("older")  # e.g. an older deplat run again
    assert Infra(Context("local")).state_file.read_text() == "terraform.tfstate"
    assert (legacy / "terraform.tfstate").read_text() == "older"


@pytest.mark.parametrize("pid_files", [True, False])
def test_local_commands_say_where_an_older_stacks_processes_are(deplat_env, pid_files):
    from deplat.cli.local import _stack
    from deplat.core.console import NullReporter

    env = deplat_env()
    legacy = env.home / "local"
    legacy.mkdir(parents=True)
    if pid_files:
        (legacy / "moto.pid").write_text("4242\n")
    reporter = NullReporter()
    stack = _stack(Context("local", reporter=reporter))
    assert stack.paths.root == env.home / "stack"
    warned = [m for m in reporter.messages if "older deplat" in m]
    assert bool(warned) == pid_files
    if pid_files:
        assert "kill 4242" in warned[0] and str(env.home / "stack") in warned[0]
