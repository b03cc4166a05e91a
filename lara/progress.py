"""Run progress for the CLI: a rich bar on a terminal, plain lines when output is a file or a pipe.

On a terminal: done/total, cached, errors, tokens/s, elapsed and ETA. Otherwise (CI logs, ``| tee``,
``> log``) one plain line every ``interval_s`` seconds from a small timer thread, so a long run is
visibly alive even while every sample is waiting on a slow model, plus a last line at the end.
The ETA extrapolates this invocation's pace over the samples left (resumed ones do not count).
"""

from __future__ import annotations

import threading
import time
from typing import Any

PLAIN_INTERVAL_S = 10.0


def _clock(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "-:--:--"
    s = int(round(seconds))
    return f"{s // 3600}:{(s % 3600) // 60:02d}:{s % 60:02d}"


class RichProgress:
    """The engine's :class:`~lara.engine.options.Progress` for the CLI (see the module docstring)."""

    def __init__(self, description: str, console: Any = None, interval_s: float = PLAIN_INTERVAL_S) -> None:
        from rich.console import Console

        self.description = description
        self.console = console or Console(stderr=True)
        self.interval_s = interval_s
        self._progress: Any = None
        self._task: Any = None
        self._timer: threading.Thread | None = None
        self._stop = threading.Event()
        self.cached = self.errors = self.tokens = 0
        self.total = self.done = self.done_here = 0
        self._t0 = time.perf_counter()

    # -- figures ---------------------------------------------------------------------------------
    def elapsed(self) -> float:
        return time.perf_counter() - self._t0

    def eta(self) -> float | None:
        """Seconds left at this invocation's pace; None before the first sample finishes."""
        if self.done_here == 0:
            return None
        return (self.total - self.done) * self.elapsed() / self.done_here

    def line(self) -> str:
        pct = f"{100 * self.done / self.total:.0f}%" if self.total else "-"
        tps = self.tokens / max(1e-6, self.elapsed())
        return (f"{self.description}: {self.done}/{self.total} ({pct}) · cached {self.cached} · errors {self.errors} · "
                f"{tps:,.0f} tok/s · elapsed {_clock(self.elapsed())} · ETA {_clock(self.eta())}")

    # -- Progress protocol ----------------------------------------------------------------------
    def start(self, total: int, already_done: int) -> None:
        self.total, self.done, self.done_here = total, already_done, 0
        self._t0 = time.perf_counter()
        if not self.console.is_terminal:
            self._stop.clear()
            self._timer = threading.Thread(target=self._tick, name="lara-progress", daemon=True)
            self._timer.start()
            return
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self._progress = Progress(
            TextColumn("{task.description}", markup=False, style="bold"),  # no markup/emoji: ":x" stays text
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("cached {task.fields[cached]} · errors {task.fields[errors]} · {task.fields[tps]} tok/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(
            self.description, total=total, completed=already_done, cached=0, errors=0, tps="0"
        )

    def update(self, record: Any) -> None:
        """Count one finished record (a lara.results.record.Record)."""
        self.cached += bool(record.cached)
        self.errors += record.outcome == "error"
        self.tokens += (record.input_tokens or 0) + (record.output_tokens or 0)
        self.done += 1
        self.done_here += 1
        if self._progress is not None:
            tps = self.tokens / max(1e-6, self.elapsed())
            self._progress.update(self._task, advance=1, cached=self.cached, errors=self.errors, tps=f"{tps:,.0f}")

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        if self._timer is not None:
            self._stop.set()
            self._timer.join(timeout=5)
            self._timer = None
            self._print(self.line() + " · done")

    def _tick(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._print(self.line())

    def _print(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, emoji=False, soft_wrap=True)
