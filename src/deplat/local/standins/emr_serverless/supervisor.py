"""The EMR Serverless stand-in's job runner: a run folder per job run, a detached supervisor per
run (`python -m deplat.local.standins.emr_serverless.supervisor <run-dir>`, its own session: it
survives the moto server's restart and whoever started it), spark-submit local[N] with EMR's
contract (code fetched from the local S3, the job package and Delta's jar on --py-files, the
dependency archive on PYTHONPATH), the application's pre-initialized capacity as warm drivers
(warm_driver.py), driver logs uploaded to S3 in EMR's layout when the run ends.

Only the stand-in uses this module: runner.py prepares a run folder (RunFolders) and starts the
supervisor; backend.py reads the folder's state.json for GetJobRun. The CLI side never starts
spark-submit: it submits to the stand-in's EMR Serverless API through EmrServerlessEngine.

Run folder: meta.json (ref, command, env, warm), state.json (SUBMITTED, RUNNING, then SUCCESS |
FAILED | CANCELLED with exit_code, started_at, ended_at), stdout, stderr, supervisor.pid,
warm_driver.pid. Spark's PythonRunner merges the Python driver's stderr into the driver stdout;
a small bootstrap runs the job script with the Python stderr pointed at the driver stderr file
instead, so tracebacks land in stderr.gz next to the JVM's errors.
"""

from __future__ import annotations

import gzip
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from deplat.core.logs import driver_error, s3_location
from deplat.engines.base import TERMINAL_STATES, JobSpec, RunRef

if TYPE_CHECKING:
    from typing import TypeGuard

STATE_FILE = "state.json"
META_FILE = "meta.json"
BOOTSTRAP = "_deplat_driver.py"
SCRATCH_DIR = "scratch"  # SPARK_LOCAL_DIRS: spark-*/blockmgr-* folders, removed when the run ends
WARM_DIR = "_warm"  # runs/_warm/<key>/: a warm driver's code, log, pid and scratch
WARM_SCRIPT = "warm_driver.py"
WARM_START_TIMEOUT = 120.0  # seconds for a warm driver's JVM and SparkSession to come up
_BOOTSTRAP_CODE = '''"""deplat local driver bootstrap: the job's Python stderr goes to the stderr file."""
import os
import runpy
import sys
import traceback

job = os.path.abspath(sys.argv[1])
target = os.environ.get("DEPLAT_DRIVER_STDERR")
if target:
    os.dup2(os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644), 2)
sys.argv = sys.argv[1:]
sys.path.insert(0, os.path.dirname(job))
try:
    runpy.run_path(job, run_name="__main__")
except SystemExit:
    raise
except BaseException:
    kind, value, tb = sys.exc_info()
    while tb is not None and tb.tb_frame.f_code.co_filename != job:
        tb = tb.tb_next  # drop the bootstrap's and runpy's frames
    traceback.print_exception(kind, value, tb)
    sys.stderr.flush()
    sys.exit(1)
'''


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _alive(pid: int | None) -> TypeGuard[int]:  # True only for a (nonzero) int pid
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child (we spawned it and have not reaped it) has finished.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


