"""`deplat kafka`: Kafka topics and the streaming job."""

from __future__ import annotations

import typer

from deplat.cli._common import not_built

app = typer.Typer(no_args_is_help=True)


@app.command("topics")
def topics() -> None:
    """Create/list topics (not built yet)."""
    not_built("kafka topics")


@app.command("dlq")
def dlq() -> None:
    """Inspect and replay the dead-letter queue (not built yet)."""
    not_built("kafka dlq")
