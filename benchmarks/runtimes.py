"""What the deploy runtimes buy: prints, from one run, for lite18 and dite18 (batch 1, 1 thread by
default), every runtime's paired ratio to eager (median and p10-p90 of the per-round ratios), its
output difference from eager, its preparation time and whether its time is valid; then the best
valid runtime's speed-up over eager for dite18 against the target (at least 2x).

    python benchmarks/runtimes.py                       # the real run: each model's own input
    python benchmarks/runtimes.py --input 64x64 --rounds 5 --budget 2   # a quick end-to-end check

A cold run compiles and exports each model once (minutes each on a small CPU); inductor's cache
makes a second run's compiles faster. Use a quiet machine: the rows say when a ratio's spread or the
CPU share says it cannot be trusted.
"""
from __future__ import annotations

import argparse
import json
import time

import archlab.models as models
from archlab.profile.deploy.runtimes import COMPILE_LIMIT_S, EXPORT_LIMIT_S, RUNTIMES, profile_runtimes

TARGET_SPEEDUP = 2.0  # best runtime vs eager, dite18, batch 1, 1 thread


def _size(text: str | None, model: str) -> tuple[int, int, int]:
    if text is None:
        return tuple(models.get_spec(model).input_size)
    h, w = (int(v) for v in text.lower().split("x"))
    return (3, h, w)


def _fmt(v, spec: str, missing: str = "-") -> str:
    return missing if v is None else format(v, spec)


def print_rows(model: str, size, rows: list[dict]) -> None:
    print(f"\n{model} at 1x{'x'.join(map(str, size))}")
    print(f"  {'runtime':<12} {'ms':>9} {'ratio':>7} {'p10-p90':>13} {'max rel diff':>13} "
          f"{'prepare s':>10}  valid  reliable  note")
    for r in rows:
        spread = (f"{r['ratio_p10']:.2f}-{r['ratio_p90']:.2f}" if r["ratio_p10"] is not None
                  else "-")
        print(f"  {r['name']:<12} {_fmt(r['latency_ms'], '9.2f'):>9} "
              f"{_fmt(r['ratio_to_eager'], '6.2f'):>6}x {spread:>13} "
              f"{_fmt(r['max_rel_diff'], '.1e'):>13} {r['prepare_s']:>10.1f}  "
              f"{str(r['valid']):<5}  {str(r['reliable']):<8}  {r['note']}")
    for r in rows:
        if r["warnings"]:
            print(f"  ! {r['name']}: {'; '.join(r['warnings'])}")


def best(rows: list[dict]) -> dict | None:
    """The valid runtime other than eager with the lowest ratio to eager."""
    valid = [r for r in rows if r["valid"] and r["name"] != "eager"]
    return min(valid, key=lambda r: r["ratio_to_eager"]) if valid else None


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="lite18,dite18")
    ap.add_argument("--runtimes", default=",".join(RUNTIMES))
    ap.add_argument("--input", default=None, help="HxW (default: each model's own input size)")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--budget", type=float, default=30.0, help="seconds of timed rounds per model")
    ap.add_argument("--compile-limit", type=float, default=COMPILE_LIMIT_S)
    ap.add_argument("--export-limit", type=float, default=EXPORT_LIMIT_S)
    ap.add_argument("--json", default=None, help="also write every row to this file")
    args = ap.parse_args(argv)
    results = {}
    for name in args.models.split(","):
        size = _size(args.input, name)
        start = time.perf_counter()
        rows = profile_runtimes(models.build(name), size, args.runtimes, batch=args.batch,
                                threads=args.threads, rounds=args.rounds, budget_s=args.budget,
                                compile_limit_s=args.compile_limit,
                                export_limit_s=args.export_limit)
        print_rows(name, size, rows)
        print(f"  ({time.perf_counter() - start:.0f} s in all)")
        results[name] = rows
    if "dite18" in results:
        top = best(results["dite18"])
        if top is None:
            print("\ndite18: no runtime besides eager gave valid outputs")
        else:
            speedup = 1 / top["ratio_to_eager"]
            verdict = "met" if speedup >= TARGET_SPEEDUP else "not met"
            print(f"\ndite18: best runtime {top['name']}, {speedup:.2f}x faster than eager "
                  f"(p10-p90 {1 / top['ratio_p90']:.2f}-{1 / top['ratio_p10']:.2f}x); "
                  f"target >= {TARGET_SPEEDUP:g}x: {verdict}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=str)
    return results


if __name__ == "__main__":
    main()