class RunFolders:
    """An application's run folders (`runs_dir`, one per job run, `_warm/` for its warm drivers and
    `_archives/` for unpacked dependency archives) and how a run in them is set up: code fetched
    from the local S3, the warm driver slots it may use.

    s3: a boto3 S3 client on the local endpoint; env_vars: what every driver gets (the endpoint and
    the local credentials); master: Spark's master URL (local[N]); jars: the Spark jars' paths, or
    a callable resolving them; job_python: the interpreter of the EMR runtime stand-in (Python 3.9);
    warm_idle_seconds: how long an idle warm driver lives (0: every run its own spark-submit)."""

    def __init__(
        self,
        s3: Any,
        runs_dir: Path,
        *,
        env_vars: dict[str, str] | None = None,
        master: str = "local[2]",
        jars: Callable[[], list[str]] | None = None,
        job_python: str | None = None,
        warm_idle_seconds: float = 0,
    ):
        self._s3 = s3
        self.runs_dir = Path(runs_dir)
        self._env_vars = dict(env_vars or {})
        self._master = master
        self._jars = jars
        self.job_python = job_python or sys.executable
        self.warm_idle_seconds = warm_idle_seconds

    # --- helpers -----------------------------------------------------------------------------

    def _warm_spec(self, spec: JobSpec, python: str, jars: list[str], py_files: list[str],
                   deps: list[str], entry: Path, run_dir: Path, slots: int = 1) -> dict[str, Any]:
        """How the supervisor hands this run to a warm driver: per driver slot its folder, socket and
        spark-submit command (drivers per code, dependencies, jars and environment, so a run never
        meets modules or settings another deploy left), and the run's own request.

        `slots`: how many warm drivers of this code may be up at once (the stand-in's pre-initialized
        DRIVER workerCount); a run takes the first idle one, and runs cold when all are busy.
        -> {"slots": [{"dir", "socket", "command", "env"}, ...], "request": {...}}"""
        import hashlib

        digest = hashlib.sha256()
        # The driver script too: a folder set up by an older deplat keeps the driver it copied then.
        sources: list[str | Path] = [*py_files, Path(__file__).with_name(WARM_SCRIPT)]
        for path in sources:
            digest.update(Path(path).read_bytes())
        digest.update(json.dumps([python, self._master, jars, deps, sorted(self._env_vars.items()),
                                  str(self.runs_dir.resolve())]).encode())
        key = digest.hexdigest()[:16]
        request = {"entry": str(entry), "args": list(spec.args), "stdout": str(run_dir / "stdout"),
                   "stderr": str(run_dir / "stderr"),
                   "env": {**self._env_vars, "DEPLAT_SPARK_MASTER": self._master}}
        return {"slots": [self._warm_slot(key if i == 0 else f"{key}-{i}", python, jars, py_files, deps)
                          for i in range(max(1, slots))], "request": request}

    def _warm_slot(self, key: str, python: str, jars: list[str], py_files: list[str],
                   deps: list[str]) -> dict[str, Any]:
        """One warm driver's folder (its code copied once), socket, command and environment."""
        warm_dir = self.runs_dir / WARM_DIR / key
        code = warm_dir / "code"
        if not (code / WARM_SCRIPT).is_file():
            staging = warm_dir.with_name(f"{key}.{secrets.token_hex(4)}")
            (staging / "code").mkdir(parents=True)
            for path in py_files:
                shutil.copy2(path, staging / "code" / Path(path).name)
            shutil.copy2(Path(__file__).with_name(WARM_SCRIPT), staging / "code" / WARM_SCRIPT)
            try:
                os.replace(staging, warm_dir)
            except OSError:  # another run set it up first
                shutil.rmtree(staging, ignore_errors=True)
        socket_path = str(private_runtime_dir() / f"warm-{key}.sock")
        command = spark_submit_command(
            f"deplat-warm-driver-{key}", self._master, python, code / WARM_SCRIPT,
            [socket_path, str(self.warm_idle_seconds), str(self.runs_dir.resolve())], jars=jars,
            py_files=[*(str(code / Path(p).name) for p in py_files), *_delta_python_jar(jars)], deps=deps)
        env = {**self._env_vars, **job_python_env(python, deps), "DEPLAT_SPARK_MASTER": self._master,
               "DEPLAT_SPARK_WAREHOUSE": str(warm_dir / "warehouse"), "PYTHONUNBUFFERED": "1",
               "SPARK_LOCAL_DIRS": str(warm_dir / SCRATCH_DIR)}
        return {"dir": str(warm_dir), "socket": socket_path, "command": command, "env": env}

    def _unpacked(self, uri: str) -> Path:
        """A dependency archive unpacked once per content (its S3 key is content-addressed)."""
        import tarfile

        parsed = urlparse(uri)
        target = self.runs_dir / "_archives" / parsed.path.strip("/").replace("/", "_")
        if (target / ".ready").is_file():
            return target
        staging = target.with_name(target.name + f".{secrets.token_hex(4)}")
        archive = self._fetch(uri, staging)
        with tarfile.open(archive) as tar:
            tar.extractall(staging, filter="data")
        archive.unlink()
        (staging / ".ready").write_text(uri)
        try:
            os.replace(staging, target)
        except OSError:  # another run unpacked it first
            shutil.rmtree(staging, ignore_errors=True)
        return target

    def _fetch(self, uri: str, folder: Path) -> Path:
        parsed = urlparse(uri)
        if parsed.scheme != "s3":
            raise ValueError(f"expected an s3:// URI, got {uri}")
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / Path(parsed.path).name
        self._s3.download_file(parsed.netloc, parsed.path.lstrip("/"), str(target))
        return target


