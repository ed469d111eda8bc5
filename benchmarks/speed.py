"""How fast is the profiler itself? Prints each figure before -> after, measured in one run.

1. Counting a model (dite18 by default) under every default convention, in plain forward passes
   (inference_mode, eval, 1 thread unless --threads): before, archlab's recorder pass and then fvcore
   and thop run as tools (FlopCountAnalysis's JIT trace; thop.profile on a deep copy, the
   count/external.py path); after, the one counting pass of a profile, which runs fvcore's and
   thop's rules on what it sees (count/fvcore_rules.py, count/thop_rules.py). Target <= 6.
   Interleaved (forward, before, after, ...) so that a busy machine slows them alike; medians.
2. One operator-timed pass, in forward passes (target <= 3).
3. `archlab profile MODEL` end to end, as a user runs it (a fresh process, nothing stored), before
   (the code at --before, default the last commit before this work, checked out in a temporary git
   worktree) and after (this checkout), alternated: the wall time, the timing phase (the harness's
   own wall time, warm-up included, as report.json records it) and the rest, whose target is 4 s.
4. With --sweep: a sweep run at one thread count, then again at another: the second reuses the
   counts, so only the timing is measured; both before and after, and the builds per spec.

    python benchmarks/speed.py [--model dite18] [--threads 1] [--repeat 5] [--before REV]
                               [--cli-repeat 2] [--no-cli] [--sweep]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import archlab.models as models
from archlab.profile import profile_module
from archlab.profile.core.hooks import ModuleTable
from archlab.profile.core.inputs import Inputs
from archlab.profile.core.recorder import recording
from archlab.profile.count.conventions import RECORDER_CONVENTIONS
from archlab.profile.count.external import run_fvcore, run_thop
from archlab.profile.timing.operators import OpClock

ROOT = Path(__file__).resolve().parents[1]
BEFORE = "84945a1"  # the last commit before the counting pass ran fvcore's and thop's rules
# the `archlab` command, run from a checkout (PYTHONPATH picks which)
CLI = [sys.executable, "-c", "import sys; from archlab.cli import main; sys.exit(main(sys.argv[1:]))"]


def clock(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def counting(name: str, repeat: int) -> dict:
    model = models.build(name).eval()
    size = tuple(models.get_spec(name).input_size)
    x = torch.randn(1, *size)
    table, inputs = ModuleTable(model), Inputs((x,), {})

    def forward():
        with torch.inference_mode():
            model(x)

    def before():  # the recorder's conventions in one pass, then the two tools
        profile_module(model, size, conventions=RECORDER_CONVENTIONS, latency=False)
        run_fvcore(model, inputs, table)
        run_thop(model, inputs, table)

    def after():  # every default convention
        profile_module(model, size, latency=False)

    op_clock = OpClock(table)

    def timed_pass():
        with torch.inference_mode(), recording(op_clock):
            model(x)

    for fn in (forward, before, after, timed_pass):  # first-use costs out of the medians
        fn()
    got = {"forward": [], "before": [], "after": [], "timed": []}
    for _ in range(repeat):
        for k, fn in (("forward", forward), ("before", before), ("after", after),
                      ("timed", timed_pass)):
            got[k].append(clock(fn))
    med = {k: statistics.median(v) for k, v in got.items()}
    f = med["forward"]
    print(f"{name} at 1x{'x'.join(map(str, size))}, {torch.get_num_threads()} thread(s), "
          f"median of {repeat}; forward {f * 1e3:.1f} ms")
    print(f"  counting, every default convention: {med['before'] / f:5.1f} -> "
          f"{med['after'] / f:4.1f} forward passes (x{med['before'] / med['after']:.1f} faster; "
          "target <= 6)")
    print(f"  one operator-timed pass:            {med['timed'] / f:5.2f} forward passes "
          "(target <= 3)")
    return {"forward_s": f, "count_before_fw": med["before"] / f, "count_after_fw": med["after"] / f,
            "timed_pass_fw": med["timed"] / f}


def _checkout(rev: str, where: Path) -> Path:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--force", str(where),
                    rev], check=True, capture_output=True)
    return where


def _profile_cli(code: Path, name: str, work: Path, threads: int | None) -> dict:
    """`archlab profile NAME` in a fresh process on the code at `code`, nothing stored."""
    out, store = work / "out", work / "store"
    args = [*CLI, "profile", name, "--out", str(out), "--store",
            str(store), "--replace", "--fresh"] + (["--threads", str(threads)] if threads else [])
    env = {**os.environ, "PYTHONPATH": str(code)}
    t0 = time.perf_counter()
    done = subprocess.run(args, cwd=code, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode not in (0, 1):
        raise SystemExit(f"{code}: archlab profile failed: {done.stderr.strip().splitlines()[-1]}")
    timing = json.loads((out / "report.json").read_text())["timing"]
    return {"wall_s": wall, "timing_s": timing.get("wall_s") or 0.0}


def end_to_end(name: str, before_rev: str, repeat: int, threads: int | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        old = _checkout(before_rev, tmp / "before")
        try:
            runs = {"before": [], "after": []}
            for i in range(repeat):
                for which, code in (("before", old), ("after", ROOT)):
                    runs[which].append(_profile_cli(code, name, tmp / f"{which}{i}", threads))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)],
                           capture_output=True)
    med = {w: {k: statistics.median(r[k] for r in rs) for k in ("wall_s", "timing_s")}
           for w, rs in runs.items()}
    rest = {w: m["wall_s"] - m["timing_s"] for w, m in med.items()}
    print(f"`archlab profile {name}` end to end, fresh process, median of {repeat} "
          f"(before = {before_rev}):")
    for w in ("before", "after"):
        print(f"  {w:6s} {med[w]['wall_s']:5.1f} s = timing {med[w]['timing_s']:4.1f} s + the rest "
              f"{rest[w]:4.1f} s")
    print(f"  the rest: {rest['before']:.1f} -> {rest['after']:.1f} s (x{rest['before'] / rest['after']:.1f}; "
          f"target <= 4 s); end to end x{med['before']['wall_s'] / med['after']['wall_s']:.1f}")
    return {"before": med["before"], "after": med["after"], "rest_before_s": rest["before"],
            "rest_after_s": rest["after"]}


SWEEP = ["sweep", "dite18", "--grid", "context=dcm,crw", "--input", "128x96,64x64",
         "--budget", "0.5", "--no-progress"]


def _sweep_cli(code: Path, work: Path, threads: int) -> float:
    args = [*CLI, *SWEEP, "--threads", str(threads), "--out",
            str(work / f"sweep{threads}"), "--store", str(work / "store")]
    env = {**os.environ, "PYTHONPATH": str(code)}
    t0 = time.perf_counter()
    subprocess.run(args, cwd=code, env=env, capture_output=True, text=True, check=False)
    return time.perf_counter() - t0


def sweep_reuse(before_rev: str) -> dict:
    """The same sweep at 1 thread, then at 2: the second's time before and after."""
    family = type(models.get_spec("dite18"))  # each family's spec class builds its models
    builds: dict = {}
    real = family.build

    def counted(spec):
        builds[spec.name] = builds.get(spec.name, 0) + 1
        return real(spec)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        old = _checkout(before_rev, tmp / "before")
        try:
            got = {}
            for which, code in (("before", old), ("after", ROOT)):
                _sweep_cli(code, tmp / which, 1)
                got[which] = _sweep_cli(code, tmp / which, 2)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)],
                           capture_output=True)
        from archlab import study

        family.build = counted
        try:
            study.sweep("dite18", ["context=dcm,crw"], tmp / "in-process", inputs="128x96,64x64",
                        budget_s=0.5, store=tmp / "store2", progress=False, log=lambda m: None)
        finally:
            family.build = real
    print(f"a sweep again at another thread count ({' '.join(SWEEP[1:7])}): "
          f"{got['before']:.1f} -> {got['after']:.1f} s (x{got['before'] / got['after']:.1f}); "
          f"builds per spec (planning and measuring): {builds}")
    return {"again_before_s": got["before"], "again_after_s": got["after"], "builds": builds}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="dite18")
    ap.add_argument("--threads", type=int, default=1, help="for counting (default 1)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--before", default=BEFORE, help="the revision the 'before' runs use")
    ap.add_argument("--cli-repeat", type=int, default=2)
    ap.add_argument("--cli-threads", type=int, default=None, help="default: torch's")
    ap.add_argument("--no-cli", action="store_true", help="skip the end-to-end runs")
    ap.add_argument("--sweep", action="store_true", help="also the sweep's reuse")
    args = ap.parse_args(argv)
    before_threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    out = {"counting": counting(args.model, args.repeat)}
    torch.set_num_threads(before_threads)
    if not args.no_cli:
        out["end_to_end"] = end_to_end(args.model, args.before, args.cli_repeat, args.cli_threads)
    if args.sweep:
        out["sweep"] = sweep_reuse(args.before)
    return out


if __name__ == "__main__":
    main()
