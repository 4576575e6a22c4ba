"""`deplat lineage`: the OpenLineage graph recorded by `deplat run`, as a tree."""

from __future__ import annotations

from typing import Annotated

import typer

from deplat.cli._common import OutputOpt, context, emit

app = typer.Typer(no_args_is_help=True)


@app.command("show")
def show(
    tctx: typer.Context,
    dataset: Annotated[str, typer.Argument(help="<layer>.<table>, e.g. gold.daily_revenue")],
    upstream: Annotated[bool, typer.Option("--upstream/--downstream",
                                           help="Where it comes from (default) or what reads it.")] = True,
    depth: Annotated[int, typer.Option(help="Dataset hops to follow.", min=1)] = 10,
    output: OutputOpt = None,
) -> None:
    """The lineage of a table from the recorded run events (jobs with their last state)."""
    from deplat.lineage import tree

    ctx = context(tctx, output)
    graph = tree(ctx, dataset, upstream=upstream, depth=depth)

    def render() -> None:
        from rich.console import Console
        from rich.tree import Tree

        colour = {"COMPLETE": "green", "FAIL": "red", "START": "yellow"}

        def add(branch, node) -> None:
            for job in node["jobs"]:
                note = f" ({job['message']})" if job["state"] == "FAIL" and job["message"] else ""
                if job.get("repeated"):
                    branch.add(f"[dim]job {job['job']} (shown above)[/]")
                    continue
                sub = branch.add(f"[dim]job[/] {job['job']} [{colour.get(job['state'], 'white')}]"
                                 f"{job['state']}[/] [dim]{job['time']}[/]{note}")
                for ds in job["datasets"]:
                    leaf = sub.add(f"[bold]{ds['dataset']}[/]" + (" [dim]…[/]" if ds.get("truncated") else ""))
                    add(leaf, ds)

        root = Tree(f"[bold]{graph['dataset']}[/] [dim]({'upstream' if upstream else 'downstream'})[/]")
        add(root, graph)
        Console(highlight=False).print(root)

    emit(ctx, graph, render)
