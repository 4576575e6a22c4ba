"""The local warm driver: one long-lived Spark driver that runs batch job scripts one after another.

The local counterpart of an EMR Serverless application's pre-initialized capacity: a fresh
spark-submit spends most of a small job's time starting the JVM, loading Spark's and Delta's
classes and compiling them; a driver that stays up pays that once for a whole `deplat run all`.
The local engine's supervisor hands each run to it over a Unix socket (one JSON line in, one out):

    request:  {"entry": ".../code/<step>.py", "args": [...], "env": {...},
               "stdout": ".../stdout", "stderr": ".../stderr"}
    response: {"exit_code": 0}

Each run gets its own argv, environment, stdout and stderr files (file descriptors 1 and 2 are
pointed at them, so the run's driver log holds its prints, metrics and traceback), and leaves no
state behind: temporary views, runtime SQL settings, cached data and Delta's log cache are reset
after it. When the supervisor goes away mid-run (cancel, kill) the whole driver exits, so a run
never goes on unobserved. After `idle_seconds` without a run it stops.

Only its owner may use it: the socket lives in a private (0700) folder of the user's (see
private_runtime_dir), a client whose SO_PEERCRED uid is not this process's is closed unserved, and a
request runs only a script inside a run's deployed job package folder (`<runs>/<run-id>/code/`)
and writes only that run's `stdout`/`stderr` (check_request).

Runs as a script under spark-submit on the job's Python (3.9 on EMR's image): standard library
and the job package only. Usage: warm_driver.py <socket path> <idle seconds> <runs folder>.
"""

from __future__ import annotations

import json
import os
import re
import runpy
import socket
import struct
import sys
import threading
import traceback

READY_FILE = "ready"
# The EMR Serverless stand-in's job run ids (moto's, 16 of [0-9a-z]): the only run folders a request
# may name
RUN_DIR_NAME = re.compile(r"[0-9a-z]{16}")
_BROKEN = threading.Event()  # a run left the session in a state this driver could not reset


def main(argv: list[str]) -> int:
    sock_path, idle_seconds, runs_root = argv[0], float(argv[1]), argv[2]
    from deplat_job.pipelines.session import get_spark

    spark = get_spark("deplat-warm-driver")
    baseline = _settings(spark)
    # A job's `spark.stop()` ends its use of the session, not this driver (EMR's drivers end with
    # the job; this one outlives it).
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    # monkeypatching pyspark's methods, which mypy does not allow (nor one lambda for both classes)
    SparkSession.stop = SparkContext.stop = lambda self: None  # type: ignore[method-assign,assignment]
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # the socket file itself 0600, whatever folder it is in
    try:
        server.bind(sock_path)
    finally:
        os.umask(old_umask)
    server.listen(4)
    server.settimeout(idle_seconds)
    with open(READY_FILE, "w") as fh:  # cwd is the warm driver's folder
        fh.write(str(os.getpid()))
    try:
        while True:
            try:
                conn, _ = server.accept()
            except socket.timeout:
                # Idle: take no new clients, but serve one that connected just before the deadline.
                for path in (READY_FILE, sock_path):
                    os.unlink(path)
                server.setblocking(False)
                try:
                    conn, _ = server.accept()
                except OSError:
                    return 0
                with conn:
                    _serve(conn, spark, baseline, runs_root)
                return 0
            with conn:
                _serve(conn, spark, baseline, runs_root)
            if _BROKEN.is_set() or spark.sparkContext._jsc.sc().isStopped():
                return 0
    finally:
        server.close()
        for path in (sock_path, READY_FILE):
            if os.path.exists(path):
                os.unlink(path)


def _serve(conn: socket.socket, spark, baseline: dict[str, str], runs_root: str) -> None:
    uid = peer_uid(conn)
    if uid is not None and uid != os.getuid():
        print(f"warm driver: refused a client of uid {uid}", file=sys.stderr, flush=True)
        return
    conn.settimeout(None)
    line = conn.makefile("rb").readline()
    if not line.strip():
        return  # a readiness probe
    try:
        request = check_request(json.loads(line), runs_root)
    except ValueError as exc:
        print(f"warm driver: refused a request: {exc}", file=sys.stderr, flush=True)
        conn.sendall((json.dumps({"exit_code": 126, "error": str(exc)}) + "\n").encode())
        return
    done = threading.Event()

    def watch() -> None:
        # The supervisor closes its end only after the response, unless it was cancelled or killed.
        try:
            conn.recv(1)
        except OSError:
            pass
        if not done.is_set():
            os._exit(3)

    threading.Thread(target=watch, daemon=True).start()
    code = run_job(request, spark, baseline)
    done.set()
    conn.sendall((json.dumps({"exit_code": code}) + "\n").encode())


