"""`deplat dr`: disaster recovery."""

from __future__ import annotations

import typer

from deplat.cli._common import not_built

app = typer.Typer(no_args_is_help=True)


@app.command("reprocess")
def reprocess() -> None:
    """Rebuild partitions of a table from bronze (not built yet)."""
    not_built("dr reprocess")


@app.command("restore")
def restore() -> None:
    """Restore a table to an earlier Delta version (not built yet)."""
    not_built("dr restore")
