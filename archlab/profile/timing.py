"""Latency: the whole model uninstrumented, then every module inclusively through hooks.

Whole model: warm-up, then timed iterations until `iters` or the time budget (at least MIN_ITERS),
reported as median, p10, p90, IQR and n. CPU times come from perf_counter; GPU times from CUDA
events, synchronised after each iteration.
Per module: perf_counter in forward hooks (CPU), or CUDA events recorded in hooks and read after
one synchronisation at the end of the pass (GPU). A module called several times in one forward
reports the sum of its calls. Hooks cost time themselves: the engine reports the instrumented
minus the uninstrumented end-to-end time as the hook overhead.
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


def time_forward(fn: Callable[[], object], device: torch.device, *, warmup: int, iters: int,
                 budget_s: float) -> list[float]:
    """Milliseconds of `iters` calls of fn (fewer when the budget runs out, never < MIN_ITERS)."""
    for _ in range(warmup):
        fn()
    _sync(device)
    samples: list[float] = []
    start = time.perf_counter()
    cuda = device.type == "cuda"
    while len(samples) < max(iters, 1):
        if cuda:
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            b.synchronize()
            samples.append(a.elapsed_time(b))
        else:
            t0 = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - t0) * 1e3)
        if time.perf_counter() - start > budget_s and len(samples) >= min(MIN_ITERS, iters):
            break
    return samples


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
