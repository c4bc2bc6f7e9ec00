"""A live progress view on stderr (rich): one bar per stream with % of its range, records/s, ETA, and errors and
warnings printed above the bars. Imported only when a view is drawn (rich costs start-up time)."""

from __future__ import annotations

from typing import IO, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from sync_protocol import ErrorMessage, LogMessage, Message, ProgressMessage, RunProgress


class ProgressView:
    """Renders `progress` and `error` messages; use as a context manager around a sync."""

    def __init__(self, stream: IO[str], *, verbose: bool = False, quiet: bool = False) -> None:
        self._levels = {"error"} if quiet else ({"info", "warn", "error"} if verbose else {"warn", "error"})
        self._console = Console(file=stream, stderr=True)
        self._bars = Progress(
            TextColumn("[bold]{task.description:<16.16}"),  # fits an 80-column terminal
            BarColumn(bar_width=14),
            TextColumn("{task.percentage:>5.1f}%"),
            TextColumn("{task.fields[records]:>9,}"),
            TextColumn("{task.fields[rate]:>9}"),
            TextColumn("{task.fields[status]:<11}"),
            TimeRemainingColumn(compact=True),
            console=self._console,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}
        self._total: TaskID | None = None

    def __enter__(self) -> ProgressView:
        self._bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bars.stop()

    def show(self, message: Message) -> None:
        """Update the view from one engine message."""
        if isinstance(message, ProgressMessage):
            self._update(message.progress)
        elif isinstance(message, ErrorMessage):
            where = escape(f" [{message.error.stream}]") if message.error.stream else ""
            level = message.error.level.value
            self._console.print(f"[red]error{where} ({level}):[/red] {escape(message.error.message)}")
        elif isinstance(message, LogMessage) and message.log.level.value in self._levels:
            style = {"warn": "yellow", "error": "red"}.get(message.log.level.value, "dim")
            self._console.print(f"[{style}]{message.log.level.value}:[/{style}] {escape(message.log.message)}")

    def _update(self, progress: RunProgress) -> None:
        for name, stream in progress.streams.items():
            fields: dict[str, Any] = {
                "records": stream.record_count,
                "rate": f"{stream.record_count / progress.elapsed_s:,.0f}/s" if progress.elapsed_s else "",
                "status": stream.status.value,
            }
            completed = 100.0 * (stream.covered_fraction or 0.0)
            if name not in self._tasks:
                self._tasks[name] = self._bars.add_task(escape(name), total=100.0, **fields)
            self._bars.update(self._tasks[name], completed=completed, **fields)
        fractions = [s.covered_fraction or 0.0 for s in progress.streams.values()]
        overall = 100.0 * sum(fractions) / len(fractions) if fractions else 0.0
        totals: dict[str, Any] = {
            "records": progress.record_count,
            "rate": f"{progress.records_per_s:,.0f}/s",
            "status": "",
        }
        if self._total is None:
            self._total = self._bars.add_task("all streams", total=100.0, **totals)
        self._bars.update(self._total, completed=overall, **totals)
