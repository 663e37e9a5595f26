"""A Keras-style progress bar that behaves in terminals, notebooks and log files.

On a terminal (or a notebook) ``verbose=1`` redraws one line in place with ``\\r``, at most
every `interval` seconds. On anything else (a file, a pipe, CI logs) it never writes ``\\r``
or colour codes: it writes whole lines, at most one every :data:`LOG_INTERVAL` seconds, and
always the final line. ``verbose=2`` writes one summary line when the bar finishes.

The shown values are averaged over steps (weighted by the number of steps each update
covers), except for names listed in `stateful_metrics`, which are shown as given: training
loops pass running means as stateful metrics.
"""

from __future__ import annotations

import math
import numbers
import os
import sys
import time
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

__all__ = ["LOG_INTERVAL", "Progbar", "resolve_verbose"]

#: Seconds between intermediate lines of a ``verbose=1`` bar that writes to a non-terminal.
LOG_INTERVAL = 10.0

# Indirection so tests can drive the clock.
_now = time.monotonic

_BOLD, _GREEN, _GREY, _RESET = "\x1b[1m", "\x1b[32m", "\x1b[37m", "\x1b[0m"


def _is_interactive(stream: Any) -> bool:
    """Whether `stream` shows ``\\r`` redraws: a terminal, a notebook or an IDE console."""
    try:
        if stream.isatty():
            return True
    except (AttributeError, ValueError, OSError):
        pass
    # Notebook front ends render carriage returns, but their streams are not TTYs.
    if stream is sys.stdout or stream is sys.stderr:
        return "ipykernel" in sys.modules or "PYCHARM_HOSTED" in os.environ
    return False


def resolve_verbose(verbose: int | str, stream: TextIO | None = None) -> int:
    """Turn a ``verbose`` argument into 0, 1 or 2.

    Args:
        verbose: ``"auto"``, 0 (silent), 1 (progress bar) or 2 (one line per epoch).
            ``"auto"`` means 1 when `stream` is a terminal or a notebook, 2 otherwise (so
            logs and CI output get one line per epoch instead of hundreds of redraws).
            ``True``/``False`` count as 1/0.
        stream: the stream the output goes to; default ``sys.stdout``.

    Returns:
        0, 1 or 2.

    Raises:
        ValueError: anything else.

    Example:
        >>> resolve_verbose(2)
        2
    """
    if isinstance(verbose, str):
        if verbose == "auto":
            return 1 if _is_interactive(stream if stream is not None else sys.stdout) else 2
    elif isinstance(verbose, numbers.Integral) and 0 <= int(verbose) <= 2:
        return int(verbose)
    raise ValueError(f"verbose: expected 'auto', 0, 1 or 2. Received: verbose={verbose!r}")


def _format_duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds >= 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds >= 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{int(seconds)}s"


def _format_per_unit(seconds: float, unit_name: str) -> str:
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/{unit_name}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{unit_name}"
    return f"{seconds * 1e6:.0f}us/{unit_name}"


def _format_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if v == 0 or math.isnan(v) or math.isinf(v) or abs(v) > 1e-3:
        return f"{v:.4f}"
    return f"{v:.4e}"