class UnsafeRuntimeDirError(Exception):
    """The per-user socket folder exists but is not private (another owner, a symlink, or group/other
    permissions): a warm driver's socket there could be reached or replaced by someone else."""


def private_runtime_dir(base: str | None = None) -> Path:
    """`<base>/deplat-<uid>/`, created 0700 if absent: where warm drivers' sockets live.

    `base` defaults to $XDG_RUNTIME_DIR (per-user, 0700 already) or the temp folder. A Unix socket path
    must fit in 108 bytes (unix(7)), which rules out the (deep) runs folder. An existing folder must be
    a real directory owned by this uid with no group/other bits, else UnsafeRuntimeDirError: someone
    who made it first could read or replace the sockets in it."""
    import stat

    root = Path(base or os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()) / f"deplat-{os.getuid()}"
    try:
        root.mkdir(mode=0o700)
    except FileExistsError:
        pass
    info = os.lstat(root)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise UnsafeRuntimeDirError(
            f"{root} is not a private folder of uid {os.getuid()} (owner {info.st_uid}, "
            f"mode {stat.filemode(info.st_mode)}): warm drivers are off; remove it to turn them back on")
    return root


def _supervisor_pid(run_dir: Path) -> int | None:
    return _read_pid(run_dir / "supervisor.pid")


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        return None


def live_run_ids(runs_dir: Path) -> list[str]:
    """Ids of the local runs under `runs_dir` whose supervisor is still at work."""
    live = []
    for state_file in sorted(Path(runs_dir).glob(f"*/{STATE_FILE}")):
        state = _read_json(state_file).get("state")
        run_dir = state_file.parent
        if state not in TERMINAL_STATES and _alive(_supervisor_pid(run_dir)):
            live.append(run_dir.name)
    return live


def spark_submit_command(name: str, master: str, python: str, script: Path, args: list[str], *,
                         jars: Sequence[str] = (), py_files: Sequence[str] = (), deps: Sequence[str] = ()) -> list[str]:
    """spark-submit the way EMR Serverless runs a job: the job package (a .zip, so executors get it
    too) and Delta's jar (it carries the `delta` Python package) on --py-files, the dependency
    archive's root on the executors' PYTHONPATH, driver and Python workers on `python`."""
    from pyspark.find_spark_home import _find_spark_home

    cmd = [str(Path(_find_spark_home()) / "bin" / "spark-submit"), "--master", master, "--name", name,
           "--conf", "spark.ui.enabled=false",
           "--conf", f"spark.pyspark.python={python}", "--conf", f"spark.pyspark.driver.python={python}"]
    if deps:
        cmd += ["--conf", f"spark.executorEnv.PYTHONPATH={os.pathsep.join(deps)}"]
    if jars:
        cmd += ["--jars", ",".join(jars)]
    if py_files:
        cmd += ["--py-files", ",".join(py_files)]
    return [*cmd, str(script), *args]


def job_python_env(python: str, deps: list[str]) -> dict[str, str]:
    """The environment of spark-submit for a job: its interpreter, and the dependency archive's root
    on PYTHONPATH (its sitecustomize appends the packages behind the interpreter's own)."""
    env = {"PYSPARK_PYTHON": python, "PYSPARK_DRIVER_PYTHON": python}
    if deps:
        env["PYTHONPATH"] = os.pathsep.join(deps)
    return env


def _delta_python_jar(jars: list[str]) -> list[str]:
    return [j for j in jars if Path(j).name.startswith(("io.delta_delta-spark", "delta-spark"))][:1]


