"""`deplat promote --from A --to B`: deploy to B the manifest that last ran green in A (copied, not rebuilt)."""

from __future__ import annotations

from typing import Annotated

import typer

from deplat.cli._common import DryRunOpt, OutputOpt, YesOpt, context, emit, table

NAME = "promote"


def command(
    tctx: typer.Context,
    source: Annotated[str, typer.Option("--from", help="Environment whose green manifest is promoted.")],
    target: Annotated[str, typer.Option("--to", help="Environment that receives it.")],
    pipeline: Annotated[str, typer.Option(help="The run that must have been green in --from.")] = "all",
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    output: OutputOpt = None,
) -> None:
    """Copy exactly the manifest whose last `deplat run <pipeline>` in --from was green (every step
    SUCCESS, every DQ gate passed) to --to; exit 7 naming the failed step or gate, or without --yes."""
    from deplat.core.context import Context
    from deplat.promote import promote

    ctx = context(tctx, output)
    src, dst = (Context(env_name=name, settings=ctx.settings, reporter=ctx.reporter, output=ctx.output_format)
                for name in (source, target))
    result = promote(src, dst, pipeline=pipeline, dry_run=dry_run, yes=yes)

    def render() -> None:
        verb = "would copy" if dry_run else "copied"
        table(f"promote {result.manifest_hash[:12]} {result.source_env} -> {result.target_env} "
              f"(green batch {result.batch_id})", ["file", "action", "bytes"],
              [[f["name"], verb, f["size"]] for f in result.copied]
              + [[f["name"], "already there", f["size"]] for f in result.present])
        if result.previous_hash == result.manifest_hash:
            typer.echo(f"{result.target_env} already runs manifest {result.manifest_hash[:12]}: nothing to do")
        elif result.promoted:
            typer.echo(f"{result.target_env} now runs manifest {result.manifest_hash[:12]} "
                       f"(was {(result.previous_hash or 'none')[:12]}); {len(result.copied)} objects, "
                       f"{result.copied_bytes} bytes copied")

    emit(ctx, result.to_dict(), render)
