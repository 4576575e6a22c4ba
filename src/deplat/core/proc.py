"""The one way deplat runs a short-lived command: a timeout, captured output, a typed error.

Everything except Terraform (terraform.py streams its -json output) and the detached processes
that outlive the call (local services, local Spark supervisors: their output goes to log files)
goes through `run()`.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from deplat_job.errors import DeplatError, ExitCode

DETAIL_CHARS = 4000


class ProcessError(DeplatError):
    """A command failed to start, exited non-zero or ran out of time; `detail` is its stderr tail."""

    exit_code = ExitCode.UNEXPECTED

    def __init__(self, message: str, hint: str | None = None, detail: str | None = None, *,
                 cmd: Sequence[str] = (), returncode: int | None = None, stderr: str = ""):
        super().__init__(message, hint, detail)
        self.cmd = list(cmd)
        self.returncode = returncode
        self.stderr = stderr


class ProcessTimeoutError(ProcessError):
    """The command was killed after its timeout."""


def run(
    cmd: Sequence[str],
    *,
    timeout: float,
    what: str | None = None,
    hint: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    check: bool = True,
    error: type[ProcessError] = ProcessError,
) -> subprocess.CompletedProcess[str]:
    """Run `cmd` (argv, no shell) to completion within `timeout` seconds, output captured as text.

    `env` is added to the current environment. Raises `error` (a ProcessError subclass) when the
    program is missing, ProcessTimeoutError after the timeout, and `error` on a non-zero exit
    when `check`; the message names `what` (default: the program) and the exit status.
    """
    label = what or Path(cmd[0]).name
    try:
        proc = subprocess.run(  # noqa: S603 - argv lists built by deplat, never a shell
            list(cmd), capture_output=True, text=True, timeout=timeout, cwd=cwd,
            env={**os.environ, **env} if env else None, stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise error(f"{label}: program {cmd[0]!r} not found", hint or "`deplat doctor` checks the toolchain",
                    cmd=cmd) from None
    except subprocess.TimeoutExpired as exc:
        stderr = _text(exc.stderr)
        raise ProcessTimeoutError(f"{label} did not finish within {timeout:.0f}s and was stopped",
                                  hint, _tail(stderr or _text(exc.stdout)) or None, cmd=cmd,
                                  stderr=stderr) from None
    if check and proc.returncode != 0:
        raise error(f"{label} failed ({_status(proc.returncode)})", hint,
                    _tail(proc.stderr or proc.stdout) or None, cmd=cmd, returncode=proc.returncode,
                    stderr=proc.stderr)
    return proc


def _status(code: int) -> str:
    if code < 0:
        import signal

        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit {code}"


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


def _tail(text: str) -> str:
    return text[-DETAIL_CHARS:].strip()
