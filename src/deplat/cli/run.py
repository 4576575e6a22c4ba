"""`deplat run`: Run a named pipeline on EMR Serverless or local Spark"""

from __future__ import annotations

from deplat.cli._common import not_built

NAME = "run"


def command() -> None:
    """Run a named pipeline on EMR Serverless or local Spark (not built yet)."""
    not_built("run")