def peer_uid(conn: socket.socket) -> int | None:
    """The uid of the process at the other end of a Unix socket (Linux SO_PEERCRED: pid, uid, gid as
    three C ints, see unix(7)); None where the platform has no SO_PEERCRED (the 0700 folder still holds)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    _pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i")))
    return uid


def check_request(request: dict, runs_root: str) -> dict:
    """`request` if its script is a `.py` file in a run's deployed job package folder
    (`<runs_root>/<run-id>/code/`, symlinks resolved) and its stdout/stderr are that run's own files;
    ValueError naming what is wrong otherwise."""
    root = os.path.realpath(runs_root)
    entry = os.path.realpath(str(request.get("entry", "")))
    parts = os.path.relpath(entry, root).split(os.sep)
    if (len(parts) != 3 or not RUN_DIR_NAME.fullmatch(parts[0]) or parts[1] != "code"
            or not parts[2].endswith(".py") or not os.path.isfile(entry)):
        raise ValueError(f"{request.get('entry')!r} is not a job script in a run's code folder under {root}")
    run_dir = os.path.join(root, parts[0])
    for key in ("stdout", "stderr"):
        if os.path.realpath(str(request.get(key, ""))) != os.path.join(run_dir, key):
            raise ValueError(f"{key} {request.get(key)!r} is not {os.path.join(run_dir, key)}")
    if not isinstance(request.get("args", []), list) or not isinstance(request.get("env") or {}, dict):
        raise ValueError("args must be a list and env a mapping")
    return {**request, "entry": entry}


def run_job(request: dict, spark, baseline: dict[str, str]) -> int:
    """Run one job script in this interpreter as `python <entry> <args>` would; its exit code."""
    entry = os.path.abspath(request["entry"])
    saved_env, saved_argv, saved_path = dict(os.environ), sys.argv, list(sys.path)
    os.environ.update(request.get("env") or {})
    sys.argv = [entry, *request.get("args", [])]
    sys.path.insert(0, os.path.dirname(entry))
    sys.stdout.flush()
    sys.stderr.flush()
    saved_fds = os.dup(1), os.dup(2)
    for fd, key in ((1, "stdout"), (2, "stderr")):
        target = os.open(request[key], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(target, fd)
        os.close(target)
    try:
        runpy.run_path(entry, run_name="__main__")
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc)
    except BaseException:
        kind, value, tb = sys.exc_info()
        while tb is not None and tb.tb_frame.f_code.co_filename != entry:
            tb = tb.tb_next  # drop this module's and runpy's frames
        traceback.print_exception(kind, value, tb)
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, saved in zip((1, 2), saved_fds):  # noqa: B905 - strict= is 3.10+
            os.dup2(saved, fd)
            os.close(saved)
        os.environ.clear()
        os.environ.update(saved_env)
        sys.argv, sys.path[:] = saved_argv, saved_path
        try:
            _reset(spark, baseline)
        except Exception:  # noqa: BLE001 - the run's result stands; the next run gets a new driver
            traceback.print_exc()
            _BROKEN.set()
    return code


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def _settings(spark) -> dict[str, str]:
    return {row[0]: row[1] for row in spark.sql("SET").collect()}


def _reset(spark, baseline: dict[str, str]) -> None:
    """Leave the session as the next run expects a fresh one: no temporary views, cached data,
    changed runtime settings or cached Delta logs (a table may be rewritten by another process)."""
    if spark.sparkContext._jsc.sc().isStopped():
        return
    for table in spark.catalog.listTables():
        if table.isTemporary:
            spark.catalog.dropTempView(table.name)
    spark.catalog.clearCache()
    for key, value in _settings(spark).items():
        try:
            if key not in baseline:
                spark.conf.unset(key)
            elif baseline[key] != value:
                spark.conf.set(key, baseline[key])
        except Exception:  # noqa: BLE001 - a static setting cannot change anyway
            pass
    spark._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
