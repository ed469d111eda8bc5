"""Peak memory per module while it runs.

CPU: tracemalloc does not see torch's allocator, so the recorder reports every new output storage
(from the dispatch level) to `LiveBytes`, which watches it with a weakref callback and keeps the
live total. GPU: the caching allocator's own counters, reset around each module.
Both report bytes above the level at the start of the forward pass: parameters, buffers and the
input are excluded, the outputs of earlier modules still alive are included.
"""
from __future__ import annotations

import weakref

import torch


class LiveBytes:
    """Live bytes of the storages created during a forward pass, and a peak per open module."""

    def __init__(self):
        self.live = 0
        self.peak = 0
        self.frames: list[int] = []  # running peak of every module on the stack
        self._refs: dict = {}
        self._free_cb = self._free

    def alloc(self, storage, nbytes: int) -> None:
        ref = weakref.ref(storage, self._free_cb)
        if ref in self._refs:  # the same storage reported twice
            return
        self._refs[ref] = nbytes
        live = self.live = self.live + nbytes
        if live > self.peak:
            self.peak = live
        if self.frames and live > self.frames[-1]:
            self.frames[-1] = live

    def _free(self, ref) -> None:
        self.live -= self._refs.pop(ref, 0)

    def enter(self) -> None:
        self.frames.append(self.live)

    def exit(self) -> int:
        p = self.frames.pop()
        if self.frames and p > self.frames[-1]:
            self.frames[-1] = p
        return p

    def close(self) -> None:
        """Forget the storages still alive (the model's outputs): no callback outlives the pass."""
        self._refs.clear()


class CudaPeaks:
    """Per-module peak from the caching allocator: the peak counter is reset when a module starts;
    the parent's running peak is saved first and merged back when the child ends."""

    def __init__(self, device: torch.device):
        self.device = device
        self.frames: list[int] = []
        self.baseline = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        self.peak = 0

    def enter(self) -> None:
        dev = self.device
        if self.frames:
            self.frames[-1] = max(self.frames[-1], torch.cuda.max_memory_allocated(dev))
        torch.cuda.reset_peak_memory_stats(dev)
        self.frames.append(torch.cuda.memory_allocated(dev))

    def exit(self) -> int:
        p = max(self.frames.pop(), torch.cuda.max_memory_allocated(self.device))
        if self.frames:
            self.frames[-1] = max(self.frames[-1], p)
        self.peak = max(self.peak, p - self.baseline)
        return p - self.baseline

    def close(self) -> None:
        pass
