"""How services report progress without printing: a Console for the terminal, a null one for tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class Reporter(Protocol):
    def info(self, message: str) -> None: ...
    def warn(self, message: str) -> None: ...
    def status(self, message: str): ...  # context manager with .update(message)


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
            self.console.print(message)

    def warn(self, message: str) -> None:
        self.console.print(f"[yellow]warning:[/] {message}")

    @contextmanager
    def status(self, message: str) -> Iterator[object]:
        if self.quiet or not self.console.is_terminal:
            self.info(message)
            yield _NullStatus()
            return
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        # A spinner, the message and a ticking elapsed time (not just at each poll).
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                      console=self.console, transient=True) as progress:
            task = progress.add_task(message, total=None)
            yield _ProgressStatus(progress, task)


class _ProgressStatus:
    def __init__(self, progress, task) -> None:
        self._progress, self._task = progress, task

    def update(self, message: str) -> None:
        self._progress.update(self._task, description=message)