class Progbar:
    """Progress bar for loops over a known (or unknown) number of steps.

    Args:
        target: total number of steps, or ``None`` when unknown.
        width: width of the bar in characters.
        verbose: 0 (silent), 1 (live bar), 2 (one line at the end) or ``"auto"``
            (see :func:`resolve_verbose`).
        interval: minimum seconds between redraws on a terminal.
        stateful_metrics: names whose values are shown as passed instead of averaged.
        unit_name: the name of a step in the per-step time (``"5ms/step"``).
        file: the stream written to; default ``sys.stdout`` at the time of each write.

    Raises:
        ValueError: a negative `target`, a `width` < 1, a negative `interval` or a bad
            `verbose`.

    Example:
        >>> bar = Progbar(3, verbose=2)
        >>> for step in range(1, 4):
        ...     bar.update(step, [("loss", 0.5)])  # doctest: +ELLIPSIS
        3/3 - 0s - ...
    """

    def __init__(
        self,
        target: int | None,
        width: int = 30,
        verbose: int | str = 1,
        interval: float = 0.05,
        stateful_metrics: Iterable[str] | None = None,
        unit_name: str = "step",
        file: TextIO | None = None,
    ) -> None:
        if target is not None and (not isinstance(target, numbers.Real) or target < 0):
            raise ValueError(f"Progbar: expected `target` to be None or a number >= 0. Received: target={target!r}")
        if not isinstance(width, numbers.Integral) or width < 1:
            raise ValueError(f"Progbar: expected `width` to be an integer >= 1. Received: width={width!r}")
        if not isinstance(interval, numbers.Real) or interval < 0:
            raise ValueError(f"Progbar: expected `interval` >= 0. Received: interval={interval!r}")
        self.target = target
        self.width = int(width)
        self.file = file
        self.verbose = resolve_verbose(verbose, self._stream())
        self.interval = float(interval)
        self.stateful_metrics = set(stateful_metrics or ())
        self.unit_name = unit_name
        self._dynamic = _is_interactive(self._stream())
        self._values: dict[str, list[float] | Any] = {}
        self._order: list[str] = []
        self._seen_so_far = 0
        self._start = _now()
        self._last_write: float | None = None
        self._first_step_time: float | None = None
        self._prev_width = 0
        self._finalized = False

    def _stream(self) -> TextIO:
        return self.file if self.file is not None else sys.stdout

    def _write(self, text: str) -> None:
        stream = self._stream()
        stream.write(text)
        stream.flush()

    def _record(self, current: int, values: Iterable[tuple[str, Any]] | Mapping[str, Any] | None) -> None:
        if values is None:
            return
        items = values.items() if isinstance(values, Mapping) else values
        steps = max(current - self._seen_so_far, 1)
        for name, value in items:
            if name not in self._values:
                self._order.append(name)
            averaged = name not in self.stateful_metrics and isinstance(value, numbers.Real)
            if averaged:
                acc = self._values.get(name)
                if isinstance(acc, list):
                    acc[0] += float(value) * steps
                    acc[1] += steps
                else:
                    self._values[name] = [float(value) * steps, steps]
            else:
                self._values[name] = value

    def _value(self, name: str) -> Any:
        v = self._values[name]
        if isinstance(v, list):
            return v[0] / max(v[1], 1)
        return v

    def _time_per_step(self, current: int, now: float) -> float:
        if current <= 0:
            return 0.0
        # The first step usually includes one-off costs (allocation, warm-up): once a later
        # step is seen, measure from the end of the first one.
        if self._first_step_time is not None and current > 1:
            return (now - self._first_step_time) / (current - 1)
        return (now - self._start) / current

    def _metrics_text(self) -> str:
        return "".join(f" - {name}: {_format_value(self._value(name))}" for name in self._order)

    def _bar_text(self, current: int, color: bool) -> str:
        target = self.target
        if target is None:
            return f"{current:7d}/Unknown"
        digits = len(str(int(target)))
        count = f"{current:{digits}d}/{int(target)}"
        frac = min(max(current / target, 0.0), 1.0) if target else 1.0
        done = int(self.width * frac)
        if color:
            glyph = "━"
            try:
                glyph.encode(getattr(self._stream(), "encoding", None) or "utf-8")
            except (UnicodeEncodeError, LookupError):
                glyph = "="
            bar = f"{_GREEN}{glyph * done}{_RESET}" if done else ""
            return f"{_BOLD}{count}{_RESET} {bar}{_GREY}{glyph * (self.width - done)}{_RESET}"
        if done >= self.width:
            inner = "=" * self.width
        else:
            inner = "=" * done + (">" if current > 0 else ".") + "." * (self.width - done - 1)
        return f"{count} [{inner}]"

    def update(
        self,
        current: int,
        values: Iterable[tuple[str, Any]] | Mapping[str, Any] | None = None,
        finalize: bool | None = None,
    ) -> None:
        """Move the bar to step `current` and record `values`.

        Args:
            current: the number of steps done so far (1 after the first step).
            values: ``(name, value)`` pairs or a dict. Numbers are averaged over steps
                unless their name is in `stateful_metrics`; anything else is shown as text.
            finalize: whether this is the last update; default ``current >= target``
                (never, with an unknown target).
        """
        now = _now()
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        self._record(current, values)
        if current >= 1 and self._first_step_time is None:
            self._first_step_time = now
        self._seen_so_far = current
        if self.verbose == 0 or self._finalized:
            return
        if finalize:
            self._finalized = True
        per_step = self._time_per_step(current, now)
        if self.verbose == 1:
            self._draw_live(current, now, per_step, finalize)
        elif finalize:
            self._draw_summary(current, now, per_step)

    def add(self, n: int, values: Iterable[tuple[str, Any]] | Mapping[str, Any] | None = None) -> None:
        """Advance the bar by `n` steps (see :meth:`update`)."""
        self.update(self._seen_so_far + n, values)

    def _draw_live(self, current: int, now: float, per_step: float, finalize: bool) -> None:
        if self._dynamic:
            # Draw at once, then at most every `interval` seconds.
            due = self._last_write is None or now - self._last_write >= self.interval
        else:
            # A log gets a line only after LOG_INTERVAL seconds without one (counted from the
            # start), so short epochs write just their final line.
            since = self._last_write if self._last_write is not None else self._start
            due = now - since >= max(self.interval, LOG_INTERVAL)
        if not finalize and not due:
            return
        self._last_write = now
        color = self._dynamic
        bar = self._bar_text(current, color)
        if self.target is not None and not finalize:
            eta = _format_duration(per_step * (self.target - current))
            timing = f" {_BOLD}{eta}{_RESET}" if color else f" - ETA: {eta}"
        else:
            elapsed = f"{now - self._start:.0f}s"
            timing = f" {_BOLD}{elapsed}{_RESET}" if color else f" - {elapsed}"
        timing += " " + _format_per_unit(per_step, self.unit_name)
        line = bar + timing + self._metrics_text()
        if self._dynamic:
            visible = len(line) - sum(line.count(code) * len(code) for code in (_BOLD, _GREEN, _GREY, _RESET))
            pad = " " * max(self._prev_width - visible, 0)
            self._prev_width = visible
            self._write("\r" + line + pad + ("\n" if finalize else ""))
        else:
            self._write(line + "\n")

    def _draw_summary(self, current: int, now: float, per_step: float) -> None:
        target = self.target if self.target is not None else current
        digits = len(str(int(target)))
        line = f"{current:{digits}d}/{int(target)} - {now - self._start:.0f}s - "
        line += _format_per_unit(per_step, self.unit_name) + self._metrics_text()
        self._write(line + "\n")
