"""A rich progress bar for runs: done/total, cached, errors and tokens/s."""

from __future__ import annotations

import time
from typing import Any


class RichProgress:
    def __init__(self, description: str, console: Any = None) -> None:
        from rich.console import Console

        self.description = description
        self.console = console or Console(stderr=True)
        self._progress: Any = None
        self._task: Any = None
        self.cached = self.errors = self.tokens = 0
        self._t0 = time.perf_counter()

    def start(self, total: int, already_done: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("cached {task.fields[cached]} · errors {task.fields[errors]} · {task.fields[tps]} tok/s"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(
            self.description, total=total, completed=already_done, cached=0, errors=0, tps="0"
        )
        self._t0 = time.perf_counter()

    def update(self, record: Any) -> None:
        """Count one finished record (a lara.results.record.Record)."""
        self.cached += bool(record.cached)
        self.errors += record.outcome == "error"
        self.tokens += (record.input_tokens or 0) + (record.output_tokens or 0)
        tps = self.tokens / max(1e-6, time.perf_counter() - self._t0)
        self._progress.update(self._task, advance=1, cached=self.cached, errors=self.errors, tps=f"{tps:,.0f}")

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
