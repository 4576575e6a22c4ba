"""`deplat lf`: Lake Formation tags."""

from __future__ import annotations

import typer

from deplat.cli._common import not_built

app = typer.Typer(no_args_is_help=True)


@app.command("seed")
def seed() -> None:
    """Create LF-tags and grant them to roles (not built yet)."""
    not_built("lf seed")
