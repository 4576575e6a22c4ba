"""The warm driver serves its owner only (issue 23 part 4): its socket sits in a private 0700 folder (it
was at a predictable path in the shared temp folder), a client of another uid is closed unserved, and
a request may only run a script from a run's deployed job package folder and write that run's logs.
No JVM: the request checks run before any Spark is touched."""

from __future__ import annotations

import json
import os
import socket
import stat
import tempfile
import threading
from pathlib import Path

import pytest

from deplat.local.standins.emr_serverless import runner, supervisor, warm_driver

RUN = "0123456789abcdef"


@pytest.fixture
def runs(tmp_path):
    """A runs folder with one run whose job script would leave a marker file if it ever ran."""
    root = tmp_path / "runs"
    code = root / RUN / "code"
    code.mkdir(parents=True)
    marker = tmp_path / "ran"
    (code / "job.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    evil = tmp_path / "evil.py"
    evil.write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    (root / "_warm" / "k" / "code").mkdir(parents=True)
    (root / "_warm" / "k" / "code" / "tool.py").write_text("")
    (code / "link.py").symlink_to(evil)
    return root


def _request(root: Path, entry, **over):
    return {"entry": str(entry), "args": [], "env": {}, "stdout": str(root / RUN / "stdout"),
            "stderr": str(root / RUN / "stderr"), **over}


def test_a_job_script_in_a_run_code_folder_is_accepted(runs):
    checked = warm_driver.check_request(_request(runs, runs / RUN / "code" / "job.py"), str(runs))
    assert checked["entry"] == os.path.realpath(runs / RUN / "code" / "job.py")


@pytest.mark.parametrize("where", ["evil", "dotdot", "symlink", "warm_code", "etc", "not_py", "stdout", "stderr",
                                   "run_root"])
def test_requests_outside_the_deployed_package_are_refused(runs, where):
    code = runs / RUN / "code"
    entries = {"evil": runs.parent / "evil.py", "dotdot": code / ".." / ".." / ".." / "evil.py",
               "symlink": code / "link.py", "warm_code": runs / "_warm" / "k" / "code" / "tool.py",
               "etc": "/etc/passwd", "not_py": code, "run_root": runs / RUN / "job.py"}
    request = _request(runs, entries.get(where, code / "job.py"))
    if where in ("stdout", "stderr"):
        request[where] = str(runs.parent / "elsewhere")
    with pytest.raises(ValueError):
        warm_driver.check_request(request, str(runs))


def _serve_once(sock_path: str, runs: Path) -> threading.Thread:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path)
    server.listen(1)

    def serve():
        conn, _ = server.accept()
        with conn:
            warm_driver._serve(conn, None, {}, str(runs))  # refused before Spark would be touched
        server.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def _send(sock_path: str, request: dict) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.connect(sock_path)
        try:  # a driver that refuses the peer may close before our request is even sent (EPIPE)
            client.sendall((json.dumps(request) + "\n").encode())
            client.shutdown(socket.SHUT_WR)
            return client.makefile("rb").read()
        except (BrokenPipeError, ConnectionResetError):  # closed with our request unread: no answer either
            return b""


def test_the_driver_refuses_a_script_outside_the_package_and_says_why(runs, tmp_path):
    sock = str(tmp_path / "d.sock")
    thread = _serve_once(sock, runs)
    reply = json.loads(_send(sock, _request(runs, runs.parent / "evil.py")))
    thread.join(5)
    assert reply["exit_code"] == 126 and "not a job script" in reply["error"]
    assert not (tmp_path / "ran").exists()


def test_the_driver_closes_a_client_of_another_uid_unserved(runs, tmp_path, monkeypatch):
    request = _request(runs, runs.parent / "evil.py")  # answered (refused, with a reason) for its owner
    thread = _serve_once(str(tmp_path / "own.sock"), runs)
    assert json.loads(_send(str(tmp_path / "own.sock"), request))["exit_code"] == 126
    thread.join(5)
    thread = _serve_once(str(tmp_path / "d.sock"), runs)
    monkeypatch.setattr(warm_driver.os, "getuid", lambda: os.geteuid() + 4242)  # we are "someone else"
    reply = _send(str(tmp_path / "d.sock"), request)
    thread.join(5)
    assert reply == b"" and not (tmp_path / "ran").exists()


def test_peer_uid_is_the_connecting_process_uid():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        assert warm_driver.peer_uid(a) == os.getuid()


