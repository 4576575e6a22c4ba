"""How services report progress without printing: a Console for the terminal, a null one for tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol


def literal(value: object, style: str = ""):
    """`value` as a rich Text shown exactly as typed: data (cells, DLQ records, names, messages that
    quote data) never goes through Rich's markup or emoji codes, so `[/]` cannot crash a render and
    `[link=...]` or `:x:` cannot change what the operator sees. None -> ""."""
    from rich.text import Text

    if isinstance(value, Text):
        return value
    return Text("" if value is None else str(value), style=style)


class Status(Protocol):
    """A running status line: `update` replaces its message."""

    def update(self, message: str) -> None: ...


class Reporter(Protocol):
    """What services report through: plain messages, warnings, and a status line for long work
    (`with ctx.reporter.status("Waiting...") as status: status.update("...")`)."""

    def info(self, message: str) -> None: ...
    def warn(self, message: str) -> None: ...
    def status(self, message: str) -> AbstractContextManager[Status]: ...


class _NullStatus:
    def update(self, message: str) -> None:
        pass


class NullReporter:
    """Swallows everything; services default to it so they never need a terminal."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def info(self, message: str) -> None:
        self.messages.append(message)

    def warn(self, message: str) -> None:
        self.messages.append(f"warning: {message}")

    @contextmanager
    def status(self, message: str) -> Iterator[_NullStatus]:
        self.messages.append(message)
        yield _NullStatus()


class RichReporter:
    """Progress and messages on stderr, so `-o json` stdout stays machine-readable."""

    def __init__(self, quiet: bool = False):
        from rich.console import Console

        self.console = Console(stderr=True, highlight=False)
        self.quiet = quiet

    def info(self, message: str) -> None:
        if not self.quiet:
            self.console.print(literal(message))

    def warn(self, message: str) -> None:
        from rich.text import Text

        self.console.print(Text.assemble(("warning:", "yellow"), " ", literal(message)))

    @contextmanager
    def status(self, message: str) -> Iterator[Status]:
        if self.quiet or not self.console.is_terminal:
            self.info(message)
            yield _NullStatus()
            return
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        # A spinner, the message and a ticking elapsed time (not just at each poll).
        with Progress(SpinnerColumn(), TextColumn("{task.description}", markup=False), TimeElapsedColumn(),
                      console=self.console, transient=True) as progress:
            task = progress.add_task(message, total=None)
            yield _ProgressStatus(progress, task)


class _ProgressStatus:
    def __init__(self, progress, task) -> None:
        self._progress, self._task = progress, task

    def update(self, message: str) -> None:
        self._progress.update(self._task, description=message)
