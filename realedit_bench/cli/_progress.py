"""The progress display of every long verb: a rich bar on a terminal, a plain line every N seconds off one.

A verb opens one :class:`ProgressDisplay` and hands it to its library call as ``on_progress``. The call
reports ``(done, total)`` as items finish and, where it can, ``phase(label)`` (what it does before the
first item ends: loading weights, hashing images) and ``step(done, total)`` (progress inside the item in
flight, e.g. denoising steps), so the display moves from the moment work starts.

On a terminal the bar shows the phase, the counts, the rate, the elapsed time and the ETA. Off a terminal
(a log file under nohup or a batch scheduler) a heartbeat prints the same as one plain line every
``$REALEDIT_PROGRESS_SECONDS`` seconds (default 30) while the work goes on, and once more when it ends or
stops; a call shorter than that prints nothing, so quick commands and one-line errors stay as they are.
"""

from __future__ import annotations

import math
import os
import threading
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from realedit_bench.errors import ConfigError

if TYPE_CHECKING:
    from rich.console import Console

#: Seconds between two plain progress lines off a terminal (0: a line at every report).
INTERVAL_ENV = "REALEDIT_PROGRESS_SECONDS"
DEFAULT_INTERVAL = 30.0


def progress_interval() -> float:
    """Seconds between plain progress lines: ``$REALEDIT_PROGRESS_SECONDS``, else 30."""
    raw = os.environ.get(INTERVAL_ENV, "").strip()
    if not raw:
        return DEFAULT_INTERVAL
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"{INTERVAL_ENV}={raw!r}: expected a number of seconds >= 0")
    return value


def rate_text(per_second: float | None, unit: str) -> str:
    """``2.50 s/sample`` for slow work, ``12.3 samples/s`` for fast work, '' while unknown."""
    if not per_second:
        return ""
    if per_second < 1:
        return f"{1 / per_second:.2f} s/{unit.removesuffix('s')}"
    return f"{per_second:.1f} {unit}/s"


def clock_text(seconds: float | None) -> str:
    """``0:01:05``, or ``-:--:--`` while unknown."""
    return "-:--:--" if seconds is None else str(timedelta(seconds=max(0, round(seconds))))


