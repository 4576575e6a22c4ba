"""The one error tree. Every error carries a hint (what to do) and an exit code.

Exit codes (README, DESIGN.md section 5):
0 ok · 1 unexpected · 2 usage/config · 3 infra (terraform) · 4 job run failed/cancelled ·
5 data quality failed · 6 data quality warnings with --fail-on warn · 7 refused for safety.
"""

from __future__ import annotations


class ExitCode:
    OK = 0
    UNEXPECTED = 1
    USAGE = 2
    INFRA = 3
    JOB_FAILED = 4
    DQ_FAILED = 5
    DQ_WARN = 6
    REFUSED = 7


class DeplatError(Exception):
    """Base of every error deplat reports to the user."""

    exit_code = ExitCode.UNEXPECTED

    def __init__(self, message: str, hint: str | None = None, detail: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


class ConfigError(DeplatError):
    exit_code = ExitCode.USAGE


class ApplicationNotFoundError(ConfigError):
    """The environment's EMR Serverless application does not exist (GetApplication's
    ResourceNotFoundException: deleted, or a local moto restarted since `infra apply`)."""


class NotBuiltError(DeplatError):
    """A command whose implementation has not landed yet; never pretend it worked."""

    exit_code = ExitCode.USAGE


class InfraError(DeplatError):
    exit_code = ExitCode.INFRA


class EndpointUnreachableError(InfraError):
    """An AWS endpoint (moto locally, AWS in the cloud) did not answer after a short bounded retry."""


class JobFailedError(DeplatError):
    exit_code = ExitCode.JOB_FAILED


class DataQualityError(DeplatError):
    exit_code = ExitCode.DQ_FAILED


class DataQualityWarning(DeplatError):
    exit_code = ExitCode.DQ_WARN


class SafetyError(DeplatError):
    exit_code = ExitCode.REFUSED


class LocalStackError(DeplatError):
    """A local service failed to start or is not healthy: the local counterpart of an AWS endpoint
    that does not answer, so an infrastructure error (exit 3) like EndpointUnreachableError."""

    exit_code = ExitCode.INFRA
