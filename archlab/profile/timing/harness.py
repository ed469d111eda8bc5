"""Whole-model latency, uninstrumented, and models timed side by side.

Whole model: torch.utils.benchmark.Timer. After a warm-up (at least `warmup` calls and `warmup_s`
seconds: a GPU needs time to reach its clocks), `adaptive_autorange` times blocks of calls until the
IQR is within 10% of the median after `budget_s` seconds, or `max_s` seconds have passed. Median and
IQR come from its Measurement, p10 and p90 from its raw times (per-call averages of each block). On
a GPU the Timer synchronises the device around every block; optionally the forward is captured once
as a CUDA graph and the graph's replay is timed (no launch overhead: what a deployed graph costs).
Side by side: several models timed in interleaved rounds (the running order rotates from round to
round), so a comparison divides times taken seconds apart, under the same load, not minutes apart.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch

from .reliability import MAX_SPREAD

MIN_ITERS = 3


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def warm_up(fn: Callable[[], object], device: torch.device, *, calls: int, seconds: float) -> int:
    """Call `fn` at least `calls` times and for at least `seconds`; returns the number of calls."""
    n, start = 0, time.perf_counter()
    while n < calls or time.perf_counter() - start < seconds:
        fn()
        n += 1
    _sync(device)
    return n


def cuda_graph(fn: Callable[[], object], device: torch.device) -> Callable[[], object]:
    """`fn` captured once as a CUDA graph (after warm-up on a side stream, as CUDA graphs require);
    returns the replay. Raises when the forward cannot be captured (host syncs, dynamic shapes)."""
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(3):
            fn()
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return graph.replay


def time_whole(fn: Callable[[], object], device: torch.device, *, threads: int, warmup: int,
               warmup_s: float, budget_s: float, max_s: float, callback=None) -> dict:
    """Latency of `fn` through torch.utils.benchmark.Timer: median, IQR, p10, p90 (ms), n blocks of
    `number` calls each. `callback(number, seconds)` hears every timed block."""
    from torch.utils.benchmark import Timer

    warmed = warm_up(fn, device, calls=warmup, seconds=warmup_s)
    timer = Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads,
                  label="archlab", description="whole model")
    m = timer.adaptive_autorange(threshold=MAX_SPREAD, min_run_time=budget_s, max_run_time=max_s,
                                 callback=callback)
    times_ms = np.asarray(m.times) * 1e3
    return {"median_ms": m.median * 1e3, "iqr_ms": m.iqr * 1e3,
            "p10_ms": float(np.percentile(times_ms, 10)), "p90_ms": float(np.percentile(times_ms, 90)),
            "n": len(m.times), "number_per_run": m.number_per_run, "warmup_calls": warmed,
            "samples_ms": [round(float(t), 6) for t in times_ms]}


# ---------------------------------------------------------------- side by side (paired)

def rotated(names: list[str], round_index: int) -> list[str]:
    """The running order of one round: the list rotated by the round number, so each contender
    goes first, second, ... equally often (two contenders: AB, BA, AB, ...)."""
    k = round_index % len(names)
    return names[k:] + names[:k]


def _time_one_call(fn: Callable[[], object], cuda: bool) -> float:
    if cuda:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end)
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def time_side_by_side(forwards: dict[str, Callable[[], object]], device: torch.device, *,
                      warmup: int = 2, rounds: int = 15,
                      budget_s: float = 4.0) -> dict[str, list[float]]:
    """Milliseconds per call of every contender, measured in interleaved rounds.

    Every contender is warmed up first (`warmup` rounds), then each round runs every contender once,
    in an order rotated from round to round, until `rounds` rounds or the time budget (never fewer
    than MIN_ITERS rounds). Load on the machine that comes and goes therefore lands on all
    contenders alike, and round i of one contender can be divided by round i of another.
    Returns name -> per-round samples (equal lengths, in round order).
    """
    if not forwards:
        raise ValueError("time_side_by_side needs at least one contender")
    if rounds < 1 or warmup < 0 or budget_s <= 0:
        raise ValueError(f"need rounds >= 1, warmup >= 0, budget_s > 0; got {rounds}, {warmup}, "
                         f"{budget_s}")
    names = list(forwards)
    cuda = device.type == "cuda"
    for r in range(warmup):
        for name in rotated(names, r):
            forwards[name]()
    _sync(device)
    samples: dict[str, list[float]] = {name: [] for name in names}
    start = time.perf_counter()
    for r in range(rounds):
        for name in rotated(names, r):
            samples[name].append(_time_one_call(forwards[name], cuda))
        if time.perf_counter() - start > budget_s and r + 1 >= min(MIN_ITERS, rounds):
            break
    return samples


def paired_ratio(model_ms: list[float], base_ms: list[float]) -> dict:
    """Per-round ratios model/base of two side-by-side sample lists, summarised: median ('ratio'),
    p10, p90, IQR and n, plus each contender's median over the same rounds."""
    if len(model_ms) != len(base_ms):
        raise ValueError(f"paired samples must come from the same rounds; got {len(model_ms)} "
                         f"and {len(base_ms)} samples")
    ratios = np.array([m / b for m, b in zip(model_ms, base_ms) if b > 0])
    if not len(ratios):
        raise ValueError("no paired rounds with a positive base time")
    p10, p25, p50, p75, p90 = np.percentile(ratios, [10, 25, 50, 75, 90])
    return {"ratio": float(p50), "ratio_p10": float(p10), "ratio_p90": float(p90),
            "ratio_iqr": float(p75 - p25), "n": len(ratios),
            "model_ms": float(np.median(model_ms)), "base_ms": float(np.median(base_ms))}
