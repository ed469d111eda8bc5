"""Why identical layers at different positions take different times on a CPU: fresh pages.

glibc's malloc hands a large buffer (a conv's output of a few MiB) straight from mmap, or from the
top of its heap, and gives it back to the kernel when it is freed (munmap, or a trim of the heap
top). The next forward's allocation at that point of the net then writes to fresh pages, and every
4 KiB page costs a minor page fault the kernel serves by zeroing it: that time lands in the
operator that first writes the output. Which positions get fresh pages depends on the order of
allocations and frees around them, not on the layer: measured on six identical conv+BN+ReLU
blocks (batch 4, 32 channels, 64x64, 1 thread), the blocks that faulted ~2,000 pages per call took
7 ms, those that faulted 512 took 4.7 ms; with malloc told to keep its memory
(MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_ set high) none faulted and all took 3.8-3.9 ms.

That state differs from one profile to the next in the same process (the same conv read 3.6 ms
in one profile and 6.5 ms in the next), so archlab times with the allocator told to keep what is
freed (`kept_pages`: glibc's mallopt, M_MMAP_THRESHOLD 32 MiB, its maximum, and M_TRIM_THRESHOLD
1 GiB): every forward then reuses warm pages, as a long-running process with a caching allocator
does, and identical layers read alike. What fresh pages would cost is still shown: one forward
after the timed passes, under glibc's default settings, counts per module the minor page faults
its own operators took (getrusage around each operator, outside any timed window): the report's
`page_faults`. Elsewhere than glibc nothing is changed (`kept_pages` says so).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import resource
from contextlib import contextmanager
from typing import Callable

from torch.utils._python_dispatch import TorchDispatchMode

from ..core.hooks import ModuleTable
from ..core.recorder import ModuleStack, recording


def _minflt() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


class FaultCounter(ModuleStack, TorchDispatchMode):
    """Minor page faults per module (its own operators only), process-wide so that intra-op
    worker threads count too; the last slot: operators outside every module."""

    def __init__(self, table: ModuleTable):
        ModuleStack.__init__(self, table)
        TorchDispatchMode.__init__(self)
        self.faults = [0] * (len(table) + 1)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        f0 = _minflt()
        out = func(*args, **kwargs) if kwargs else func(*args)
        self.faults[self.stack[-1]] += _minflt() - f0
        return out


def count_faults(fn: Callable[[], object], table: ModuleTable, passes: int = 3) -> list[float]:
    """Per module, the median over `passes` calls of `fn` of the minor page faults its own
    operators took (the model already warm: the steady state the timed passes saw)."""
    seen = []
    for _ in range(passes):
        counter = FaultCounter(table)
        with recording(counter):
            fn()
        seen.append(counter.faults)
    return [float(sorted(col)[len(col) // 2]) for col in zip(*seen)]


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
_DEFAULT = 128 * 1024  # glibc's default for both
KEEP = {"mmap_threshold": 32 * 2**20, "trim_threshold": 2**30}  # mallopt takes a C int


def _mallopt():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.mallopt if hasattr(libc, "mallopt") and hasattr(libc, "gnu_get_libc_version") else None
    except OSError:
        return None


@contextmanager
def kept_pages(device_type: str = "cpu"):
    """Time with freed memory kept by glibc's malloc (module doc); yields what was set, a dict for
    the report's timing (None: not glibc, or not a CPU run: nothing changed). On exit glibc's
    defaults are set again (its dynamic mmap threshold, once set by hand, stays fixed)."""
    mallopt = _mallopt() if device_type == "cpu" else None
    if mallopt is None:
        yield None
        return
    ok = mallopt(_M_MMAP_THRESHOLD, KEEP["mmap_threshold"]) and mallopt(
        _M_TRIM_THRESHOLD, KEEP["trim_threshold"])
    try:
        yield dict(KEEP) if ok else None
    finally:
        mallopt(_M_MMAP_THRESHOLD, _DEFAULT)
        mallopt(_M_TRIM_THRESHOLD, _DEFAULT)
