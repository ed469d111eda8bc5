"""Latency on a GPU, per module from the operators each module runs. Prints, for lite18, dite18 and
hrnet_w32 at batch 1 and 32 (256x192):

- the end-to-end median (torch.utils.benchmark, eager, and as a replayed CUDA graph where the model
  can be captured), with its IQR and whether it is reliable;
- op_ms (the sum of the operators' CUDA-event times, per module) against the end-to-end median;
- the five modules with the most self time;
- the paired ratio lite18 / hrnet_w32 (timed side by side) at each batch;
- the cudnn.benchmark and TF32 state the numbers were taken under.

    python benchmarks/gpu_check.py [--device cuda] [--models lite18,dite18,hrnet_w32]
                                   [--batches 1,32] [--input 256x192] [--json out.json]

Made to finish in under 5 minutes on one GPU: counting-only conventions are skipped (latency and
memory only), budgets are short. `--device cpu --input 64x64 --batches 1` runs the same path on a
CPU as a smoke test.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import torch

import archlab
from archlab.profile import paired_latency

TIMING = dict(conventions=("archlab",), warmup=5, budget_s=1.0, max_s=3.0, module_iters=5)


def top_self(report, n=5):
    rows = sorted((r for r in report.rows if r.self_ms), key=lambda r: -r.self_ms)[:n]
    return [(r.name or "(model)", r.type, r.self_ms) for r in rows]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--models", default="lite18,dite18,hrnet_w32")
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--input", default="256x192")
    ap.add_argument("--json", help="also write every number to this file")
    args = ap.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU here (torch.cuda.is_available() is False); "
              "use --device cpu for a smoke test", file=sys.stderr)
        return {}
    h, w = (int(v) for v in args.input.split("x"))
    size = (3, h, w)
    models = args.models.split(",")
    batches = [int(b) for b in args.batches.split(",")]
    cuda = args.device.startswith("cuda")
    out: dict = {"device": args.device, "results": [], "paired": []}
    if cuda:
        out["device_name"] = torch.cuda.get_device_name()
        out["cudnn_benchmark"] = torch.backends.cudnn.benchmark
        out["tf32"] = {"matmul": torch.backends.cuda.matmul.allow_tf32,
                       "cudnn": torch.backends.cudnn.allow_tf32}
        print(f"{out['device_name']}, torch {torch.__version__}, CUDA {torch.version.cuda}, "
              f"cudnn.benchmark {out['cudnn_benchmark']}, TF32 {out['tf32']}")
    started = time.perf_counter()
    for batch in batches:
        for name in models:
            rep = archlab.profile(name, size, batch=batch, device=args.device, memory=False,
                                  **TIMING)
            tm = rep.timing
            row = {"model": name, "batch": batch, "median_ms": tm.get("median_ms"),
                   "iqr_ms": tm.get("iqr_ms"), "op_ms": tm.get("op_ms"),
                   "overhead_ms": tm.get("overhead_ms"), "reliable": tm.get("reliable"),
                   "warnings": tm.get("warnings"), "top_self": top_self(rep)}
            if cuda:
                try:
                    graph = archlab.profile(name, size, batch=batch, device=args.device,
                                            memory=False, per_module=False, cuda_graph=True,
                                            **TIMING)
                    row["graph_median_ms"] = graph.timing.get("median_ms")
                except Exception as exc:  # a model that cannot be captured says so
                    row["graph_median_ms"] = f"not captured: {type(exc).__name__}: {exc}"
            out["results"].append(row)
            share = (100 * row["op_ms"] / row["median_ms"]) if row["op_ms"] and row["median_ms"] else None
            print(f"\n{name} batch {batch}: end to end {row['median_ms']:.3f} ms (IQR "
                  f"{row['iqr_ms']:.3f}), op_ms {row['op_ms']:.3f} ms"
                  + (f" = {share:.0f}% of it" if share is not None else "")
                  + f", overhead {row['overhead_ms']:.3f} ms, reliable {row['reliable']}"
                  + (f" ({'; '.join(row['warnings'])})" if row["warnings"] else ""))
            if "graph_median_ms" in row:
                g = row["graph_median_ms"]
                print(f"  CUDA graph replay: {g:.3f} ms" if isinstance(g, float) else f"  {g}")
            for mod, typ, ms in row["top_self"]:
                print(f"  self {ms:9.3f} ms  {mod} [{typ}]")
        if "lite18" in models and "hrnet_w32" in models:
            got = paired_latency(archlab.build("lite18"), archlab.build("hrnet_w32"), size,
                                 batch=batch, device=args.device, rounds=20, budget_s=5.0)
            out["paired"].append({"batch": batch, **{k: got[k] for k in (
                "ratio", "ratio_p10", "ratio_p90", "n", "reliable", "warnings")}})
            print(f"\npaired lite18 / hrnet_w32, batch {batch}: {got['ratio']:.3f} "
                  f"(p10 {got['ratio_p10']:.3f}, p90 {got['ratio_p90']:.3f}, n {got['n']}, "
                  f"reliable {got['reliable']})")
    out["seconds"] = time.perf_counter() - started
    print(f"\ndone in {out['seconds']:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1, default=str)
    return out


if __name__ == "__main__":
    main()
