"""One loop for everything measured in a run: reuse what the store holds, measure the rest, keep every
finished result, and stop cleanly on Ctrl-C or a termination signal.

It serves profiles and paired timings alike: an Item says how to look its result up, measure it
and save it. A failing item is recorded with a one-line reason and the run goes on; Ctrl-C,
SIGTERM and SIGHUP stop the run, keep what finished (a profile cut short is saved as incomplete,
to be completed by the next run) and report which signal ended it.
"""
from __future__ import annotations

import signal
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

from ..common import first_line
from ..results import ProfileInterrupted
from .progress import Progress


class Skipped(Exception):
    """Raised by an item's measure when it turns out there is nothing to measure (a pair whose
    point has no latency): neither measured nor failed."""


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, handled like Ctrl-C; `signum` says which."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def signals_as_interrupts():
    """SIGTERM and SIGHUP raise Terminated in the main thread for the duration (so finished work is
    tabled as on Ctrl-C); the previous handlers come back afterwards."""
    def handler(signum, frame):
        raise Terminated(signum)
    saved = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            saved[sig] = signal.signal(sig, handler)
        except (ValueError, OSError):  # not the main thread, or no such signal here
            pass
    try:
        yield
    finally:
        for sig, old in saved.items():
            signal.signal(sig, old)


def one_line(exc: BaseException) -> str:
    """An exception as the one line a run records for the item it failed."""
    return first_line(exc, limit=10_000, typed=True)


def interrupt_signal(exc: BaseException) -> int:
    """The signal behind an interrupt: SIGINT for Ctrl-C, else the one Terminated carries."""
    cause = exc.__cause__ if isinstance(exc, ProfileInterrupted) and exc.__cause__ else exc
    return getattr(cause, "signum", None) or getattr(exc, "signum", None) or signal.SIGINT


@dataclass
class Item:
    """One thing to measure: `lookup()` returns a stored result or None; `measure(progress)` measures
    it; `save(result)` stores it; `problem(result)` says why a measured result is not a success
    (None when it is); `save_partial(report)` keeps what an interrupted measurement finished."""

    name: str
    lookup: Callable[[], object]
    measure: Callable[[Progress], object]
    save: Callable[[object], None]
    problem: Callable[[object], str | None] = lambda result: None
    save_partial: Callable[[object], None] | None = None


@dataclass
class Tally:
    """What a run did: results in item order, which were measured or reused, which failed (with a
    one-line reason), whether and by which signal it was interrupted, and how long it took."""

    results: dict = field(default_factory=dict)
    measured: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    partial: list[str] = field(default_factory=list)
    interrupted: int | None = None  # the signal number
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures and self.interrupted is None

    def merge(self, other: "Tally", suffix: str = "") -> None:
        """Count another run's items in this one, their names with `suffix` (the pairs under a
        runtime, say)."""
        self.measured += [n + suffix for n in other.measured]
        self.reused += [n + suffix for n in other.reused]
        self.failures.update({n + suffix: why for n, why in other.failures.items()})
        self.seconds += other.seconds
        if other.interrupted is not None:
            self.interrupted = other.interrupted

    def line(self, noun: str = "") -> str:
        parts = [f"{noun}measured {len(self.measured)}, reused {len(self.reused)}"]
        if self.failures:
            parts.append(f"failed {len(self.failures)} ({', '.join(self.failures)})")
        if self.partial:
            parts.append(f"kept incomplete {len(self.partial)} ({', '.join(self.partial)})")
        if self.interrupted is not None:
            parts.append(f"interrupted by {signal.Signals(self.interrupted).name}")
        return ", ".join(parts) + f" in {self.seconds:.1f} s"


def log_line(msg: str) -> None:
    """A line on stderr that does not tear a progress bar."""
    from tqdm.auto import tqdm

    tqdm.write(f"archlab: {msg}", file=sys.stderr)


def run(items: list[Item], *, fresh: bool = False, progress: bool = True, unit: str = "model",
        log: Callable[[str], None] = log_line, reraise: tuple = ()) -> Tally:
    """Reuse stored results (unless `fresh`), measure the rest in order; see the module doc.
    Exceptions of the types in `reraise` (a user's mistake, when there is one item) propagate."""
    started = time.perf_counter()
    tally = Tally()
    todo = []
    for item in items:
        found = None if fresh else item.lookup()
        if found is not None:
            tally.results[item.name] = found
            tally.reused.append(item.name)
        else:
            todo.append(item)
    if tally.reused:
        log(f"reusing {len(tally.reused)} stored {unit}(s) with the same key: "
            f"{', '.join(tally.reused)}" + ("" if todo else "; nothing to measure (--fresh measures again)"))
    bars = Progress(len(todo), unit, enabled=progress)
    try:
        for item in todo:
            bars.start(item.name)
            try:
                result = item.measure(bars)
            except ProfileInterrupted as exc:
                if item.save_partial is not None:
                    item.save_partial(exc.report)
                    tally.results[item.name] = exc.report
                    tally.partial.append(item.name)
                raise
            except (KeyboardInterrupt, SystemExit, *reraise):
                raise
            except Skipped:
                bars.finish()
                continue
            except Exception as exc:  # one item failing must not lose the others
                tally.failures[item.name] = one_line(exc)
                log(f"{item.name}: failed: {tally.failures[item.name]}")
                bars.finish()
                continue
            item.save(result)
            tally.results[item.name] = result
            tally.measured.append(item.name)
            why = item.problem(result)
            if why:
                tally.failures[item.name] = why
                log(f"{item.name}: {why}")
            bars.finish()
    except KeyboardInterrupt as exc:
        tally.interrupted = interrupt_signal(exc)
    finally:
        bars.close()
        order = [i.name for i in items]
        tally.results = {n: tally.results[n] for n in order if n in tally.results}
        tally.seconds = time.perf_counter() - started
    return tally
