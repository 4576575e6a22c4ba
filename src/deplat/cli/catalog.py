"""`deplat catalog`: Glue catalog registration."""

from __future__ import annotations

import typer

from deplat.cli._common import not_built

app = typer.Typer(no_args_is_help=True)


@app.command("register")
def register() -> None:
    """Register a layer's Delta tables in Glue (not built yet)."""
    not_built("catalog register")
