"""The dispatch-level recorder: every ATen operator seen where it runs and attributed to the innermost
module running, as counts (counting.py) or as time (OpClock, here).

Forward pre/post hooks keep a stack of the modules whose forward is running; a TorchDispatchMode sees
every operator and files it under the top of that stack. So a container that runs no operator of
its own costs nothing, functional calls land in the module that made them, and what no operator
accounts for (Python between operators, dispatch, hooks) is left outside every module.

OpClock times each operator inside its own window — CPU: a clock read just before and just after
the operator; GPU: a CUDA event pair around it, all read after one synchronisation at the end of
the pass — and does its own bookkeeping outside the window.
"""
from __future__ import annotations

import time
from typing import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from .hooks import ModuleTable, module_hooks

_clock = time.perf_counter
MIN_PASSES = 3


class ModuleStack:
    """stack[-1] is the table index of the innermost module running; the extra last slot (index
    len(table)) stands for "outside every module"."""

    def __init__(self, table: ModuleTable):
        self.table = table
        self.outside = len(table)
        self.stack = [self.outside]
        self.calls = [0] * (len(table) + 1)  # forward calls per module

    def pre_hook(self, i: int):
        stack, calls = self.stack, self.calls

        def pre(module, args):
            stack.append(i)
            calls[i] += 1
        return pre

    def post_hook(self, i: int):
        stack = self.stack

        def post(module, args, out):
            while len(stack) > 1 and stack.pop() != i:  # a child that raised and was caught
                pass
        return post


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


class _Warm(TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))


_warmed = []


def _warm_up() -> None:
    """torch imports and builds its dispatch-mode machinery on first use; when that happens inside
    the measured forward (GC paused), the import's caught exceptions keep frames, and the tensors
    in them, alive: the first profile of a process would report a higher peak. Do it up front."""
    if not _warmed:
        with _Warm():
            torch.ones(1) + 1
        _warmed.append(True)


class recording:
    """Context manager: the recorder's hooks on every module and its dispatch mode, both removed on
    exit. `recorder` is a ModuleStack that is also a TorchDispatchMode."""

    def __init__(self, recorder):
        _warm_up()
        self.recorder = recorder
        self._hooks = module_hooks(recorder.table, recorder.pre_hook, recorder.post_hook)

    def __enter__(self):
        self._hooks.__enter__()
        try:
            self.recorder.__enter__()
        except BaseException:
            self._hooks.__exit__(None, None, None)
            raise
        return self.recorder

    def __exit__(self, *exc):
        try:
            self.recorder.__exit__(*exc)
        finally:
            self._hooks.__exit__(*exc)
            close = getattr(self.recorder, "close", None)
            if close is not None:
                close()
        return False


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
