"""Per-module times of one default profile: what it costs and how far identical blocks disagree.

Prints, from one run of a default CPU profile (dite18, 1 thread unless told otherwise):
- the profile's wall time, its operator-timed passes and the stability they reached (the modules'
  standard errors summed, in % of their total: the stopping rule wants <= 2 %);
- the deviation of repeated blocks from their group's median time (p50, p90, max, in %): blocks
  alike in type, shapes, params and MACs at different places (archlab.profile.timing.position),
  with the page faults of the slower and the faster ones.

    python benchmarks/module_times.py [--model dite18] [--threads 1]
    python benchmarks/module_times.py --report reports/dite18/report.json   # a saved profile

`--report` reads the figures off a report saved earlier (an older archlab's, say), so a before and
an after are judged by the same rule. Not a test: numbers of one run, on whatever machine it is.
"""
from __future__ import annotations

import argparse
import json
import time

from archlab.profile.timing.position import deviations
from archlab.results import load_report


def figures(report, wall_s=None) -> dict:
    tm = report.timing
    out = {"model": report.model, "threads": report.env.get("threads"),
           "profile_s": round(wall_s if wall_s is not None else tm.get("profile_s") or 0, 2),
           "median_ms": round(report.totals.get("latency_ms") or 0, 3),
           "op_passes": tm.get("op_passes"), "op_se_pct": tm.get("op_se_pct"),
           "allocator_kept": tm.get("allocator_kept")}
    for what, kw in (("blocks", {}), ("leaves_over_0.1ms", {"attr": "self_ms", "blocks": False,
                                                           "min_ms": 0.1})):
        d = deviations(report.rows, **kw)
        out[what] = None if d is None else {k: round(v, 1) if isinstance(v, float) else v
                                            for k, v in d.items()}
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="dite18")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--report", help="read a saved report.json instead of profiling")
    args = ap.parse_args(argv)
    if args.report:
        out = figures(load_report(args.report))
    else:
        import archlab

        t0 = time.perf_counter()
        report = archlab.profile(args.model, threads=args.threads)
        out = figures(report, time.perf_counter() - t0)
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
