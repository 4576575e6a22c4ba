"""`deplat status`: Application state and recent runs"""

from __future__ import annotations

from deplat.cli._common import not_built

NAME = "status"


def command() -> None:
    """Application state and recent runs (not built yet)."""
    not_built("status")
