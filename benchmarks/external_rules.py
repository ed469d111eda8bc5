"""fvcore's and thop's conventions from archlab's counting pass against the tools themselves, on every
zoo model at its own input and at 384x288: per module, per category, per op and in total, exactly.

The test suite runs the same comparison on torch models and a few zoo models
(tests/test_external_rules.py); this runs the whole zoo (a few minutes: fvcore's trace is the slow
part). fvcore's list of skipped ops is shown when it differs: it is informative only (the trace also
records the shape arithmetic of Python code, e.g. aten::mul on sizes, which no run-time call shows).

    python benchmarks/external_rules.py [--models lite18,dite18] [--inputs 256x192,384x288]

Exits 1 when a count differs.
"""
from __future__ import annotations

import argparse
import sys
import time

import torch

import archlab.models as models
from archlab.profile.core.hooks import ModuleTable
from archlab.profile.core.inputs import Inputs
from archlab.profile.count.conventions import DEFAULT_CONVENTIONS
from archlab.profile.count.external import run_fvcore, run_thop
from archlab.profile.passes import _from_pass, count_pass

FIELDS = ("total", "per_module", "categories", "sources")


class _Run:
    def fail(self, phase, exc, *a, **k):
        raise exc


def differences(model, x) -> tuple[list[str], str]:
    model.eval()
    table, inputs = ModuleTable(model), Inputs((x,), {})
    t0 = time.perf_counter()
    rec = count_pass(model, inputs, table, _Run(), False, lambda *a, **k: None, DEFAULT_CONVENTIONS)
    took = time.perf_counter() - t0
    found, info = [], ""
    for tool, run in (("fvcore", run_fvcore), ("thop", run_thop)):
        mine, theirs = _from_pass(tool, rec, table), run(model, inputs, table)
        if mine is None:
            found.append(f"{tool}: the pass gave way to the tool ({rec.fvcore.doubt})")
            continue
        for field in FIELDS:
            a, b = getattr(mine, field), getattr(theirs, field)
            if a != b:
                found.append(f"{tool}.{field}: {a if field == 'total' else '...'} vs "
                             f"{b if field == 'total' else '...'}")
        if tool == "fvcore" and mine.skipped != theirs.skipped:
            ops = sorted(k for k in {*mine.skipped, *theirs.skipped}
                         if mine.skipped.get(k) != theirs.skipped.get(k))
            info = "skipped differs: " + ", ".join(
                f"{k} {mine.skipped.get(k, 0)} vs {theirs.skipped.get(k, 0)}" for k in ops)
    return found, f"pass {took:.2f} s" + (f"; {info}" if info else "")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=None, help="comma-separated; default: the whole zoo")
    ap.add_argument("--inputs", default="own,384x288", help="'own' and HxW, comma-separated")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    names = args.models.split(",") if args.models else models.list_models()
    bad = 0
    for name in names:
        model, own = models.build(name), tuple(models.get_spec(name).input_size)
        for text in args.inputs.split(","):
            size = own if text == "own" else (own[0], *map(int, text.split("x")))
            torch.manual_seed(0)
            found, info = differences(model, torch.randn(1, *size))
            bad += bool(found)
            print(f"{name:28s} {'x'.join(map(str, size)):10s} "
                  f"{'equal' if not found else 'DIFFERS: ' + '; '.join(found)} ({info})", flush=True)
    print(f"{bad} of {len(names) * len(args.inputs.split(','))} differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