# --- the supervisor (runs in its own process) -------------------------------------------------

def supervise(run_dir: Path) -> int:
    """Run the step's spark-submit, upload its driver logs, record the final state."""
    meta = _read_json(run_dir / META_FILE)
    ref = RunRef.from_dict(meta["ref"])
    cancelled = False

    def _on_term(signum, frame):
        nonlocal cancelled
        cancelled = True
        warm_pid = _read_pid(run_dir / "warm_driver.pid")
        if _alive(warm_pid):  # the run is inside a warm driver, outside this process group
            _stop_warm_driver(warm_pid)

    signal.signal(signal.SIGTERM, _on_term)
    started = _now()
    _write_json(run_dir / STATE_FILE, {"state": "RUNNING", "details": "", "started_at": started,
                                       "updated_at": started})
    code = _run_warm(run_dir, meta["warm"], lambda: cancelled) if meta.get("warm") else None
    if code is None and not cancelled:
        code = _run_cold(run_dir, meta)
    if code is None:  # cancelled before the run started
        code = -signal.SIGTERM
    # A killed JVM never runs its shutdown hooks: its spark-*/blockmgr-* folders are ours to remove.
    shutil.rmtree(run_dir / SCRATCH_DIR, ignore_errors=True)
    if cancelled:
        state, details = "CANCELLED", "cancelled by the operator"
    elif code == 0:
        state, details = "SUCCESS", ""
    else:
        state, details = "FAILED", _failure_details(run_dir, code)
    try:
        _upload_logs(run_dir, ref)
    except Exception as exc:  # noqa: BLE001 - the state must still be recorded
        details = (details + "; " if details else "") + f"driver log upload failed: {exc}"
    _write_json(run_dir / STATE_FILE, {"state": state, "details": details, "exit_code": code,
                                       "started_at": started, "ended_at": _now(), "updated_at": _now()})
    return 0


def _run_cold(run_dir: Path, meta: dict[str, Any]) -> int:
    """The run's own spark-submit; its exit code."""
    # Append mode: the driver bootstrap writes Python's stderr into the same file.
    with (run_dir / "stdout").open("wb") as out, (run_dir / "stderr").open("ab") as err:
        proc = subprocess.Popen(meta["command"], stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                cwd=run_dir, env={**os.environ, **meta["env"]})
        while True:
            try:
                return proc.wait()
            except InterruptedError:
                continue


