"""`deplat optimize`: Delta OPTIMIZE / VACUUM with a retention floor"""

from __future__ import annotations

from deplat.cli._common import not_built

NAME = "optimize"


def command() -> None:
    """Delta OPTIMIZE / VACUUM with a retention floor (not built yet)."""
    not_built("optimize")
