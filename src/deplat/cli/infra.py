"""`deplat infra init|plan|apply|output|destroy|validate`: the platform's Terraform."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from deplat.cli._common import DryRunOpt, OutputOpt, YesOpt, context, emit, table

if TYPE_CHECKING:
    from deplat.core.context import Context

app = typer.Typer(no_args_is_help=True)


def _infra(ctx: Context):
    from deplat.infra import Infra

    return Infra(ctx)


def _can_ask(ctx: Context) -> bool:
    """A prompt needs a person: a terminal on stdin and text output."""
    return ctx.output_format == "text" and sys.stdin.isatty()


def _summary_text(summary) -> None:
    if not summary.has_changes:
        typer.echo("No changes: the infrastructure matches the configuration.")
        return
    rows = [[rtype, c["add"], c["change"], c["destroy"], c["imported"]]
            for rtype, c in summary.by_type().items()]
    table("destroy plan" if summary.destroy else "plan",
          ["resource type", "add", "change", "destroy", "import"], rows)
    n = summary.counts
    line = f"Plan: {n['add']} to add, {n['change']} to change, {n['destroy']} to destroy"
    typer.echo(line + (f", {n['imported']} to import." if n["imported"] else "."))


def _outputs_text(outputs: dict[str, Any]) -> None:
    rows = []
    for name, value in sorted(outputs.items()):
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in sorted(value.items()))
        elif isinstance(value, list):
            value = ", ".join(map(str, value))
        rows.append([name, value])
    table("outputs", ["name", "value"], rows)


@app.command()
def init(
    tctx: typer.Context,
    upgrade: Annotated[bool, typer.Option(help="Pick newer provider versions (within constraints).")] = False,
    reconfigure: Annotated[bool, typer.Option(help="Re-read the backend configuration.")] = False,
    output: OutputOpt = None,
) -> None:
    """Prepare the environment's working directory (providers, modules, state backend)."""
    ctx = context(tctx, output)
    result = _infra(ctx).init(upgrade=upgrade, reconfigure=reconfigure)
    emit(ctx, result.to_dict(), lambda: typer.echo(
        f"{result.environment}: initialised ({'ran init' if result.initialized else 'up to date'}); "
        f"state: {result.backend}"))


@app.command()
def plan(tctx: typer.Context, output: OutputOpt = None) -> None:
    """Show what apply would change (per resource type) and save the plan in the env's Terraform folder
    (.deplat/<env>/; for local, .deplat/stack/infra/local/)."""
    ctx = context(tctx, output)
    result = _infra(ctx).plan()

    def text() -> None:
        _summary_text(result.summary)
        if result.summary.has_changes:
            typer.echo(f"Saved the plan to {result.plan_file}; `deplat infra apply --plan` applies it.")

    emit(ctx, result.to_dict(), text)


@app.command()
def apply(
    tctx: typer.Context,
    yes: YesOpt = False,
    saved: Annotated[bool, typer.Option("--plan", help="Apply the plan saved by `infra plan`.")] = False,
    output: OutputOpt = None,
) -> None:
    """Plan, confirm (or --yes), apply that plan and cache the outputs in .deplat/<env>/outputs.json."""
    ctx = context(tctx, output)
    infra = _infra(ctx)
    planned = infra.saved_plan() if saved else infra.plan()
    if not yes and infra.needs_confirmation(planned) and ctx.output_format == "text":
        _summary_text(planned.summary)  # also when refusing off a terminal: say what --yes would apply
        if _can_ask(ctx):
            yes = typer.confirm(f"Apply these changes to '{ctx.env.name}'?", abort=True)
    result = infra.apply(planned, confirmed=yes)

    def text() -> None:
        if result.applied:
            _summary_text(result.summary)
            typer.echo(f"Applied in {result.seconds:.0f}s.")
        else:
            typer.echo("No changes: the infrastructure matches the configuration.")
        typer.echo(f"Outputs cached in {result.outputs_file}.")

    emit(ctx, result.to_dict(), text)


@app.command()
def output(tctx: typer.Context, output: OutputOpt = None) -> None:
    """Show the Terraform outputs (and refresh the .deplat/<env>/outputs.json cache)."""
    ctx = context(tctx, output)
    outputs = _infra(ctx).output()
    emit(ctx, outputs, lambda: _outputs_text(outputs))


@app.command()
def destroy(
    tctx: typer.Context,
    yes: YesOpt = False,
    force_prod: Annotated[bool, typer.Option("--force-prod", help="Allow a protected env.")] = False,
    dry_run: DryRunOpt = False,
    output: OutputOpt = None,
) -> None:
    """Destroy the environment's platform. KMS keys are kept (forgotten by Terraform, never deleted)."""
    ctx = context(tctx, output)
    if not (yes or dry_run) and _can_ask(ctx):
        yes = typer.confirm(f"Destroy the platform of '{ctx.env.name}'? (preview: --dry-run)",
                            default=False, abort=True)
    result = _infra(ctx).destroy(confirmed=yes, force_prod=force_prod, dry_run=dry_run)

    def text() -> None:
        _summary_text(result.summary)
        for arn in result.retained:
            typer.echo(f"Kept KMS key {arn} (enabled; no deletion scheduled). "
                       f"Data encrypted with it stays readable.")
        if not result.dry_run:
            typer.echo(f"Destroyed '{result.environment}' in {result.seconds:.0f}s.")

    emit(ctx, result.to_dict(), text)


@app.command()
def validate(tctx: typer.Context, output: OutputOpt = None) -> None:
    """terraform fmt -check and validate on the root module (no AWS calls)."""
    ctx = context(tctx, output)
    report = _infra(ctx).validate()
    emit(ctx, report, lambda: typer.echo(
        "Terraform configuration is valid and formatted." + "".join(f"\n{w}" for w in report["warnings"])))
