"""Per-module operator time: every operator timed inside its own window and filed under the module
that ran it (core/recorder.py keeps the module stack), in passes run side by side with
uninstrumented calls (harness.side_by_side), so that the end-to-end median and the operators'
split of it come from the same rounds (accounting.py divides one by the other).

OpClock times each operator inside its own window — CPU: a clock read just before and just after
the operator; GPU: a CUDA event pair around it, all read after one synchronisation at the end of
the pass — and does its own bookkeeping outside the window.
"""
from __future__ import annotations

import time
from typing import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from ..core.hooks import ModuleTable
from ..core.recorder import ModuleStack, recording
from .budgets import PROFILE, Budget
from .harness import Contender, side_by_side
from .reliability import MAX_SPREAD
from .stability import se_share, stable
from .stats import spread

_clock = time.perf_counter


class OpClock(ModuleStack, TorchDispatchMode):
    """Seconds of operator time per module (exclusive: its own operators only), on the CPU."""

    def __init__(self, table: ModuleTable):
        ModuleStack.__init__(self, table)
        TorchDispatchMode.__init__(self)
        self.seconds = [0.0] * (len(table) + 1)
        self.ops = [0] * (len(table) + 1)  # operators run, per module

    def reset(self) -> None:
        self.seconds = [0.0] * len(self.seconds)
        self.ops = [0] * len(self.ops)

    def read(self) -> list[float]:
        return self.seconds

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if kwargs:
            t0 = _clock()
            out = func(*args, **kwargs)
            t1 = _clock()
        else:
            t0 = _clock()
            out = func(*args)
            t1 = _clock()
        i = self.stack[-1]
        self.seconds[i] += t1 - t0
        self.ops[i] += 1
        return out


class CudaOpClock(OpClock):
    """OpClock on a GPU: an event pair around each operator on the current stream, read after the
    pass (CUDA runs asynchronously: a host clock would time the launch, not the kernel)."""

    def __init__(self, table: ModuleTable):
        super().__init__(table)
        self.events: list = []

    def reset(self) -> None:
        super().reset()
        self.events = []

    def read(self) -> list[float]:
        """Call after torch.cuda.synchronize(): the events are complete then."""
        for i, start, end in self.events:
            self.seconds[i] += start.elapsed_time(end) / 1e3
        self.events = []
        return self.seconds

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        out = func(*args, **kwargs) if kwargs else func(*args)
        end.record()
        self.events.append((self.stack[-1], start, end))
        self.ops[self.stack[-1]] += 1
        return out


def clocks_for(parts, table: ModuleTable, device: torch.device) -> dict:
    """One operator clock per name in `parts`, of the kind the device needs."""
    make = CudaOpClock if device.type == "cuda" else OpClock
    return {p: make(table) for p in parts}


def clocked(run: Callable[[dict], object], clocks: dict) -> tuple[Contender, dict, dict]:
    """A harness contender calling `run(clocks)`, its clocks reset before and read after the timed
    window, and what its rounds fill: per part, per round, the exclusive operator seconds per call
    of every module (the last slot: outside every module); per part, operators per call."""
    per_pass: dict[str, list] = {p: [] for p in clocks}
    ops: dict[str, list] = {}

    def reset():
        for cl in clocks.values():
            cl.reset()

    def read(calls):
        for p, cl in clocks.items():
            per_pass[p].append([s / calls for s in cl.read()])
            ops[p] = [k / calls for k in cl.ops]
    return Contender(lambda: run(clocks), before=reset, after=read), per_pass, ops


def under_clock(fn: Callable[[], object]) -> Callable[[dict], None]:
    """The `traced` of time_operators that runs `fn` with the "forward" clock recording it."""
    def traced(clocks: dict) -> None:
        with recording(clocks["forward"]):
            fn()
    return traced


def clock_cost_s(table: ModuleTable, device: torch.device, calls: int = 2000,
                 tries: int = 5) -> float:
    """Seconds the operator clock adds to an operator's window, calibrated: a cheap operator (an
    add of two 1-element tensors) timed inside OpClock's window, less the same operator called
    plainly, the least of `tries` blocks of `calls` each (the least is what load left alone). The
    plain call also pays Python's call of it, which no window holds, so this underestimates
    rather than over-corrects. 0 on a GPU, where events time the device, not the host."""
    if device.type == "cuda":
        return 0.0
    a, b = torch.ones(1), torch.ones(1)
    clock = OpClock(table)
    plain = window = float("inf")
    for _ in range(tries):
        t0 = _clock()
        for _ in range(calls):
            torch.add(a, b)
        plain = min(plain, (_clock() - t0) / calls)
        clock.reset()
        with clock:
            for _ in range(calls):
                torch.add(a, b)
        window = min(window, sum(clock.seconds) / calls)
    return max(0.0, window - plain)


def time_operators(plain: Callable[[], object], table: ModuleTable, device: torch.device, *,
                   budget: Budget = PROFILE, per_module: bool = True,
                   traced: Callable[[dict], object] | None = None, parts=("forward",),
                   on_round=None) -> dict:
    """The uninstrumented call `plain` and, with `per_module`, the same work with every operator
    timed, side by side in ONE harness run (contenders "plain" and "instrumented"), so the
    end-to-end median and the operators' split of it are taken in the same rounds, under the same
    load. `traced(clocks)` runs the instrumented work with one operator clock per name in `parts`
    (default: `plain` recorded by the "forward" clock); the clocks are reset and read outside the
    timed window. Rounds run past the budget (up to budget.max_s) while the plain calls' spread
    exceeds MAX_SPREAD or, with `per_module`, until the modules' medians are stable
    (stability.stable: at least MIN_OP_PASSES passes and their standard errors summed at most 2%
    of their total). Returns {"rounds": harness.Rounds, "per_pass": {part: per round, the
    exclusive operator seconds per call of every module (the last slot: operators run outside
    every module)}, "ops": {part: operators per call of every module}, "clock_s_per_op":
    clock_cost_s, "se_share": stability.se_share of the passes}; per_pass and ops are empty
    without `per_module`."""
    clocks = clocks_for(parts, table, device) if per_module else {}
    contenders = {"plain": plain}
    per_pass: dict[str, list] = {}
    ops: dict[str, list] = {}
    if clocks:
        contenders["instrumented"], per_pass, ops = clocked(traced or under_clock(plain), clocks)

    def modules(p=per_pass):  # every part's modules side by side, one row per pass
        return [sum((p[k][i] for k in p), []) for i in range(len(next(iter(p.values()))))]

    def settled(s):  # the whole model's spread, and with per_module the modules' medians too
        return ((spread(s["plain"]) or 0.0) <= MAX_SPREAD
                and (not clocks or stable(modules())))

    rounds = side_by_side(contenders, device, **budget.kwargs(), on_round=on_round,
                          settled=settled)
    cost = clock_cost_s(table, device) if clocks else 0.0
    return {"rounds": rounds, "per_pass": per_pass, "ops": ops, "clock_s_per_op": cost,
            "se_share": se_share(modules()) if clocks else None}
