"""The one side-by-side harness: every timing in archlab runs through `side_by_side` (the whole
model beside its operator-timed calls, model vs base, runtime vs eager, layout vs layout, the
training step), so rotated order, warm-up, blocks, budget and minimum rounds are written once.

Why side by side: timing each contender on its own and comparing medians taken minutes apart lets
whatever else runs on the machine decide the comparison (a process that starts halfway through
makes the later contender look slower). Here every round runs every contender once, in an order
rotated from round to round (AB, BA, AB, ... for two), so load that comes and goes lands on all
contenders alike, and round i of one contender can be divided by round i of another.

Why blocks: a call shorter than `min_sample_s` is timed as a block of calls (the block's time
divided by its length), as torch.utils.benchmark does, so that the clock's own resolution and cost
stay small against what is timed. On a GPU a CUDA event pair brackets each block and is read after
the block's end event completes (CUDA runs asynchronously: a host clock would time launches).
"""
from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable

import torch

from ..core.env import gc_paused
from .reliability import MIN_SAMPLES, Watch

MIN_ROUNDS = MIN_SAMPLES  # a run stopped by its budget still has enough rounds for a verdict
MAX_BLOCK = 10_000  # calls per sample, at most


@dataclass(frozen=True)
class Contender:
    """A call to time, and work that must stay outside the timed window: `before()` just before
    each timed block (and each warm-up call), `after(calls)` just after a timed block of `calls`
    calls, the device synchronised (an operator clock is reset and read there)."""
    call: Callable[[], object]
    before: Callable[[], None] | None = None
    after: Callable[[int], None] | None = None


@dataclass
class Rounds:
    """What one side-by-side run measured: `samples[name]` is milliseconds per call, one sample per
    round, in round order (equal lengths for every contender); `watch` is what reliability.Watch
    saw over the warm-up and the rounds; `method` says how (warm-up, rounds, budget, order)."""
    samples: dict[str, list[float]]
    watch: dict
    number: int
    warmup_calls: int
    method: dict


def rotated(names: list[str], round_index: int) -> list[str]:
    """The running order of one round: the list rotated by the round number, so each contender
    goes first, second, ... equally often (two contenders: AB, BA, AB, ...)."""
    k = round_index % len(names)
    return names[k:] + names[:k]


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


def _block_timer(device: torch.device) -> Callable[[Callable[[], object], int], float]:
    """fn, calls -> milliseconds per call of a block of `calls` calls of fn."""
    if device.type == "cuda":
        def cuda_block(fn, calls):
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(calls):
                fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / calls
        return cuda_block

    def cpu_block(fn, calls):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        return (time.perf_counter() - t0) * 1e3 / calls
    return cpu_block


def side_by_side(contenders: dict[str, Callable[[], object] | Contender], device: torch.device, *,
                 warmup: int = 2, warmup_s: float = 0.0, min_rounds: int = MIN_ROUNDS,
                 max_rounds: int = 15, budget_s: float = 4.0, max_s: float | None = None,
                 min_sample_s: float = 0.0,
                 settled: Callable[[dict[str, list[float]]], bool] | None = None,
                 on_round: Callable[[int, float], None] | None = None) -> Rounds:
    """Milliseconds per call of every contender (a callable or a Contender), in rotated rounds.

    Warm-up: rounds of one call per contender, at least `warmup` rounds and `warmup_s` seconds; the
    fastest warm-up call sets the block length (calls per sample, so a sample lasts at least
    `min_sample_s`; 1 when it is 0 or there is no warm-up). Then rounds of one timed block per contender, until
    `max_rounds`, or once `budget_s` has passed and `settled(samples)` holds (always, when None),
    or at `max_s` (default budget_s) whatever holds; never fewer than `min_rounds` (or max_rounds
    when that is smaller). `on_round(rounds_done, seconds)` hears each finished round. `device`
    is a torch.device (a CUDA one is made current, so the events time its stream); the GC is
    paused and reliability.Watch watches the whole run."""
    if not contenders:
        raise ValueError("side_by_side needs at least one contender")
    max_s = budget_s if max_s is None else max_s
    if max_rounds < 1 or min_rounds < 1 or warmup < 0 or warmup_s < 0 or not 0 < budget_s <= max_s:
        raise ValueError(f"need max_rounds >= 1, min_rounds >= 1, warmup >= 0, warmup_s >= 0, "
                         f"0 < budget_s <= max_s; got {max_rounds}, {min_rounds}, {warmup}, "
                         f"{warmup_s}, {budget_s}, {max_s}")
    entries = {n: c if isinstance(c, Contender) else Contender(c) for n, c in contenders.items()}
    names, block = list(entries), _block_timer(device)
    least = min(min_rounds, max_rounds)
    samples: dict[str, list[float]] = {n: [] for n in names}
    on_device = torch.cuda.device(device) if device.type == "cuda" else nullcontext()
    with on_device, gc_paused(), Watch(torch.get_num_threads(), cpu=device.type == "cpu") as seen:
        fastest, warm, start = math.inf, 0, time.perf_counter()
        while warm < warmup or time.perf_counter() - start < warmup_s:
            for name in rotated(names, warm):
                c = entries[name]
                if c.before is not None:
                    c.before()
                fastest = min(fastest, block(c.call, 1))
            warm += 1
        number = 1
        if min_sample_s > 0 and math.isfinite(fastest) and fastest > 0:
            number = max(1, min(MAX_BLOCK, math.ceil(1e3 * min_sample_s / fastest)))
        start = time.perf_counter()
        for r in range(max_rounds):
            for name in rotated(names, r):
                c = entries[name]
                if c.before is not None:
                    c.before()
                samples[name].append(block(c.call, number))
                if c.after is not None:
                    c.after(number)
            elapsed = time.perf_counter() - start
            if on_round is not None:
                on_round(r + 1, elapsed)
            if r + 1 >= least and (elapsed >= max_s or (
                    elapsed >= budget_s and (settled is None or settled(samples)))):
                break
    method = {"warmup_rounds": warm, "warmup_s": warmup_s, "min_rounds": least,
              "max_rounds": max_rounds, "budget_s": budget_s, "max_s": max_s,
              "number_per_run": number, "rounds": len(samples[names[0]]),
              "order": "rotated each round"}
    return Rounds(samples, seen.facts, number, warm, method)
