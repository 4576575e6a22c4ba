"""Start, stop and inspect the local services: pid and log files under .deplat/stack/ (Settings.stack_dir).

Idempotent: `up` on a healthy service is a no-op; `down` stops only processes this stack started
(the pid file records the command line, so a recycled pid is never killed).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from deplat.core.config import LocalStackSettings
from deplat.local.services import SERVICES, Paths, Service, port_open
from deplat_job.errors import ConfigError, LocalStackError, SafetyError


@dataclass
class ServiceStatus:
    name: str
    state: str  # running | stopped | external | unhealthy
    healthy: bool
    pid: int | None
    port: int
    log: str
    description: str
    action: str = ""
    # moto only: its EMR Serverless stand-in (deplat.local.standins.emr_serverless.describe)
    emr_serverless_standin: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def legacy_pids_warning(legacy_dir: Path, stack_dir: Path) -> str | None:
    """What to say when services started by a deplat before the stack folder split (pid files in
    `legacy_dir`, the old `.deplat/local/`) may still run while `stack_dir` has none: their pids and how
    to stop them. None when there is nothing to say. Nothing is stopped here: those pid files predate
    this stack, whose `down` only stops what it started."""
    legacy = sorted(legacy_dir.glob("*.pid"))
    if not legacy or any(stack_dir.glob("*.pid")):
        return None
    pids = " ".join(p.read_text().strip() for p in legacy)
    return (f"services started by an older deplat keep their pid files in {legacy_dir} "
            f"(the stack's folder is now {stack_dir}): `kill {pids}` stops them, then "
            "`deplat local up` starts the stack in its new folder")


class LocalStack:
    def __init__(self, root: Path, settings: LocalStackSettings, services: dict[str, Service] | None = None):
        self.paths = Paths(root)
        self.settings = settings
        self.services = SERVICES if services is None else services

    def _select(self, names: list[str] | None) -> list[Service]:
        if not names:
            return list(self.services.values())
        unknown = [n for n in names if n not in self.services]
        if unknown:
            raise ConfigError(f"unknown local service(s): {', '.join(unknown)}",
                              f"choose from: {', '.join(self.services)}")
        return [self.services[n] for n in names]

    def _owned_pid(self, svc: Service) -> int | None:
        """The pid this stack started for `svc`, if that process is still the one we started."""
        pid_file = self.paths.pid(svc.name)
        if not pid_file.is_file():
            return None
        try:
            record = json.loads(pid_file.read_text())
        except ValueError:
            return None
        pid = int(record["pid"])
        if _cmdline(pid)[: len(record["cmd"])] == record["cmd"]:
            return pid
        pid_file.unlink(missing_ok=True)  # stale: the process is gone or the pid was reused
        return None

    def status(self, names: list[str] | None = None) -> list[ServiceStatus]:
        out = []
        for svc in self._select(names):
            pid = self._owned_pid(svc)
            healthy = svc.healthy(self.paths, self.settings)
            if pid:
                state = "running" if healthy else "unhealthy"
            else:
                state = "external" if healthy else "stopped"
            status = ServiceStatus(svc.name, state, healthy, pid, svc.port(self.settings),
                                   str(self.paths.log(svc.name)), svc.description)
            if svc.name == "moto":
                from deplat.local.standins.emr_serverless import describe

                status.emr_serverless_standin = describe(f"http://127.0.0.1:{status.port}")
            out.append(status)
        return out

    def up(self, names: list[str] | None = None, reporter=None) -> list[ServiceStatus]:
        self.paths.root.mkdir(parents=True, exist_ok=True)
        results = []
        for svc in self._select(names):
            action = self._start(svc, reporter)
            [st] = self.status([svc.name])
            st.action = action
            results.append(st)
        return results

    def _start(self, svc: Service, reporter=None) -> str:
        if svc.healthy(self.paths, self.settings):
            return "already running"
        port = svc.port(self.settings)
        if self._owned_pid(svc) is None and port_open(port):
            raise LocalStackError(
                f"port {port} for '{svc.name}' is taken by a process deplat did not start",
                f"stop it, or set local_stack.{svc.name}_port in config/deplat.yaml",
            )
        if svc.prepare:
            svc.prepare(self.paths, self.settings)
        cmd = svc.command(self.paths, self.settings)
        log_path = self.paths.log(svc.name)
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(  # noqa: S603 - commands come from the declarations above
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, cwd=self.paths.root, env={**os.environ, **svc.env},
            )
        self.paths.pid(svc.name).write_text(json.dumps({"pid": proc.pid, "cmd": cmd}))
        deadline = time.monotonic() + svc.start_timeout
        while time.monotonic() < deadline:
            if svc.healthy(self.paths, self.settings):
                return "started"
            if proc.poll() is not None:
                break
            time.sleep(0.2)
        self._stop(svc)
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
        raise LocalStackError(f"local service '{svc.name}' did not become healthy",
                              f"see {log_path}", detail=tail)

    def live_runs(self) -> list[str]:
        """The EMR Serverless stand-in's job runs still going (its run folders, one folder per
        application, under this stack's folder)."""
        from deplat.local.standins.emr_serverless.supervisor import live_run_ids

        live = []
        for runs in self._standin_runs_dirs():
            live += live_run_ids(runs)
        return live

    def _standin_runs_dirs(self) -> list[Path]:
        from deplat.local.services import EMR_STANDIN_DIR

        return sorted((self.paths.root / EMR_STANDIN_DIR / "applications").glob("*/runs"))

    def down(self, names: list[str] | None = None, confirmed: bool = False) -> list[ServiceStatus]:
        """Stop the selected services this stack started. With a local run still going, refuse
        (exit 7) unless `confirmed`: the run would lose moto (its log upload) and its sources."""
        live = self.live_runs()
        if live and not confirmed:
            raise SafetyError(f"{len(live)} local run(s) still going: {', '.join(live)}",
                              "cancel them (`deplat cancel <run-id>`) or wait, or pass --yes to stop "
                              "the stack anyway (those runs will then fail)")
        if not names:  # the whole stack: the stand-in's idle warm Spark drivers go with it
            from deplat.local.standins.emr_serverless.supervisor import stop_warm_drivers

            for runs in self._standin_runs_dirs():
                stop_warm_drivers(runs)
        results = []
        for svc in reversed(self._select(names)):
            action = self._stop(svc)
            [st] = self.status([svc.name])
            st.action = action
            results.append(st)
        return list(reversed(results))

    def _stop(self, svc: Service, timeout: float = 20.0) -> str:
        pid = self._owned_pid(svc)
        if pid is None:
            return "not started by deplat"
        try:
            os.killpg(pid, svc.stop_signal)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive_group(pid):
            time.sleep(0.1)
        if _alive_group(pid):
            os.killpg(pid, signal.SIGKILL)
        _reap(pid)
        self.paths.pid(svc.name).unlink(missing_ok=True)
        return "stopped"


def _alive_group(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie leader still counts as "in the group"; look for live members.
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