def test_the_socket_folder_is_private(tmp_path):
    folder = supervisor.private_runtime_dir(str(tmp_path))
    info = os.lstat(folder)
    assert folder.parent == tmp_path and stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == os.getuid()
    assert supervisor.private_runtime_dir(str(tmp_path)) == folder  # the second call reuses it


@pytest.mark.parametrize("kind", ["open_mode", "symlink"])
def test_a_socket_folder_someone_else_could_reach_is_refused(tmp_path, kind):
    target = tmp_path / f"deplat-{os.getuid()}"
    if kind == "open_mode":
        target.mkdir()
        target.chmod(0o777)
    else:
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        target.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(supervisor.UnsafeRuntimeDirError, match="not a private folder"):
        supervisor.private_runtime_dir(str(tmp_path))


class _S3:
    def download_file(self, bucket, key, target):
        Path(target).write_text("print('job')")


class _Runtime(runner.Runtime):
    """The stand-in's runtime with its S3 and jar cache replaced: no moto, no Maven."""

    def folders(self, application_id, warm_idle_seconds):
        return supervisor.RunFolders(_S3(), self.runs_dir(application_id), jars=lambda: [],
                                      warm_idle_seconds=warm_idle_seconds)


def _prepare(tmp_path, name="fx_to_bronze", streaming=False, run_id="00000000000000aa"):
    """meta.json of a StartJobRun the stand-in prepared (its supervisor is not started)."""
    runtime = _Runtime(tmp_path / "standin", "http://127.0.0.1:1")
    driver = {"sparkSubmit": {"entryPoint": f"s3://b/jobs/{name}.py", "entryPointArguments": [],
                              "sparkSubmitParameters": "--py-files s3://b/pyfiles/job.zip"}}
    run_dir = runner.prepare_run(runtime, "app", run_id, driver, "s3://b/logs/", name, 60, 1, streaming=streaming)
    assert run_dir == tmp_path / "standin" / "applications" / "app" / "runs" / run_id
    return json.loads((run_dir / "meta.json").read_text())


def _submit(tmp_path, monkeypatch):
    return _prepare(tmp_path)


def test_the_engine_puts_the_socket_in_the_private_folder_and_names_the_runs_root(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "xdg"))
    (tmp_path / "xdg").mkdir(mode=0o700)
    warm = _submit(tmp_path, monkeypatch)["warm"]
    [slot] = warm["slots"]  # one warm driver slot (the stand-in gives one per pre-initialized DRIVER)
    sock = Path(slot["socket"])
    assert sock.parent == tmp_path / "xdg" / f"deplat-{os.getuid()}"
    assert stat.S_IMODE(os.lstat(sock.parent).st_mode) == 0o700
    assert sock.parent != Path(tempfile.gettempdir())
    assert slot["command"][-3:] == [str(sock), "60",
                                    str((tmp_path / "standin" / "applications" / "app" / "runs").resolve())]
    # and the request the supervisor will send passes the driver's own check
    Path(warm["request"]["entry"]).parent.mkdir(parents=True, exist_ok=True)
    assert warm_driver.check_request(warm["request"], slot["command"][-1])


def test_an_unsafe_socket_folder_turns_the_warm_driver_off_not_the_run(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    (tmp_path / f"deplat-{os.getuid()}").mkdir(mode=0o777)
    (tmp_path / f"deplat-{os.getuid()}").chmod(0o777)
    meta = _submit(tmp_path, monkeypatch)
    assert "warm" not in meta and "not a private folder" in meta["warm_refused"]


def test_a_streaming_run_gets_its_own_spark_submit_and_a_batch_run_a_warm_driver(tmp_path):
    """StartJobRun's mode: STREAMING (the kafka step) never takes a pre-initialized driver, which it
    would hold for as long as the stream runs while batch runs wait; BATCH runs are handed to one."""
    from deplat.registry import PIPELINES

    [stream_step] = PIPELINES["kafka"].steps
    assert stream_step.streaming
    batch = _prepare(tmp_path, "fx_to_bronze", streaming=False, run_id="00000000000000b1")
    stream = _prepare(tmp_path, stream_step.name, streaming=True, run_id="00000000000000b2")
    assert "warm" in batch and "warm" not in stream
    assert stream["command"][0].endswith("spark-submit") and stream_step.name + ".py" in " ".join(stream["command"])
