"""Progress of a long bulk run: a rich bar on a terminal, plain lines in CI logs.

rich is imported only when a terminal shows the bar, so piped and CI runs pay nothing for it.
"""

from __future__ import annotations

from typing import Any, TextIO


class Plain:
    """One line per finished repository (CI logs are read after the fact; a redrawn bar is noise there)."""

    def __init__(self, stream: TextIO, total: int) -> None:
        self.stream, self.total, self.done = stream, total, 0

    def __enter__(self) -> Plain:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def advance(self, files: int) -> None:
        self.done += files

    def line(self, text: str) -> None:
        print(f"[{self.done}/{self.total}] {text}", file=self.stream, flush=True)


class Bar:
    """rich's progress bar: files done/total, files per second, time left; repository lines print above it."""

    def __init__(self, stream: TextIO, total: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
        from rich.text import Text

        class Rate(ProgressColumn):
            def render(self, task: Any) -> Text:
                return Text(f"{task.speed:.1f} files/s" if task.speed else "- files/s")

        self.console = Console(file=stream, highlight=False)
        self.progress = Progress(
            TextColumn("dslim bulk"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("Dockerfiles"),
            Rate(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.task = self.progress.add_task("bulk", total=total)

    def __enter__(self) -> Bar:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def advance(self, files: int) -> None:
        self.progress.advance(self.task, files)

    def line(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)


def progress(stream: TextIO, total: int, tty: bool) -> Plain | Bar:
    return Bar(stream, total) if tty else Plain(stream, total)