def _run_warm(run_dir: Path, warm: dict[str, Any], cancelled: Callable[[], bool]) -> int | None:
    """Hand the run to the first idle warm driver of its slots (started here when none is up); the
    run's exit code, or None when every slot is busy with another run or its driver cannot start
    (the caller then runs it cold)."""
    import fcntl

    for slot in warm.get("slots") or [warm]:  # a meta.json written before slots: one driver
        busy = (Path(slot["dir"]) / "busy.lock").open("w")
        try:
            fcntl.flock(busy, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            busy.close()
            continue
        with busy:
            return _run_in_slot(run_dir, {**slot, "request": warm["request"]}, cancelled)
    return None


def _run_in_slot(run_dir: Path, warm: dict[str, Any], cancelled: Callable[[], bool]) -> int | None:
    """Hand the run to the warm driver of a slot whose busy lock the caller holds."""
    import socket

    warm_dir = Path(warm["dir"])
    for _attempt in range(2):  # a driver that stopped idle between the probe and the connect
        pid = _ensure_warm_driver(warm_dir, warm, cancelled)
        if pid is None:
            return None
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(warm["socket"])
            break
        except OSError:
            conn.close()
            _stop_warm_driver(pid)
    else:
        return None
    (run_dir / "warm_driver.pid").write_text(str(pid))
    (run_dir / "stdout").write_bytes(b"")
    try:
        conn.sendall((json.dumps(warm["request"]) + "\n").encode())
        reply = conn.makefile("rb").readline()
    except OSError:
        reply = b""
    finally:
        conn.close()
    if reply:
        answer = json.loads(reply)
        if answer.get("error"):  # refused by the driver: the run's own log says why
            with (run_dir / "stderr").open("a") as err:
                err.write(f"warm driver refused the run: {answer['error']}\n")
        return int(answer["exit_code"])
    # The driver died under the run (killed, out of memory, or cancelled by us).
    _stop_warm_driver(pid)
    return -signal.SIGTERM if cancelled() else -signal.SIGKILL


def _ensure_warm_driver(warm_dir: Path, warm: dict[str, Any], cancelled: Callable[[], bool]) -> int | None:
    """The pid of a warm driver answering on warm["socket"]; starts one if needed (None: it did not
    come up within WARM_START_TIMEOUT, its log says why)."""
    import socket

    pid_file, ready = warm_dir / "driver.pid", warm_dir / "ready"
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        pid = None
    if pid and _alive(pid) and ready.is_file():
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(warm["socket"])
            return pid
        except OSError:
            _stop_warm_driver(pid)
        finally:
            probe.close()
    ready.unlink(missing_ok=True)
    with (warm_dir / "driver.log").open("ab") as log:
        proc = subprocess.Popen(warm["command"], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=warm_dir, start_new_session=True,
                                env={**os.environ, **warm["env"]})
    pid_file.write_text(str(proc.pid))
    deadline = time.monotonic() + WARM_START_TIMEOUT
    while time.monotonic() < deadline and not cancelled():
        if ready.is_file():
            return proc.pid
        if proc.poll() is not None:
            return None
        time.sleep(0.2)
    _stop_warm_driver(proc.pid)
    return None


def _stop_warm_driver(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def stop_warm_drivers(runs_dir: Path) -> int:
    """Stop every warm driver under `runs_dir` (`deplat local down`); how many were running."""
    stopped = 0
    for pid_file in Path(runs_dir).glob(f"{WARM_DIR}/*/driver.pid"):
        pid = _read_pid(pid_file)
        if _alive(pid):
            _stop_warm_driver(pid)
            stopped += 1
        (pid_file.parent / "ready").unlink(missing_ok=True)
    return stopped


def _failure_details(run_dir: Path, code: int) -> str:

    text = {s: (run_dir / s).read_text(errors="replace") if (run_dir / s).is_file() else ""
            for s in ("stdout", "stderr")}
    if code < 0 or code - 128 in (signal.SIGKILL, signal.SIGTERM, signal.SIGSEGV):
        # The driver's last words after a kill are noise (Py4J "connection reset"). A shell or the
        # JVM reports a killed child as 128 + the signal number.
        return killed_by_signal(-code if code < 0 else code - 128)
    lines = [line for line in driver_error(text["stdout"], text["stderr"])[0].splitlines() if line.strip()]
    last = lines[-1].strip() if lines else ""
    who = "the job in the warm driver" if (run_dir / "warm_driver.pid").is_file() else "spark-submit"
    return f"{who} exited with code {code}" + (f": {last}" if last else "")


def killed_by_signal(number: int) -> str:
    """What a run killed by signal `number` reports, with the likely cause for the usual ones."""
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"signal {number}"
    causes: dict[int, str] = {
        signal.SIGKILL: "most likely out of memory (the kernel's OOM killer; see `dmesg`), or a `kill -9`",
        signal.SIGTERM: "stopped from outside deplat (shutdown or `kill`)",
        signal.SIGSEGV: "the JVM or a native library crashed",
    }
    cause = causes.get(number, "sent from outside deplat")
    return f"spark-submit was killed by {name} ({number}): {cause}"


def _upload_logs(run_dir: Path, ref: RunRef) -> None:
    import boto3

    from deplat.core.aws import client_config

    # The supervisor is a detached child: the engine handed it the env's endpoint and credentials
    # (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...) after the local safety guard had passed.
    s3 = boto3.client("s3", config=client_config())
    for stream in ("stdout", "stderr"):
        path = run_dir / stream
        data = path.read_bytes() if path.is_file() else b""
        bucket, key = s3_location(ref, stream)
        s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(data, mtime=0),
                      ContentType="application/gzip")


if __name__ == "__main__":
    sys.exit(supervise(Path(sys.argv[1])))
