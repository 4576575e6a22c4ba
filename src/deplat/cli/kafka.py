"""`deplat kafka`: order events, topics, the stream's lag, its dead-letter queue, checkpoint reset."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from deplat.cli._common import DryRunOpt, OutputOpt, YesOpt, context, emit, finite, table

app = typer.Typer(no_args_is_help=True)

TopicOpt = Annotated[str | None, typer.Option(help="Topic (default: kafka.topic in config/deplat.yaml).")]


@app.command("produce")
def produce(
    tctx: typer.Context,
    num_orders: Annotated[int, typer.Option("--num-orders", "-n", help="Order events to send.", min=0)] = 100,
    bad_ratio: Annotated[float, typer.Option(help="Share of malformed events (0..1), of five kinds.",
                                              min=0.0, max=1.0, callback=finite)] = 0.0,
    duplicates: Annotated[int, typer.Option(help="Re-send this many valid events (producer duplicates).",
                                             min=0)] = 0,
    seed: Annotated[int | None, typer.Option(help="Random seed (repeatable event contents).")] = None,
    topic: TopicOpt = None,
    output: OutputOpt = None,
) -> None:
    """Send realistic order events keyed by order_id; waits for every delivery report."""
    from rich.console import Console
    from rich.progress import Progress

    from deplat import kafka

    ctx = context(tctx, output)
    # Progress on stderr, so `-o json` keeps stdout clean.
    console = getattr(ctx.reporter, "console", None) or Console(stderr=True)
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("producing", total=None)
        result = kafka.produce(ctx, num_orders, bad_ratio, topic, duplicates, seed,
                               progress=lambda done, total: bar.update(task, completed=done, total=total))

    def text() -> None:
        rows: list[list[Any]] = [
                ["produced", result.produced], ["failed", result.failed], ["malformed", sum(result.bad.values())],
                *[[f"  {k}", n] for k, n in sorted(result.bad.items())], ["duplicates", result.duplicates],
                ["events/s", f"{result.events_per_second:,.0f}"]]
        table(f"produced to {result.topic}", ["", "events"], rows)

    emit(ctx, result.to_dict(), text)
    if result.failed:
        raise typer.Exit(3)  # some deliveries failed: the broker side (exit 3), after the summary


@app.command("topics")
def topics(tctx: typer.Context, output: OutputOpt = None) -> None:
    """Create the configured topic if missing; show every topic's partitions and offsets."""
    from deplat import kafka

    ctx = context(tctx, output)
    infos = kafka.list_topics(ctx)
    rows = [[t.topic, p.partition, p.leader, p.replicas, p.earliest, p.latest, p.latest - p.earliest]
            for t in infos for p in t.partitions]
    emit(ctx, [t.to_dict() for t in infos],
         lambda: table("topics", ["topic", "partition", "leader", "replicas", "earliest", "end", "messages"], rows))


@app.command("lag")
def lag(tctx: typer.Context, topic: TopicOpt = None, output: OutputOpt = None) -> None:
    """The stream's committed offsets (its checkpoint) vs the topic's end offsets, per partition."""
    from dataclasses import asdict

    from deplat import kafka

    ctx = context(tctx, output)
    lags = kafka.lag(ctx, topic)
    rows = [[x.topic, x.partition, "-" if x.committed is None else x.committed, x.end, x.lag] for x in lags]
    rows.append(["total", "", "", "", sum(x.lag for x in lags)])
    emit(ctx, [asdict(x) for x in lags],
         lambda: table("stream lag", ["topic", "partition", "committed", "end", "lag"], rows))


@app.command("dlq")
def dlq(
    tctx: typer.Context,
    limit: Annotated[int, typer.Option(help="Records to show (newest first).", min=0)] = 20,
    reason: Annotated[str | None, typer.Option(help="Only reasons starting with this.")] = None,
    output: OutputOpt = None,
) -> None:
    """Dead-letter records of the stream: counts per reason first, then the records."""
    from deplat import kafka

    ctx = context(tctx, output)
    result = kafka.dlq(ctx, limit, reason)

    def text() -> None:
        ctx.reporter.info(f"dead-letter queue: {result.path}")
        table(f"DLQ: {result.total} records", ["reason", "count"], [list(r) for r in result.reasons])
        table("records", ["reason", "partition", "offset", "timestamp", "key", "raw value"],
              [[r["reason"], r["partition"], r["offset"], r["timestamp"], r["key"], (r["raw_value"] or "")[:60]]
               for r in result.records])

    emit(ctx, result.to_dict(), text)


@app.command("reset-checkpoint")
def reset_checkpoint(tctx: typer.Context, dry_run: DryRunOpt = False, yes: YesOpt = False,
                     topic: TopicOpt = None, output: OutputOpt = None) -> None:
    """Delete the stream's checkpoint; the next run replays from the earliest offsets (exit 7 without --yes).

    Bronze is not duplicated: the stream skips events whose offsets are already in bronze/DLQ.
    """
    from deplat import kafka

    ctx = context(tctx, output)
    result = kafka.reset_checkpoint(ctx, yes=yes, dry_run=dry_run, topic=topic)

    def text() -> None:
        verb = "removed" if result.removed else ("would remove" if result.exists else "nothing at")
        ctx.reporter.info(f"{verb} {result.checkpoint} ({result.files} files, last committed batch "
                          f"{result.committed_batch})")
        rows = [[p, result.committed.get(topic or ctx.settings.kafka.topic, {}).get(p, "-"), o]
                for p, o in sorted(result.restart_from.items())]
        table("the stream restarts from", ["partition", "committed before", "restarts at (earliest)"], rows)

    emit(ctx, result.to_dict(), text)
