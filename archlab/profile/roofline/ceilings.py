"""The machine's ceilings, measured once per device and cached: the peak multiply-add rate (a large
matmul at the profile's thread count and dtype), the memory bandwidth (a large copy) and the
per-operator floor (a trivial operator through the dispatcher). The roofline of a module
(bound.py) is drawn against these, as Williams, Waterman & Patterson's roofline model (CACM 2009)
draws a kernel against its machine's, with the operator floor added because on a CPU at batch 1
many of these designs' modules are made of operators too small to reach either roof.

Measured numbers, not spec-sheet ones: the roofs a module can be held against are the ones torch
itself reaches on this machine, at this thread count and dtype. The bytes of the copy are counted
as every operator's are (moved.py: input + output), so bandwidth and bytes_moved share a
convention. Cached on disk under archlab's cache folder (common.cache_dir()/machine/), keyed by the
device fingerprint, and in memory for the process.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import time

import torch

from ...common import cache_dir, write_atomic
from ..core.env import _cpu_name
from ..timing.reliability import usable_cores

METHOD = 2  # bump when the measurement changes: cached ceilings of another method are not reused
_MEMO: dict[str, dict] = {}
_BUDGET_S = 0.25  # per ceiling: repeat while this lasts (at least MIN_REPS), keep the best
MIN_REPS = 3


def fingerprint(device: torch.device, threads: int, dtype: torch.dtype) -> dict:
    """What the ceilings depend on: the device and its name, the cores torch may use, the thread
    count, the dtype and the torch build (its matmul library)."""
    cuda = device.type == "cuda"
    return {"device": device.type,
            "name": torch.cuda.get_device_name(device) if cuda else _cpu_name(),
            "cores": usable_cores(),
            "threads": int(threads), "dtype": fp_name(dtype),
            "torch": torch.__version__, "method": METHOD}


def machine(device: torch.device, threads: int, dtype: torch.dtype) -> dict:
    """{peak_macs_per_s, mem_bytes_per_s, op_floor_s, threads, dtype, how, measure_s, date}: from
    memory, else from the cache file, else measured (and cached)."""
    dtype = dtype if dtype.is_floating_point else torch.float32
    fp = fingerprint(device, threads, dtype)
    key = hashlib.sha256(json.dumps(fp, sort_keys=True).encode()).hexdigest()[:16]
    if key in _MEMO:
        return dict(_MEMO[key])
    path = cache_dir() / "machine" / f"{key}.json"
    got = _read(path, fp)
    if got is None:
        got = measure(device, threads, dtype)
        try:
            if "not cached" not in got["how"]:  # ceilings measured under load are not kept
                write_atomic(path, json.dumps({"fingerprint": fp, "machine": got}, indent=1))
        except OSError:  # a cache that cannot be written: measured again next process
            pass
    _MEMO[key] = got
    return dict(got)


def _read(path, fp) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("fingerprint") != fp:
        return None
    got = data.get("machine")
    ok = isinstance(got, dict) and all(isinstance(got.get(k), (int, float)) and got[k] > 0
                                       for k in ("peak_macs_per_s", "mem_bytes_per_s",
                                                 "op_floor_s"))
    return got if ok else None


def measure(device: torch.device, threads: int, dtype: torch.dtype) -> dict:
    """Measure the three ceilings now (under a second on a CPU)."""
    t0 = time.perf_counter()
    load = _load()
    cuda = device.type == "cuda"
    # two sizes, the better rate: on a busy CPU the smaller one more often runs undisturbed
    sizes = (4096, 8192) if cuda else (512, 1024)
    rate, n = max((_mm_rate(k, device, dtype), k) for k in sizes)
    # beyond every cache level: 4x the 32 MiB L3 of a server CPU, 4x the 50 MiB L2 of an H100
    nbytes = (256 if cuda else 128) * 2 ** 20
    src = torch.empty(nbytes // dtype.itemsize, device=device, dtype=dtype).fill_(1)
    dst = torch.empty_like(src)
    cp = _best(lambda: dst.copy_(src), device)
    del src, dst
    floor, calls = _floor(device)
    kind = "CUDA events" if cuda else "perf_counter"
    busy = "" if cuda or load is None or load <= usable_cores() else (
        f"; measured under load (load average {load:.1f} on {usable_cores()} cores): not cached")
    how = (f"{kind}, best of repeated runs after a warm-up: peak = the better of {sizes[0]}^3 and "
           f"{sizes[1]}^3 {fp_name(dtype)} torch.mm products (here {n}^3) at {threads} threads; "
           f"bandwidth = a copy of "
           f"{nbytes // 2 ** 20} MiB (bytes = read + written, as bytes_moved counts them); floor "
           f"= aten.add of two 1-element tensors called through the dispatcher, least mean of "
           f"blocks of {calls} calls{busy}")
    return {"peak_macs_per_s": rate, "mem_bytes_per_s": 2 * nbytes / cp,
            "op_floor_s": floor, "threads": int(threads), "dtype": fp_name(dtype), "how": how,
            "measure_s": round(time.perf_counter() - t0, 3),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def _mm_rate(n: int, device: torch.device, dtype: torch.dtype) -> float:
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    c = torch.empty(n, n, device=device, dtype=dtype)
    return n ** 3 / _best(lambda: torch.mm(a, b, out=c), device)


def _load() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def fp_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def _best(fn, device: torch.device) -> float:
    """The least seconds of one call of `fn`, after one warm-up call, over at least MIN_REPS calls
    and while _BUDGET_S lasts (the least is what load left alone)."""
    if device.type == "cuda":
        return _best_cuda(fn)
    fn()
    best, spent, reps = float("inf"), 0.0, 0
    while reps < MIN_REPS or (spent < _BUDGET_S and reps < 50):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best, spent, reps = min(best, dt), spent + dt, reps + 1
    return best


def _best_cuda(fn) -> float:
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(10):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return min(times)


def _floor(device: torch.device, calls: int = 1000, tries: int = 5) -> tuple[float, int]:
    """Seconds of the cheapest operator as the operator clock sees one (timing/operators.py calls
    each operator as an OpOverload, as here): an add of two 1-element tensors."""
    add = torch.ops.aten.add.Tensor
    a, b = torch.ones(1, device=device), torch.ones(1, device=device)
    best = float("inf")
    for _ in range(tries):
        if device.type == "cuda":  # back to back on the stream: the launch-bound rate
            torch.cuda.synchronize()
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(calls):
                add(a, b)
            end.record()
            torch.cuda.synchronize()
            best = min(best, start.elapsed_time(end) / 1e3 / calls)
        else:
            t0 = time.perf_counter()
            for _ in range(calls):
                add(a, b)
            best = min(best, (time.perf_counter() - t0) / calls)
    return best, calls
