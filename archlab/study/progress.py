"""Progress on stderr (tqdm): a bar over the models (or pairs) of a run and, under it, a bar over the
phase now running — counting (modules done), timing (seconds of the timing budget), operator-timed
passes (passes done), rounds of a paired timing — each with an estimate of the time left.

A Progress object is the `progress` callback the profiler takes: progress(phase, done, total).
"""
from __future__ import annotations

import sys


class Progress:
    def __init__(self, total: int, unit: str, *, enabled: bool = True):
        self.enabled = enabled and total > 0
        self.unit, self.name, self.phase = unit, "", None
        self.outer = self.inner = None
        if self.enabled:
            from tqdm.auto import tqdm

            self._tqdm = tqdm
            self.outer = tqdm(total=total, file=sys.stderr, unit=unit, dynamic_ncols=True, position=0,
                              bar_format="{desc} |{bar}| {n_fmt}/{total_fmt} " + unit
                              + "s, {elapsed} elapsed, {remaining} left")

    def start(self, name: str) -> None:
        self.name = name
        if self.outer is not None:
            self.outer.set_description_str(f"{name}")

    def __call__(self, phase: str, done: float = 0, total: float | None = None) -> None:
        """The profiler's callback: `phase` in words, `done` of `total` units within it."""
        if not self.enabled:
            return
        if phase != self.phase or self.inner is None:
            self._close_inner()
            self.phase = phase
            self.inner = self._tqdm(total=total, file=sys.stderr, dynamic_ncols=True, position=1,
                                    leave=False, desc=f"  {self.name}: {phase}",
                                    bar_format="{desc} |{bar}| {percentage:3.0f}%, "
                                               "{elapsed} elapsed, {remaining} left"
                                    if total else "{desc}, {elapsed} elapsed")
        if total and done is not None and min(done, total) > self.inner.n:
            self.inner.update(min(done, total) - self.inner.n)  # redraws at most every 0.1 s

    def finish(self) -> None:
        self._close_inner()
        if self.outer is not None:
            self.outer.update(1)

    def _close_inner(self) -> None:
        if self.inner is not None:
            self.inner.close()
        self.inner, self.phase = None, None

    def close(self) -> None:
        self._close_inner()
        if self.outer is not None:
            self.outer.close()
