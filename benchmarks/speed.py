"""How fast is the profiler itself? Prints, from one run, on one model (dite18 by default):

- the model's forward time (inference_mode, eval) and archlab's own counting (archlab + paper-hook
  + paper-conv in ONE forward pass, through profile_module) as a multiple of it (target <= 5);
- fvcore's and thop's analysis times, beside it, in the same units;
- one operator-timed pass (every operator timed where it runs, per module) as a multiple of a
  forward pass (target <= 3);
- a full CPU profile with default settings (counts under every convention, per-module latency and
  memory), whose target is < 60 s on a 2-core machine.

    python benchmarks/speed.py [--model dite18] [--threads N] [--repeat 5]

Timings interleave the contenders (forward, count, forward, count, ...) so that a busy machine
slows them alike; the ratio uses medians. The first call of the process (torch's dispatch-mode
machinery imports on first use) is reported separately as 'cold'.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

import archlab.models as models
from archlab.profile import profile_module
from archlab.profile.count.external import run_fvcore, run_thop
from archlab.profile.core.inputs import Inputs
from archlab.profile.core.hooks import ModuleTable
from archlab.profile.core.recorder import recording
from archlab.profile.timing.operators import OpClock

OWN = ("archlab", "paper-hook", "paper-conv")


def clock(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="dite18")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-full", action="store_true", help="skip the full profile")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    model = models.build(args.model).eval()
    size = models.get_spec(args.model).input_size
    x = torch.randn(1, *size)

    def forward():
        with torch.inference_mode():
            model(x)

    def count():
        profile_module(model, size, conventions=OWN, latency=False, memory=False)

    table = ModuleTable(model)
    op_clock = OpClock(table)

    def timed_pass():
        with torch.inference_mode(), recording(op_clock):
            model(x)

    cold = clock(count)
    forward()
    timed_pass()
    fwd, cnt, tim = [], [], []
    for _ in range(args.repeat):
        fwd.append(clock(forward))
        cnt.append(clock(count))
        tim.append(clock(timed_pass))
    f_med, c_med, t_med = statistics.median(fwd), statistics.median(cnt), statistics.median(tim)
    fv = clock(lambda: run_fvcore(model, Inputs((x,), {}), table))
    th = clock(lambda: run_thop(model, Inputs((x,), {}), table))
    out = {"model": args.model, "threads": torch.get_num_threads(), "forward_s": f_med,
           "count_s": c_med, "count_ratio": c_med / f_med, "count_cold_s": cold,
           "timed_pass_s": t_med, "timed_pass_ratio": t_med / f_med,
           "fvcore_s": fv, "fvcore_ratio": fv / f_med, "thop_s": th, "thop_ratio": th / f_med}
    print(f"{args.model} at 1x{'x'.join(map(str, size))}, {out['threads']} threads, "
          f"median of {args.repeat}")
    print(f"  forward                          {f_med * 1e3:9.1f} ms")
    print(f"  archlab+paper-hook+paper-conv    {c_med * 1e3:9.1f} ms  = {c_med / f_med:5.2f} "
          f"forward passes (target <= 5; cold first call {cold:.2f} s)")
    print(f"  one operator-timed pass          {t_med * 1e3:9.1f} ms  = {t_med / f_med:5.2f} "
          "forward passes (target <= 3)")
    print(f"  fvcore FlopCountAnalysis         {fv * 1e3:9.1f} ms  = {fv / f_med:5.1f} forward "
          "passes")
    print(f"  thop.profile (on a deep copy)    {th * 1e3:9.1f} ms  = {th / f_med:5.1f} forward "
          "passes")
    if not args.no_full:
        full = clock(lambda: profile_module(model, size))
        out["full_profile_s"] = full
        print(f"  full CPU profile, defaults       {full:9.1f} s   (target < 60 s)")
    return out


if __name__ == "__main__":
    main()