class ProgressDisplay:
    """Shows a long call's progress: pass it as ``on_progress``, and use it as a context manager around the
    call (it starts the heartbeat off a terminal and stops the bar whatever happens).

    Args:
        description: What is worked on, shown first (e.g. the model's name).
        console: Where the display goes (stderr: stdout is the verb's result).
        unit: What is counted, plural (``samples``, ``asks``, ``files``, ``steps``).
        interval: Seconds between plain lines off a terminal (default ``$REALEDIT_PROGRESS_SECONDS``; 0: a
            line at every report).
    """

    def __init__(self, description: str, *, console: Console, unit: str = "samples",
                 interval: float | None = None) -> None:
        self.description = description
        self.console = console
        self.unit = unit
        self.live = console.is_terminal
        self.interval = progress_interval() if interval is None else interval
        self.phase_label = ""
        self.done = 0
        self.total: int | None = None
        self._step: tuple[int, int] | None = None
        self._started = time.monotonic()
        self._counting_since: float | None = None
        self._lines = 0
        self._bar: Any = None
        self._task: Any = None
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    # -- the reports of the work --------------------------------------------------------------------
    def phase(self, label: str) -> None:
        """What the work is doing now (shown until the work counts an item or reports another phase)."""
        self.phase_label = label
        self._report()

    def __call__(self, done: int, total: int | None) -> None:
        """``done`` items of ``total`` (None while unknown) have finished."""
        if self._counting_since is None or (total is not None and self.total is None):
            self._counting_since = time.monotonic()
        # Counting means the preparation is over: the phase is shown again only when one is reported.
        self.done, self.total, self._step, self.phase_label = done, total, None, ""
        self._report()

    def step(self, done: int, total: int) -> None:
        """``done`` of ``total`` steps of the item in flight have run."""
        self._step = (done, total)
        self._report()

    # -- what is shown --------------------------------------------------------------------------------
    @property
    def completed(self) -> float:
        """Items done, plus the share of the item in flight that its steps say is done."""
        share = self._step[0] / self._step[1] if self._step and self._step[1] else 0.0
        return self.done + min(share, 0.999)

    def note(self) -> str:
        """The step of the item in flight, else the phase."""
        if self._step is not None:
            return f"step {self._step[0]}/{self._step[1]}"
        return self.phase_label

    def status(self) -> str:
        """One plain line: the phase before the count starts; then counts, rate, elapsed time and ETA."""
        if self._counting_since is None:
            elapsed = clock_text(time.monotonic() - self._started)
            return f"{self.description}: {self.phase_label or 'starting'} (elapsed {elapsed})"
        total = "?" if self.total is None else str(self.total)
        parts = [f"{self.done}/{total} {self.unit}"]
        elapsed_s = time.monotonic() - self._counting_since
        speed = self.completed / elapsed_s if elapsed_s > 0 and self.completed > 0 else None
        rate = rate_text(speed, self.unit)
        if rate:
            parts.append(rate)
        eta = (self.total - self.completed) / speed if speed and self.total is not None else None
        parts.append(f"elapsed {clock_text(elapsed_s)}, ETA {clock_text(eta)}")
        note = self.note()
        return f"{self.description}: {', '.join(parts)}" + (f" ({note})" if note else "")

    def _report(self) -> None:
        if self.live:
            self._update()
        elif self.interval == 0:
            self._print(self.status())

    def _print(self, line: str) -> None:
        self._lines += 1
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def _heartbeat(self) -> None:
        """Off a terminal: the status every ``interval`` seconds, whether or not an item ended meanwhile (a
        model loading for minutes, a slow first sample)."""
        while not self._stop.wait(self.interval):
            self._print(self.status())

    def _update(self) -> None:
        if self._bar is None:
            self._bar = _bar(self.console)
            self._bar.start()
            self._task = self._bar.add_task(self.description, total=None, unit=self.unit, note="", count="")
        total = None if self.total is None else max(self.total, 1)
        shown_total = "?" if self.total is None else str(self.total)
        count = "" if self._counting_since is None else f"{self.done}/{shown_total}"
        self._bar.update(self._task, completed=self.completed, total=total, note=self.note(), count=count)

    def __enter__(self) -> ProgressDisplay:
        self._started = time.monotonic()
        if not self.live and self.interval > 0:
            self._beat = threading.Thread(target=self._heartbeat, name="realedit-progress", daemon=True)
            self._beat.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._beat is not None:
            self._stop.set()
            self._beat.join()
            if self._lines and self._counting_since is not None:
                self._print(self.status())  # where the work ended or stopped, for the log
        if self._bar is not None:
            self._bar.stop()


def _bar(console: Console) -> Any:
    """A rich progress bar: description, bar, count, rate, (elapsed,) ETA, and the phase or step.

    Below 100 columns the bar is shorter and the elapsed time is left out, so that one line fits 80.
    """
    from rich.progress import (
        BarColumn,
        Progress,
        ProgressColumn,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Items per second, or seconds per item for slow work."""

        def render(self, task: Any) -> Text:
            return Text(rate_text(task.finished_speed or task.speed, task.fields["unit"]), style="cyan")

    wide = console.width >= 100
    return Progress(
        SpinnerColumn(), TextColumn("{task.description}", style="bold", markup=False),
        BarColumn(bar_width=20 if wide else 10), TextColumn("{task.fields[count]}", markup=False),
        RateColumn(),
        *([TimeElapsedColumn()] if wide else []), TextColumn("ETA"), TimeRemainingColumn(),
        TextColumn("{task.fields[note]}", markup=False),
        console=console, speed_estimate_period=120,
    )
