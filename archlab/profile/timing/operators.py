"""Per-module operator time: every operator timed inside its own window and filed under the module
that ran it (core/recorder.py keeps the module stack).

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

_clock = time.perf_counter
MIN_PASSES = 3


class OpClock(ModuleStack, TorchDispatchMode):
    """Seconds of operator time per module (exclusive: its own operators only), on the CPU."""

    def __init__(self, table: ModuleTable):
        ModuleStack.__init__(self, table)
        TorchDispatchMode.__init__(self)
        self.seconds = [0.0] * (len(table) + 1)

    def reset(self) -> None:
        self.seconds = [0.0] * len(self.seconds)

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
        self.seconds[self.stack[-1]] += t1 - t0
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
        return out


def _wall(fn: Callable[[], object], device: torch.device) -> float:
    """Seconds of one call of `fn`, the device synchronised on both sides."""
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(device)
    t0 = _clock()
    fn()
    if cuda:
        torch.cuda.synchronize(device)
    return _clock() - t0


def time_operators(fn: Callable[[], object], table: ModuleTable, device: torch.device, *,
                   passes: int, budget_s: float, on_pass=None) -> dict:
    """Run `fn` under the operator clock `passes` times (fewer when the budget runs out, never
    fewer than MIN_PASSES, so that a median means something), each pass beside an uninstrumented
    call in a rotating order: the framework overhead is then the difference of times taken seconds
    apart, under the same conditions. Returns per_pass (per pass, the exclusive operator seconds of
    every module; the last slot: operators run outside every module), walls (seconds of each
    instrumented pass) and plain (seconds of each uninstrumented call). `on_pass(n)` hears each
    finished pass."""
    clock = CudaOpClock(table) if device.type == "cuda" else OpClock(table)
    out = {"per_pass": [], "walls": [], "plain": []}
    start = _clock()
    for r in range(max(passes, 1)):
        for timed in ((False, True) if r % 2 == 0 else (True, False)):
            if not timed:
                out["plain"].append(_wall(fn, device))
                continue
            clock.reset()
            with recording(clock):
                out["walls"].append(_wall(fn, device))
            out["per_pass"].append(list(clock.read()))
        if on_pass is not None:
            on_pass(r + 1)
        if r + 1 >= min(passes, MIN_PASSES) and _clock() - start > budget_s:
            break
    return out
