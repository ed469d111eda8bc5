"""Latency: the whole model uninstrumented, then every module inclusively through hooks.

Whole model: warm-up, then timed iterations until `iters` or the time budget (at least MIN_ITERS),
reported as median, p10, p90, IQR and n (time_side_by_side with one contender). CPU times come from perf_counter; GPU times from CUDA
events, synchronised after each iteration.
Per module: perf_counter in forward hooks (CPU), or CUDA events recorded in hooks and read after
one synchronisation at the end of the pass (GPU). A module called several times in one forward
reports the sum of its calls. Hooks cost time themselves: the engine reports the instrumented
minus the uninstrumented end-to-end time as the hook overhead.
Side by side: several models timed in interleaved rounds (the running order rotates from round to
round), so a comparison divides times taken seconds apart, under the same load, not minutes apart.
"""
from __future__ import annotations

import time
from typing import Callable

import torch

from .hooks import ModuleTable, module_hooks

MIN_ITERS = 3


def quantile(sorted_xs: list[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default)."""
    if not sorted_xs:
        return float("nan")
    pos = (len(sorted_xs) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


def summarize(samples_ms: list[float]) -> dict:
    xs = sorted(samples_ms)
    return {"median_ms": quantile(xs, 0.5), "p10_ms": quantile(xs, 0.1),
            "p90_ms": quantile(xs, 0.9), "iqr_ms": quantile(xs, 0.75) - quantile(xs, 0.25),
            "n": len(xs)}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_modules(fn: Callable[[], object], table: ModuleTable, device: torch.device, *,
                 iters: int, budget_s: float) -> tuple[list, list[float]]:
    """Inclusive ms per module (median over iterations; None when never called) and the
    instrumented end-to-end ms of every iteration."""
    n = len(table)
    acc = [0.0] * n
    seen = [False] * n
    starts: list = []
    pairs: list = []
    cuda = device.type == "cuda"
    clock = time.perf_counter

    if cuda:
        def pre(i):
            def hook(module, args):
                ev = torch.cuda.Event(enable_timing=True)
                ev.record()
                starts.append(ev)
            return hook

        def post(i):
            def hook(module, args, out):
                ev = torch.cuda.Event(enable_timing=True)
                ev.record()
                pairs.append((i, starts.pop(), ev))
            return hook
    else:
        def pre(i):
            def hook(module, args):
                starts.append(clock())
            return hook

        def post(i):
            def hook(module, args, out):
                acc[i] += clock() - starts.pop()
                seen[i] = True
            return hook

    per_iter: list[list[float]] = []
    e2e: list[float] = []
    with module_hooks(table, pre, post):
        start = clock()
        while len(e2e) < max(iters, 1):
            acc[:] = [0.0] * n
            starts.clear()
            pairs.clear()
            _sync(device)
            t0 = clock()
            fn()
            _sync(device)
            e2e.append((clock() - t0) * 1e3)
            if cuda:
                for i, a, b in pairs:  # one synchronisation above, then read every event
                    acc[i] += a.elapsed_time(b) / 1e3
                    seen[i] = True
            per_iter.append(list(acc))
            if clock() - start > budget_s and len(e2e) >= min(MIN_ITERS, iters):
                break
    medians = []
    for i in range(n):
        if not seen[i]:
            medians.append(None)
            continue
        xs = sorted(it[i] * 1e3 for it in per_iter)
        medians.append(quantile(xs, 0.5))
    return medians, e2e


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
    p10, p90 and n, plus each contender's median over the same rounds."""
    if len(model_ms) != len(base_ms):
        raise ValueError(f"paired samples must come from the same rounds; got {len(model_ms)} "
                         f"and {len(base_ms)} samples")
    ratios = sorted(m / b for m, b in zip(model_ms, base_ms) if b > 0)
    if not ratios:
        raise ValueError("no paired rounds with a positive base time")
    return {"ratio": quantile(ratios, 0.5), "ratio_p10": quantile(ratios, 0.1),
            "ratio_p90": quantile(ratios, 0.9), "n": len(ratios),
            "model_ms": quantile(sorted(model_ms), 0.5), "base_ms": quantile(sorted(base_ms), 0.5)}
