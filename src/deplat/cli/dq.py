"""`deplat dq`: data-quality suites and gates."""

from __future__ import annotations

import typer

from deplat.cli._common import not_built

app = typer.Typer(no_args_is_help=True)


@app.command("check")
def check() -> None:
    """Run a table's DQ suite; a failed gate stops promotion (not built yet)."""
    not_built("dq check")


@app.command("list")
def list() -> None:
    """List the DQ suites (not built yet)."""
    not_built("dq list")
