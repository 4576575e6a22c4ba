"""The deplat CLI root: global options, command groups, and the one error handler."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from typer.core import TyperGroup

from deplat import __version__
from deplat.cli._common import Output
from deplat_job.errors import DeplatError, ExitCode


class DeplatGroup(TyperGroup):
    """Turns every DeplatError into `Error: <what> — <what to do>` and its exit code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except DeplatError as exc:
            _report(ctx, exc.message, exc.hint, exc.detail, exc.exit_code)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("Interrupted.", err=True)
            raise typer.Exit(130) from None
        except BrokenPipeError:
            # The reader went away (`deplat ... | head`): not an error of ours. Click's main handles
            # EPIPE itself (a quiet exit 1, stdout pacified so the final flush cannot raise again).
            raise
        except Exception as exc:  # noqa: BLE001 - the last line of defence
            # Typer/click's own exits and usage errors carry their exit code: let them through.
            if hasattr(exc, "exit_code") or _state(ctx).get("debug"):
                raise
            _report(ctx, f"unexpected error: {type(exc).__name__}: {exc}",
                    "rerun with --debug for the traceback and report it", None, ExitCode.UNEXPECTED)
            raise typer.Exit(ExitCode.UNEXPECTED) from None


def _flags_shown_as_flags() -> None:
    """Typer 0.29 prints a type after every option, `--debug <bool>` included, which reads as if the
    flag took a value (and `--debug true` then fails with "No such command 'true'"). A flag takes
    none: show it bare."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich

    def display_type_rich(self, ctx):
        return None if self.is_flag else shown(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]  # Typer's own, patched


_flags_shown_as_flags()


def _state(ctx) -> dict:
    root = ctx.find_root()
    return root.obj if isinstance(root.obj, dict) else {}


def _report(ctx, message: str, hint: str | None, detail: str | None, code: int) -> None:
    import json

    state = _state(ctx)
    text = f"Error: {message}" + (f" — {hint}" if hint else "")
    typer.secho(text, err=True, fg="red")
    if detail:
        typer.echo(detail, err=True)
    if state.get("debug"):
        import traceback

        traceback.print_exc(file=sys.stderr)
    if state.get("output") == "json":
        sys.stdout.write(json.dumps({"error": message, "hint": hint, "exit_code": code}) + "\n")


app = typer.Typer(
    cls=DeplatGroup,
    name="deplat",
    help="Operate the lakehouse: infra, deploy, run, quality, catalog, governance, recovery.\n\n"
    "Every command is idempotent. The default environment is `local`: Terraform applied to a moto server, "
    "jobs run by its EMR Serverless stand-in (`deplat local up` starts them).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"deplat {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    env: Annotated[
        str | None,
        typer.Option("--env", "-e", envvar="DEPLAT_ENV", help="Environment from config/deplat.yaml.",
                     show_default="local"),
    ] = None,
    output: Annotated[
        Output, typer.Option("--output", "-o", envvar="DEPLAT_OUTPUT", help="text or json.")
    ] = Output.text,
    debug: Annotated[bool, typer.Option("--debug", help="Tracebacks on errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    ctx.obj = {"env": env, "output": output.value, "debug": debug}


def _register() -> None:
    from deplat.cli import (
        airflow,
        backfill,
        cancel,
        catalog,
        checklist,
        deploy,
        doctor,
        dq,
        dr,
        infra,
        kafka,
        lf,
        lineage,
        local,
        logs,
        optimize,
        promote,
        query,
        report,
        run,
        runbook,
        secrets,
        status,
    )

    groups = {
        "local": (local, "Start, stop and inspect the local stack: moto (with the EMR Serverless stand-in), "
                  "PostgreSQL, Snowflake (fakesnow), Salesforce and Kafka."),
        "infra": (infra, "Terraform: init, plan, apply, output, destroy, validate."),
        "dq": (dq, "Data-quality suites and promotion gates."),
        "catalog": (catalog, "Register Delta tables in the Glue catalog."),
        "lf": (lf, "Lake Formation tags and grants."),
        "lineage": (lineage, "OpenLineage: where a table comes from and what reads it."),
        "dr": (dr, "Disaster recovery: reprocess partitions, restore table versions."),
        "kafka": (kafka, "Kafka topics, the streaming job and its dead-letter queue."),
        "secrets": (secrets, "Source credentials into Secrets Manager (stdin/--from-file, never argv)."),
        "airflow": (airflow, "The platform's Airflow (MWAA) DAG, rendered from the pipeline registry."),
    }
    for name, (module, help_text) in groups.items():
        app.add_typer(module.app, name=name, help=help_text)
    # Single-verb nouns are plain commands: `deplat run fx`, not `deplat run run fx`.
    for module in (deploy, promote, run, backfill, logs, status, cancel, query, optimize, doctor, runbook, report,
                   checklist):
        app.command(name=module.NAME)(module.command)

_register()


def main() -> None:
    try:
        app()
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        if done.code is not None and not isinstance(done.code, int):
            print(done.code, file=sys.stderr)
        _exit(code)
    _exit(0)


def _exit(code: int) -> None:
    """Leave without interpreter finalisation once pyarrow's dataset scanner has run: its pool threads
    abort the process at shutdown ("terminate called without an active exception", SIGABRT, about 1 run
    in 10 here after deltalake's to_pyarrow_table; apache/arrow#45214, apache/arrow#34314)."""
    if "pyarrow._dataset" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
