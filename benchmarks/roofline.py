"""What the roofline costs, and are its ceilings believable? Prints, from one run:

- the ceilings measured on this machine (archlab.profile.roofline.ceilings) at --threads, fp32:
  peak MAC rate, memory bandwidth, operator floor, and how long measuring them took (target <= 2 s,
  once per device: then read from the cache, as the next two lines show);
- what that adds to a first profile: the ceilings' lookup with nothing cached, from the cache file
  (a new process) and from memory; and the counting pass with and without the bytes-moved mode
  (moved.Traffic) beside it, the least of interleaved runs;
- numpy's matmul rate on the same 1024x1024 fp32 product at the same thread count (OpenBLAS, a
  known tool), measured in the same run, as a check of the peak.

    python benchmarks/roofline.py [--model lite18] [--input 3x128x96] [--threads 2] [--repeat 5]
"""
from __future__ import annotations

import argparse
import os
import sys

_args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
_args.add_argument("--model", default="lite18")
_args.add_argument("--input", default="3x128x96")
_args.add_argument("--threads", type=int, default=os.cpu_count() or 1)
_args.add_argument("--repeat", type=int, default=5)
ARGS = _args.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
# numpy's BLAS reads its thread count when it loads: set it before anything imports numpy
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(ARGS.threads))
os.environ.setdefault("OMP_NUM_THREADS", str(ARGS.threads))

import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import archlab  # noqa: E402
from archlab.profile import passes  # noqa: E402
from archlab.profile.core.recorder import recording  # noqa: E402
from archlab.profile.roofline import ceilings  # noqa: E402


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def numpy_rate(n: int = 1024, reps: int = 10) -> float:
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    a @ a
    return n ** 3 / min(timed(lambda: a @ a) for _ in range(reps))


def main() -> None:
    torch.set_num_threads(ARGS.threads)
    cpu, f32 = torch.device("cpu"), torch.float32
    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="archlab-roofline-")  # nothing cached
    ceilings._MEMO.clear()
    miss = timed(lambda: ceilings.machine(cpu, ARGS.threads, f32))
    ceilings._MEMO.clear()  # as a new process would: from the cache file
    from_file = timed(lambda: ceilings.machine(cpu, ARGS.threads, f32))
    from_memory = timed(lambda: ceilings.machine(cpu, ARGS.threads, f32))
    m = ceilings.machine(cpu, ARGS.threads, f32)
    np_rate = numpy_rate()

    size = tuple(int(v) for v in ARGS.input.split("x"))
    model = archlab.build(ARGS.model)

    def count():
        archlab.profile(model, size, conventions=("archlab",), latency=False, memory=False,
                        threads=ARGS.threads)
    count()  # warm: torch's dispatch-mode machinery imports on first use
    with_traffic, without = [], []
    for _ in range(ARGS.repeat):  # interleaved, so load on the machine hits both alike
        with_traffic.append(timed(count))
        passes.recording_traffic, kept = recording, passes.recording_traffic
        try:
            without.append(timed(count))
        finally:
            passes.recording_traffic = kept

    print(f"machine: {m['how']}")
    print(f"  peak      {m['peak_macs_per_s'] / 1e9:8.1f} GMAC/s  (torch.mm, {ARGS.threads} threads)")
    print(f"  numpy     {np_rate / 1e9:8.1f} GMAC/s  (numpy @ on the same 1024x1024 fp32 product, "
          f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}): torch/numpy = "
          f"{m['peak_macs_per_s'] / np_rate:.2f}")
    print(f"  bandwidth {m['mem_bytes_per_s'] / 1e9:8.1f} GB/s    (a 128 MiB copy, read + written)")
    print(f"  floor     {1e6 * m['op_floor_s']:8.2f} us      (aten.add of 1-element tensors)")
    again = ("measured again: under load they are not cached" if "not cached" in m["how"]
             else "from the cache file")
    print(f"ceilings measured in {miss:.2f} s (target <= 2 s, once per device); then "
          f"{1e3 * from_file:.1f} ms in a new process ({again}), {1e6 * from_memory:.0f} us from "
          "memory")
    w, wo = min(with_traffic), min(without)  # the least is what load left alone
    print(f"counting pass of {ARGS.model} at {ARGS.input}: {w:.2f} s with bytes moved, {wo:.2f} s "
          f"without (x{w / wo:.2f}; least of {ARGS.repeat} interleaved runs; medians "
          f"{statistics.median(with_traffic):.2f} s and {statistics.median(without):.2f} s)")
    print(f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"a first profile pays {miss + w - wo:.2f} s for the roofline, a later one "
          f"{from_memory + w - wo:.2f} s")


if __name__ == "__main__":
    main()
