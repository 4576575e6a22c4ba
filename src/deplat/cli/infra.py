"""`deplat infra`: Terraform for the platform."""

from __future__ import annotations

import typer

from deplat.cli._common import not_built

app = typer.Typer(no_args_is_help=True)


@app.command("init")
def init() -> None:
    """terraform init (not built yet)."""
    not_built("infra init")


@app.command("plan")
def plan() -> None:
    """terraform plan (not built yet)."""
    not_built("infra plan")


@app.command("apply")
def apply() -> None:
    """terraform apply (not built yet)."""
    not_built("infra apply")


@app.command("output")
def output() -> None:
    """Show Terraform outputs (not built yet)."""
    not_built("infra output")


@app.command("destroy")
def destroy() -> None:
    """terraform destroy (not built yet)."""
    not_built("infra destroy")
