"""Can a latency be trusted? What the machine was doing while it was measured, and the verdict.

While timing, `Watch` records the load average before and after, the cores this process may run on,
and the process's CPU time over the wall time: a process that got less than MIN_CPU_SHARE of the
cores it asked for (CPU time / (wall x threads)) was starved by other work. `verdict` turns that and
the spread of the samples into `reliable` and a list of reasons in words. A latency is reliable
when its spread (IQR / median) is at most MAX_SPREAD over at least MIN_SAMPLES samples, the CPU
share is at least MIN_CPU_SHARE (CPU runs) and the threads do not outnumber the usable cores.
"""
from __future__ import annotations

import os
import time

MAX_SPREAD = 0.10
MIN_CPU_SHARE = 0.8
MIN_SAMPLES = 4  # below this, a spread says little


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask), not the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def _load() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


class Watch:
    """Context manager around a timed phase: `facts` holds the load average before and after, the
    CPU time and wall time of the phase, threads and usable cores, and the CPU share."""

    def __init__(self, threads: int, cpu: bool = True):
        self.threads, self.cpu = threads, cpu
        self.facts: dict = {}

    def __enter__(self) -> "Watch":
        self.facts["load_before"] = _load()
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> bool:
        wall = time.perf_counter() - self._wall
        cpu = time.process_time() - self._cpu
        share = cpu / (wall * self.threads) if wall > 0 and self.cpu else None
        self.facts.update(load_after=_load(), wall_s=round(wall, 4), cpu_s=round(cpu, 4),
                          threads=self.threads, cores=usable_cores(),
                          cpu_share=None if share is None else round(share, 3))
        return False


def verdict(facts: dict, spread: float | None, n: int | None = None) -> tuple[bool, list[str]]:
    """(reliable, reasons): every rule the measurement broke, each in a few words."""
    reasons = []
    if spread is not None and spread > MAX_SPREAD:
        reasons.append(f"spread (IQR / median) {100 * spread:.0f}% > {100 * MAX_SPREAD:.0f}%")
    if n is not None and n < MIN_SAMPLES:
        reasons.append(f"only {n} timed samples (< {MIN_SAMPLES}): give it a longer --budget")
    threads, cores = facts.get("threads"), facts.get("cores")
    crowded = bool(threads and cores and threads > cores)
    share = facts.get("cpu_share")
    if share is not None and share < MIN_CPU_SHARE:
        load = facts.get("load_after") or facts.get("load_before")
        why = ("more threads than cores" if crowded else "other work took the cores"
               + (f", load average {load[0]:.2f} on {cores} cores" if load else ""))
        reasons.append(f"CPU share {100 * share:.0f}% < {100 * MIN_CPU_SHARE:.0f}% ({why})")
    if crowded:
        reasons.append(f"{threads} threads > {cores} usable cores")
    return not reasons, reasons


def assess(facts: dict, spread: float | None, n: int | None = None) -> dict:
    """The fields a report's timing carries: the facts, the spread, `reliable` and `warnings`."""
    reliable, reasons = verdict(facts, spread, n)
    return {**facts, "spread": None if spread is None else round(spread, 4), "reliable": reliable,
            "warnings": reasons}
