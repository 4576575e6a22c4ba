"""`deplat airflow render`: the platform's Airflow (MWAA) DAG from the registry and the deployed manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from deplat.cli._common import OutputOpt, context, emit

app = typer.Typer(no_args_is_help=True)


@app.command("render")
def render(
    tctx: typer.Context,
    out: Annotated[Path | None, typer.Option("--out", help="Write the DAG file here (default: stdout).")] = None,
    upload: Annotated[bool, typer.Option("--upload", help="Also put it and requirements.txt under the "
                                         "artifacts bucket's airflow/ prefix (what MWAA reads).")] = False,
    output: OutputOpt = None,
) -> None:
    """Render the DAG: one EMR Serverless task per step of `deplat run all` with exactly its request, the DQ
    gate's verdict before gold, a clientToken per (DAG, task, logical date, manifest); daily, no catch-up."""
    from deplat.airflow_dag import dag_spec
    from deplat.airflow_dag import render as render_dag
    from deplat.airflow_dag import upload as upload_dag

    ctx = context(tctx, output)
    spec = dag_spec(ctx)
    source = render_dag(spec)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(source)
    uploaded = upload_dag(ctx, spec, source) if upload else []
    if ctx.output_format == "json":
        emit(ctx, {**spec.to_dict(), "file": str(out) if out else None, "uploaded": uploaded})
    elif out is None and not upload:
        typer.echo(source, nl=False)
    else:
        for where in ([str(out)] if out else []) + uploaded:
            typer.echo(f"wrote {where}")
        typer.echo(f"{len(spec.tasks)} job tasks for manifest {spec.manifest_hash[:12]} ({spec.env})")
