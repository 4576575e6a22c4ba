"""`deplat query`: Run SQL over the lake (DuckDB locally, Athena in the cloud)"""

from __future__ import annotations

from deplat.cli._common import not_built

NAME = "query"


def command() -> None:
    """Run SQL over the lake (DuckDB locally, Athena in the cloud) (not built yet)."""
    not_built("query")
