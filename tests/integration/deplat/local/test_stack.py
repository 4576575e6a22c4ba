"""The local stack manager against real processes, on its own ports and state dir."""

import json
import os
import socket

import pytest
from typer.testing import CliRunner

from deplat.cli import app
from deplat.core.config import LocalStackSettings
from deplat.local.services import port_open
from deplat.local.stack import LocalStack

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def private_stack():
    """A stack in its own state folder under /tmp: pytest's tmp_path sits below a 0700 folder the
    `postgres` user cannot traverse, and deplat never changes permissions outside its state folder."""
    import shutil
    import tempfile
    from pathlib import Path

    state = Path(tempfile.mkdtemp(prefix="deplat-stack-"))
    settings = LocalStackSettings(moto_port=_free_port(), postgres_port=_free_port(),
                                  snowflake_port=_free_port(), salesforce_port=_free_port(),
                                  kafka_port=_free_port(), kafka_controller_port=_free_port())
    stack = LocalStack(state / "local", settings)
    yield stack
    stack.down()
    shutil.rmtree(state, ignore_errors=True)


def test_up_is_idempotent_and_down_leaves_nothing(private_stack):
    first = private_stack.up()
    assert {s.name for s in first} == {"moto", "postgres", "snowflake", "salesforce", "kafka"}
    assert all(s.action == "started" for s in first)
    assert all(s.healthy and s.state == "running" for s in first)
    pids = {s.name: s.pid for s in first}

    second = private_stack.up()
    assert all(s.action == "already running" for s in second)
    assert {s.name: s.pid for s in second} == pids

    down = private_stack.down()
    assert all(s.state == "stopped" for s in down)
    for pid in pids.values():
        assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    for svc in private_stack.services.values():
        assert not port_open(svc.port(private_stack.settings)), svc.name


def test_down_never_stops_what_it_did_not_start(private_stack):
    """A stranger serving moto's port, even one whose pid a stale pid file names (a recycled pid),
    survives `down`: only a process whose command line matches what deplat started is stopped."""
    import subprocess
    import sys

    port = private_stack.settings.moto_port
    stranger = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        private_stack.paths.root.mkdir(parents=True, exist_ok=True)
        recorded = [sys.executable, "-m", "deplat.local.standins.moto_launcher", str(port)]
        private_stack.paths.pid("moto").write_text(json.dumps({"pid": stranger.pid, "cmd": recorded}))
        [moto] = private_stack.down(["moto"])
        assert moto.action == "not started by deplat"
        assert stranger.poll() is None, "down stopped a process it did not start"
    finally:
        stranger.kill()
        stranger.wait()


def test_port_taken_by_a_stranger_is_a_clear_error(tmp_path):
    from deplat_job.errors import LocalStackError

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        stack = LocalStack(tmp_path / "local", LocalStackSettings(moto_port=port))
        with pytest.raises(LocalStackError, match=f"port {port} .* taken by a process deplat did not start"):
            stack.up(["moto"])
    assert not (tmp_path / "local" / "moto.pid").exists()


def test_cli_status_json_reports_every_service_healthy(local_stack):
    result = CliRunner().invoke(app, ["local", "status", "-o", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert {s["name"] for s in doc} == {"moto", "postgres", "snowflake", "salesforce", "kafka"}
    assert all(s["healthy"] for s in doc)
    standin = next(s for s in doc if s["name"] == "moto")["emr_serverless_standin"]  # moto always serves it
    assert standin["serving"] and standin["root"].endswith("emr-serverless")


def test_doctor_passes_on_the_local_env(local_stack):
    result = CliRunner().invoke(app, ["doctor", "-o", "json"])
    doc = json.loads(result.stdout)
    failed = [c for c in doc["checks"] if c["required"] and not c["ok"]]
    assert result.exit_code == 0 and not failed, failed
    assert any(c["name"] == "aws credentials" and "123456789012" in c["detail"] for c in doc["checks"])
