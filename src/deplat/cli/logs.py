"""`deplat logs`: Show a job run's driver logs"""

from __future__ import annotations

from deplat.cli._common import not_built

NAME = "logs"


def command() -> None:
    """Show a job run's driver logs (not built yet)."""
    not_built("logs")
